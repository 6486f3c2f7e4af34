"""Rendering the toy wardrobe: the flat product image, and the dressed person with its masks.

Everything is drawn at `SUPERSAMPLE`× the output size and box-filtered down, so edges are
anti-aliased. The garment goes onto the body part by part through the homography between the
part's garment quad and person quad, plus a smooth per-garment displacement (drape), and both
body and garment get a lighting gradient and soft shading.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..masks import VITONHD_LABELS, dilate_by_radius
from .geometry import DESIGN_H, DESIGN_W, apply_homography, fit_homography
from .garments import GarmentShape
from .parse import GARMENT_LABEL, SIDE_LABEL, ParseCanvas
from .patterns import Fabric, sample_image
from .pose import Pose, body_masks

SUPERSAMPLE = 2


def _grid(height: int, width: int):
    """Design coordinates (X, Y), each H×W, of the pixel centres of an H×W image."""
    xs = (np.arange(width) + 0.5) * (DESIGN_W / width)
    ys = (np.arange(height) + 0.5) * (DESIGN_H / height)
    return np.meshgrid(xs, ys)


def _reduce(array: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter an (fH)×(fW)[×C] array down by `factor`."""
    h, w = array.shape[0] // factor, array.shape[1] // factor
    return array.reshape(h, factor, w, factor, *array.shape[2:]).mean(axis=(1, 3))


def _blur(mask: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of a [0, 1] mask (Pillow, 8-bit)."""
    image = Image.fromarray((np.clip(mask, 0, 1) * 255).astype(np.uint8))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float64) / 255.0


def garment_alpha(shape: GarmentShape, height: int, width: int) -> np.ndarray:
    """Coverage (H×W float in [0, 1]) of the flat garment's outline polygons in garment space."""
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    sx, sy = width / DESIGN_W, height / DESIGN_H
    for polygon in shape.polygons:
        draw.polygon([(float(x) * sx, float(y) * sy) for x, y in polygon], fill=255)
    return np.asarray(image, dtype=np.float64) / 255.0


def _folds(u: np.ndarray, v: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Soft fold shading factor around 1 from a few garment-space sine waves (folds: K×4)."""
    shade = np.ones_like(u)
    for amplitude, ku, kv, phase in folds:
        shade += amplitude * np.sin(ku * u + kv * v + phase)
    return shade


def render_flat(shape: GarmentShape, fabric: Fabric, alpha_hi: np.ndarray, folds: np.ndarray,
                background: float, size: tuple[int, int]):
    """The product photo (H×W×3 uint8) on a near-white background and its true mask (H×W bool)."""
    height, width = size
    hi_h, hi_w = alpha_hi.shape
    u, v = _grid(hi_h, hi_w)
    inside = alpha_hi > 0
    colour = np.zeros((hi_h, hi_w, 3))
    colour[inside] = fabric.colour(u[inside], v[inside])
    edge = _blur(alpha_hi, 1.2 * hi_h / DESIGN_H)
    shade = _folds(u, v, folds * np.array([0.5, 1, 1, 1])) * (0.86 + 0.14 * edge)
    image = background * (1 - alpha_hi[..., None]) + colour * shade[..., None] * alpha_hi[..., None]
    image = _reduce(image, hi_h // height)
    mask = _reduce(alpha_hi, hi_h // height) >= 0.5
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), mask


def _warp_garment(shape: GarmentShape, fabric: Fabric, alpha_hi: np.ndarray, pose: Pose, folds: np.ndarray,
                  drape: np.ndarray, grid, layer: str):
    """Colour (H×W×3) and coverage (H×W) of the garment's parts of `layer` drawn on the person canvas."""
    X, Y = grid
    height, width = X.shape
    parts = [part for part in shape.parts_for(pose) if part.layer == layer]
    if not parts:
        return None, None
    colour = np.zeros((height, width, 3))
    alpha = np.zeros((height, width))
    px, py = DESIGN_W / width, DESIGN_H / height
    for part in parts:
        quad = part.person_quad
        span = quad.max(axis=0) - quad.min(axis=0)
        low = quad.min(axis=0) - 0.3 * span - 3.0
        high = quad.max(axis=0) + 0.3 * span + 3.0
        c0, c1 = int(max(low[0] / px, 0)), int(min(np.ceil(high[0] / px), width))
        r0, r1 = int(max(low[1] / py, 0)), int(min(np.ceil(high[1] / py), height))
        if c1 <= c0 or r1 <= r0:
            continue
        xs, ys = X[r0:r1, c0:c1].ravel(), Y[r0:r1, c0:c1].ravel()
        matrix = fit_homography(quad, part.garment_quad)
        u, v, valid = apply_homography(matrix, xs, ys, reference=quad.mean(axis=0))
        for amplitude, kx, ky, phase in drape:  # smooth displacement, garment units
            u = u + amplitude * np.sin(kx * xs + ky * ys + phase)
            v = v + amplitude * np.cos(ky * xs - kx * ys + phase)
        cover = sample_image(alpha_hi[..., None], u, v)[:, 0] * valid * part.region(u, v)
        keep = cover > 1e-3
        if not keep.any():
            continue
        rgb = np.zeros((xs.shape[0], 3))
        rgb[keep] = fabric.colour(u[keep], v[keep]) * _folds(u[keep], v[keep], folds)[:, None]
        rgb, cover = rgb.reshape(r1 - r0, c1 - c0, 3), cover.reshape(r1 - r0, c1 - c0)
        window_alpha = alpha[r0:r1, c0:c1]
        colour[r0:r1, c0:c1] = colour[r0:r1, c0:c1] * (1 - cover[..., None]) + rgb * cover[..., None]
        alpha[r0:r1, c0:c1] = window_alpha + cover * (1 - window_alpha)
    # colour is premultiplied by alpha: return straight colour.
    return colour / np.maximum(alpha[..., None], 1e-6), alpha


def _background(rng: np.random.Generator, grid) -> np.ndarray:
    """A plain or two-colour gradient studio background (H×W×3 in [0, 1])."""
    X, Y = grid
    first = rng.uniform(0.35, 0.95, size=3) * rng.uniform(0.7, 1.0)
    if rng.random() < 0.4:
        return np.broadcast_to(first, X.shape + (3,)).copy()
    second = np.clip(first + rng.uniform(-0.3, 0.3, size=3), 0, 1)
    angle = rng.uniform(0, 2 * np.pi)
    t = ((X / DESIGN_W - 0.5) * np.cos(angle) + (Y / DESIGN_H - 0.5) * np.sin(angle)) + 0.5
    t = np.clip(t, 0, 1)[..., None]
    return first * (1 - t) + second * t


def render_person(rng: np.random.Generator, pose: Pose, outfit: list, size: tuple[int, int]):
    """Draw the dressed person. `outfit`: [(shape, fabric, alpha_hi, folds, drape, is_primary)], lower layer first.

    Returns (image H×W×3 uint8, primary garment coverage at the supersampled size, body masks,
    parse map H×W uint8 in VITON-HD label ids: what each pixel shows, see `parse.ParseCanvas`).
    """
    height, width = size
    hi = (height * SUPERSAMPLE, width * SUPERSAMPLE)
    grid = _grid(*hi)
    X, Y = grid
    body = body_masks(pose, *hi)
    light = (rng.uniform(0.85, 1.08) + rng.uniform(-0.2, 0.2) * (X - DESIGN_W / 2) / DESIGN_W * 2
             + rng.uniform(-0.15, 0.15) * (Y - DESIGN_H / 2) / DESIGN_H * 2)[..., None]
    canvas = _background(rng, grid)
    skin = np.array(pose.skin) / 255.0
    blur = 1.5 * hi[0] / DESIGN_H
    parse = ParseCanvas(hi)
    sides = body["sides"]

    def paint(colour, alpha, parts, shaded=True):
        """Composite `colour` (RGB triple or H×W×3) over the canvas through `alpha`, lit and edge-shaded;
        the parse map gives the pixels to `parts` ([(label, mask)], see ParseCanvas.cover)."""
        parse.cover(alpha, parts)
        rows, cols = np.nonzero(alpha.any(axis=1))[0], np.nonzero(alpha.any(axis=0))[0]
        if rows.size == 0:
            return
        pad = int(3 * blur) + 1
        r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, hi[0])
        c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, hi[1])
        a = alpha[r0:r1, c0:c1]
        colour = np.asarray(colour)
        colour = colour[r0:r1, c0:c1] if colour.ndim == 3 else colour
        if shaded:
            colour = colour * (0.8 + 0.2 * _blur(a, blur))[..., None]
        lit = np.clip(colour * light[r0:r1, c0:c1], 0, 1)
        window = canvas[r0:r1, c0:c1]
        canvas[r0:r1, c0:c1] = window + (lit - window) * a[..., None]

    hair = [(VITONHD_LABELS["hair"], None)]
    paint(np.array(pose.hair) / 255.0, body["hair_back"], hair)
    paint(skin, np.maximum(np.maximum(body["legs"], body["torso"]), body["head"]),
          _side_parts(sides, "legs") + [(VITONHD_LABELS["torso_skin"], body["torso"]),
                                        (VITONHD_LABELS["face"], body["head"])])
    paint(np.array(pose.shoe) / 255.0, body["shoes"], _side_parts(sides, "shoes"))
    primary_alpha = np.zeros(hi)
    layers = []
    for shape, fabric, alpha_hi, folds, drape, is_primary in outfit:
        for layer in ("base", "sleeve"):
            colour, alpha = _warp_garment(shape, fabric, alpha_hi, pose, folds, drape, grid, layer)
            if alpha is None:
                continue
            layers.append((layer, colour, alpha, GARMENT_LABEL[shape.kind]))
            if is_primary:
                primary_alpha = np.maximum(primary_alpha, alpha)
    for layer, colour, alpha, label in layers:
        if layer == "base":
            paint(colour, alpha, [(label, None)])
    paint(skin, np.maximum(body["arms"], body["hands"]), _side_parts(sides, "arms") + _side_parts(sides, "hands"))
    for layer, colour, alpha, label in layers:
        if layer == "sleeve":
            paint(colour, alpha, [(label, None)])
    paint(np.array(pose.hair) / 255.0, body["hair"], hair)
    image = _reduce(canvas, SUPERSAMPLE)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), primary_alpha, body, parse.labels(SUPERSAMPLE)


def _side_parts(sides: dict, part: str) -> list:
    """[(label, mask)] of a body part drawn per side (arms, hands, legs, shoes), for the parse map."""
    return [(SIDE_LABEL[part][side], mask) for side, mask in sides[part].items()]


def agnostic_mask(category: str, garment_cover: np.ndarray, body: dict, size: tuple[int, int],
                  dilation: float = 0.035) -> np.ndarray:
    """The try-on inpainting mask (H×W bool): garment ∪ the body parts a new garment may cover, dilated; head kept."""
    region = garment_cover > 0.5
    torso, arms, legs = body["torso"] > 0.5, body["arms"] > 0.5, body["legs"] > 0.5
    if category in ("upper", "dress"):
        region |= torso | arms
    if category in ("lower", "dress"):
        region |= legs
        rows = np.nonzero(torso.any(axis=1))[0]
        if category == "lower" and rows.size:  # the hip band of the torso
            band = np.zeros_like(torso)
            band[int(rows[0] + 0.8 * (rows[-1] - rows[0])):] = True
            region |= torso & band
    hi_h = garment_cover.shape[0]
    region = dilate_by_radius(region, max(1, int(round(dilation * hi_h))))
    region &= ~((body["head"] > 0.5) | (body["hair"] > 0.5))
    return _reduce(region.astype(np.float64), hi_h // size[0]) >= 0.5
