"""Colours, fabric patterns and decals (lettering, prints) of the toy garments.

A pattern is a function of garment-space design coordinates (u, v), so the same garment point
has the same colour in the flat image and on the person. Decals are drawn once into an RGBA image
(garment space) and sampled with the same coordinates.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ...errors import ConfigError
from .geometry import DESIGN_H, DESIGN_W

PATTERNS = ("solid", "hstripes", "vstripes", "diagonal", "checks", "dots", "block")
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
MOTIFS = ("circle", "ring", "star", "triangle", "diamond", "band")


def random_colour(rng: np.random.Generator, max_value: float = 0.9) -> np.ndarray:
    """A garment colour (RGB in [0, 1]): mostly saturated hues, sometimes neutrals."""
    if rng.random() < 0.18:
        grey = rng.uniform(0.08, max_value)
        tint = rng.uniform(-0.05, 0.05, size=3)
        return np.clip(grey + tint, 0, 1)
    hue, sat, val = rng.random(), rng.uniform(0.35, 0.95), rng.uniform(0.3, max_value)
    return np.array(colorsys.hsv_to_rgb(hue, sat, val))


def contrasting(rng: np.random.Generator, colour: np.ndarray) -> np.ndarray:
    """A colour that stands out against `colour` (hue shift or light/dark flip)."""
    hue, sat, val = colorsys.rgb_to_hsv(*colour)
    if rng.random() < 0.5:
        return np.array(colorsys.hsv_to_rgb((hue + rng.uniform(0.25, 0.75)) % 1.0, rng.uniform(0.3, 1.0),
                                            rng.uniform(0.35, 0.95)))
    value = rng.uniform(0.82, 1.0) if val < 0.55 else rng.uniform(0.03, 0.25)
    return np.array(colorsys.hsv_to_rgb(hue, sat * rng.uniform(0.0, 0.6), value))


@dataclass
class Fabric:
    """A garment's pattern: kind, colours and sizes, plus an optional decal image."""

    kind: str
    base: np.ndarray
    accent: np.ndarray
    period: float = 8.0
    duty: float = 0.5
    phase: float = 0.0
    split: float = 60.0
    decal: np.ndarray | None = None  # (Hd, Wd, 4) float in [0, 1], garment space

    def colour(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """RGB (N×3) at garment points (u, v), decal included."""
        weight = self._accent_weight(u, v)  # (N,)
        rgb = self.base[None] * (1 - weight[:, None]) + self.accent[None] * weight[:, None]  # (N, 3)
        if self.decal is not None:
            decal = sample_image(self.decal, u, v)  # (N, 4)
            alpha = decal[:, 3:4]
            rgb = rgb * (1 - alpha) + decal[:, :3] * alpha
        return rgb

    def _accent_weight(self, u, v):
        p, d = self.period, self.duty
        if self.kind == "solid":
            return np.zeros_like(u)
        if self.kind == "hstripes":
            return (((v + self.phase) / p) % 1.0 < d).astype(np.float64)
        if self.kind == "vstripes":
            return (((u + self.phase) / p) % 1.0 < d).astype(np.float64)
        if self.kind == "diagonal":
            return (((u + v + self.phase) / p) % 1.0 < d).astype(np.float64)
        if self.kind == "checks":
            rows = ((v + self.phase) / p) % 1.0 < 0.5
            cols = ((u + self.phase) / p) % 1.0 < 0.5
            return 0.5 * rows + 0.5 * cols
        if self.kind == "dots":
            row = np.floor((v + self.phase) / p)
            du = ((u + self.phase + 0.5 * p * (row % 2)) / p) % 1.0 - 0.5
            dv = ((v + self.phase) / p) % 1.0 - 0.5
            return (du * du + dv * dv < (0.5 * d) ** 2).astype(np.float64)
        if self.kind == "block":
            return (v > self.split).astype(np.float64)
        raise ConfigError(f"unknown toy pattern kind {self.kind!r}; expected one of {PATTERNS}")


def sample_image(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear samples (N×C) of a garment-space image (H×W×C) at design coordinates (u, v); outside → 0."""
    height, width = image.shape[:2]
    x = u * (width / DESIGN_W) - 0.5
    y = v * (height / DESIGN_H) - 0.5
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    out = np.zeros((u.shape[0], image.shape[2]), dtype=np.float64)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
            values = image[np.clip(yi, 0, height - 1), np.clip(xi, 0, width - 1)] * inside[:, None]
            out += values * wx * wy
    return out


def _font(pixels: int):
    """Pillow's default font at about `pixels` height (bitmap fallback without FreeType)."""
    try:
        return ImageFont.load_default(size=max(pixels, 6))
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _decal(rng, shape, height: int, width: int, colour: np.ndarray) -> np.ndarray | None:
    """Lettering and / or a print motif on the chest, as an RGBA float image (H×W×4) in garment space."""
    lettering = rng.random() < (0.6 if shape.category != "lower" else 0.3)
    motif = rng.random() < 0.35
    if not (lettering or motif):
        return None
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    sx, sy = width / DESIGN_W, height / DESIGN_H
    fill = tuple(int(c * 255) for c in colour) + (255,)
    cx, cy = shape.chest
    if motif:
        size = rng.uniform(5, min(11, shape.chest_half_width + 2))
        kind = MOTIFS[rng.integers(len(MOTIFS))]
        mx, my = cx + rng.uniform(-2, 2), cy + (size + 3 if lettering else 0)
        box = [(mx - size) * sx, (my - size) * sy, (mx + size) * sx, (my + size) * sy]
        if kind == "circle":
            draw.ellipse(box, fill=fill)
        elif kind == "ring":
            draw.ellipse(box, outline=fill, width=max(1, int(size * sx * 0.35)))
        elif kind == "band":
            draw.rectangle([(cx - shape.chest_half_width - 6) * sx, (my - size * 0.3) * sy,
                            (cx + shape.chest_half_width + 6) * sx, (my + size * 0.3) * sy], fill=fill)
        else:
            corners = {"star": 5, "triangle": 3, "diamond": 4}[kind]
            turn = rng.uniform(0, 2 * np.pi)
            points = []
            for k in range(corners * (2 if kind == "star" else 1)):
                radius = size if (kind != "star" or k % 2 == 0) else size * 0.45
                angle = turn + np.pi * k / corners * (1 if kind == "star" else 2)
                points.append(((mx + radius * np.cos(angle)) * sx, (my + radius * np.sin(angle)) * sy))
            draw.polygon(points, fill=fill)
    if lettering:
        word = "".join(LETTERS[i] for i in rng.integers(len(LETTERS), size=int(rng.integers(2, 6))))
        pixels = int(round(rng.uniform(7, 12) * sy))
        font = _font(pixels)
        left, top, right, bottom = draw.textbbox((0, 0), word, font=font)
        max_width = 2 * (shape.chest_half_width + 2) * sx
        while right - left > max_width and pixels > 6:
            pixels -= 1
            font = _font(pixels)
            left, top, right, bottom = draw.textbbox((0, 0), word, font=font)
        text_colour = fill if not motif else tuple(int(c * 255) for c in (1 - colour)) + (255,)
        draw.text((cx * sx - (right + left) / 2, cy * sy - (bottom + top) / 2), word, font=font, fill=text_colour)
    return np.asarray(image, dtype=np.float64) / 255.0


def sample_fabric(rng: np.random.Generator, shape, height: int, width: int, plain: bool = False) -> Fabric:
    """A random fabric for garment `shape`; `plain` gives a single colour without decals."""
    base = random_colour(rng, max_value=0.75 if plain else 0.92)
    if plain:
        return Fabric("solid", base, base)
    kind = PATTERNS[rng.choice(len(PATTERNS), p=[0.24, 0.16, 0.12, 0.1, 0.12, 0.14, 0.12])]
    accent = contrasting(rng, base)
    fabric = Fabric(kind, base, accent, period=rng.uniform(5.0, 12.0), duty=rng.uniform(0.3, 0.6),
                    phase=rng.uniform(0, 12), split=shape.chest[1] + rng.uniform(8, 40))
    fabric.decal = _decal(rng, shape, height, width, contrasting(rng, base))
    return fabric
