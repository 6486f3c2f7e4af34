"""Masks built from pixels and label maps: flat-garment masks, dilation, agnostic (inpainting) masks.

Label ids follow the public loaders:
- VITON-HD `image-parse-v3` (CIHP / LIP 20 classes, as HR-VITON's `cp_dataset.py` groups them):
  0 background, 1 hat, 2 hair, 3 glove, 4 sunglasses, 5 upper clothes, 6 dress, 7 coat, 8 socks,
  9 pants, 10 torso skin (neck), 11 scarf, 12 skirt, 13 face, 14 left arm, 15 right arm,
  16 left leg, 17 right leg, 18 left shoe, 19 right shoe.
- DressCode `label_maps/*_4.png` (the official `data/dataset.py` and LaDI-VTON's `label_map`):
  0 background, 1 hat, 2 hair, 3 sunglasses, 4 upper clothes, 5 skirt, 6 pants, 7 dress, 8 belt,
  9 left shoe, 10 right shoe, 11 head, 12 left leg, 13 right leg, 14 left arm, 15 right arm,
  16 bag, 17 scarf.
"""
from __future__ import annotations

import numpy as np

VITONHD_LABELS = {
    "background": 0, "hat": 1, "hair": 2, "glove": 3, "sunglasses": 4, "upper_clothes": 5,
    "dress": 6, "coat": 7, "socks": 8, "pants": 9, "torso_skin": 10, "scarf": 11, "skirt": 12,
    "face": 13, "left_arm": 14, "right_arm": 15, "left_leg": 16, "right_leg": 17,
    "left_shoe": 18, "right_shoe": 19,
}

DRESSCODE_LABELS = {
    "background": 0, "hat": 1, "hair": 2, "sunglasses": 3, "upper_clothes": 4, "skirt": 5,
    "pants": 6, "dress": 7, "belt": 8, "left_shoe": 9, "right_shoe": 10, "head": 11,
    "left_leg": 12, "right_leg": 13, "left_arm": 14, "right_arm": 15, "bag": 16, "scarf": 17,
}

# Per category: labels the new garment may cover (regenerated), and labels always kept.
_DRESSCODE_REGENERATE = {
    "upper": ("upper_clothes", "left_arm", "right_arm"),
    "lower": ("skirt", "pants", "belt", "left_leg", "right_leg"),
    "dress": ("upper_clothes", "skirt", "pants", "dress", "belt", "left_arm", "right_arm",
              "left_leg", "right_leg"),
}
_DRESSCODE_KEEP = {
    "upper": ("hat", "hair", "sunglasses", "head", "left_shoe", "right_shoe", "bag", "skirt", "pants"),
    "lower": ("hat", "hair", "sunglasses", "head", "left_shoe", "right_shoe", "bag", "upper_clothes",
              "left_arm", "right_arm"),
    "dress": ("hat", "hair", "sunglasses", "head", "left_shoe", "right_shoe", "bag"),
}
_VITONHD_REGENERATE = ("upper_clothes", "dress", "coat", "torso_skin", "left_arm", "right_arm", "glove")
_VITONHD_KEEP = ("hat", "hair", "sunglasses", "face", "pants", "skirt", "left_leg", "right_leg",
                 "left_shoe", "right_shoe", "socks")
# The labels of a worn garment of each category (upper as HR-VITON groups its cloth region).
_VITONHD_GARMENT = {"upper": ("upper_clothes", "dress", "coat"), "dress": ("dress",), "lower": ("pants", "skirt")}


def dilate_by_radius(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilate a boolean H×W mask by a square of side 2·radius+1 (separable running maximum)."""
    out = np.asarray(mask, dtype=bool)
    if radius <= 0:
        return out.copy()
    for axis in (0, 1):
        grown = out.copy()
        length = out.shape[axis]
        for shift in range(1, min(radius, length - 1) + 1):
            lead = [slice(None)] * 2
            trail = [slice(None)] * 2
            lead[axis], trail[axis] = slice(shift, None), slice(None, -shift)
            grown[tuple(lead)] |= out[tuple(trail)]
            grown[tuple(trail)] |= out[tuple(lead)]
        out = grown
    return out


def _fill_from_seed(seed: np.ndarray, free: np.ndarray, max_rounds: int = 256) -> np.ndarray:
    """Flood fill: every `free` pixel 4-connected to a `seed` pixel through `free` pixels."""
    reached = seed & free
    for _ in range(max_rounds):
        before = int(reached.sum())
        for transpose in (False, True):
            grid_free = free.T if transpose else free
            grid_reached = reached.T if transpose else reached
            rows, cols = grid_free.shape
            flat_free = grid_free.reshape(-1)
            # A new run starts at a free pixel whose left neighbour is not free, or at a row start.
            starts = flat_free.copy()
            starts[1:] &= ~flat_free[:-1]
            starts[::cols] = flat_free[::cols]
            run_id = np.cumsum(starts) * flat_free  # (rows*cols,), 0 = not free
            hit = np.bincount(run_id, weights=grid_reached.reshape(-1), minlength=int(run_id.max()) + 1) > 0
            hit[0] = False
            grid_reached = hit[run_id].reshape(rows, cols)
            reached = grid_reached.T if transpose else grid_reached
        if int(reached.sum()) == before:
            break
    return reached


def garment_mask_from_background(image: np.ndarray, tolerance: float = 0.08) -> np.ndarray:
    """Flat-garment mask of a product photo on a plain near-white background: H×W bool, True = garment.

    The background colour is the median of the border pixels; background = pixels within
    `tolerance` (fraction of 255, per channel) of it that connect to the border, so white parts
    inside the garment (white stripes, lettering) stay garment. A garment of the background's own
    colour touching the border cannot be separated: give the data set's cloth masks instead.
    """
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    pixels = pixels[..., :3]  # (H, W, 3)
    if pixels.max(initial=0.0) <= 1.0:
        pixels = pixels * 255.0
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])  # (2H+2W, 3)
    background_colour = np.median(border, axis=0)
    near = np.all(np.abs(pixels - background_colour) <= tolerance * 255.0, axis=2)  # (H, W)
    seed = np.zeros_like(near)
    seed[0, :] = seed[-1, :] = seed[:, 0] = seed[:, -1] = True
    background = _fill_from_seed(seed, near)
    return ~background


def _select(labels: np.ndarray, table: dict[str, int], names) -> np.ndarray:
    """Boolean mask of the pixels whose label is one of `names` in `table`."""
    return np.isin(labels, [table[name] for name in names])


def _dilation_radius(shape: tuple[int, ...], fraction: float) -> int:
    """A dilation radius proportional to the image height (at least 1 pixel)."""
    return max(1, int(round(shape[0] * fraction)))


def vitonhd_agnostic_mask(parse: np.ndarray, dilation: float = 0.02) -> np.ndarray:
    """Inpainting mask (H×W bool) for upper-garment try-on from a VITON-HD `image-parse-v3` label map.

    Like the public agnostic masks (HR-VITON's parse agnostic, CatVTON's masks): the upper
    clothes, dress, coat, neck skin and both arms, dilated by `dilation`·H, minus face, hair and
    the lower body, which are kept.
    """
    labels = np.asarray(parse)
    region = _select(labels, VITONHD_LABELS, _VITONHD_REGENERATE)
    region = dilate_by_radius(region, _dilation_radius(labels.shape, dilation))
    return region & ~_select(labels, VITONHD_LABELS, _VITONHD_KEEP)


def dresscode_agnostic_mask(labels: np.ndarray, category: str, dilation: float = 0.02) -> np.ndarray:
    """Inpainting mask (H×W bool) for `category` ("upper" | "lower" | "dress") from a DressCode label map.

    As LaDI-VTON builds `inpaint_mask` from the official label ids: the garment labels of the
    category plus the limbs it may cover, dilated by `dilation`·H, minus the parts that stay
    (head, hair, hat, sunglasses, shoes, bag, and the other body half's garment).
    """
    labels = np.asarray(labels)
    region = _select(labels, DRESSCODE_LABELS, _DRESSCODE_REGENERATE[category])
    region = dilate_by_radius(region, _dilation_radius(labels.shape, dilation))
    return region & ~_select(labels, DRESSCODE_LABELS, _DRESSCODE_KEEP[category])


def vitonhd_garment_region(parse: np.ndarray, category: str) -> np.ndarray:
    """Where the worn garment of `category` ("upper" | "lower" | "dress") is visible (H×W bool), from an
    `image-parse-v3` label map: upper = upper clothes, dress and coat labels; dress = dress; lower = pants, skirt."""
    return _select(np.asarray(parse), VITONHD_LABELS, _VITONHD_GARMENT[category])
