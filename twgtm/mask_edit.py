"""Mask inputs as core ComfyUI nodes treat them: resized to the image, grown or shrunk, feathered.

A mask is (B,1,H,W) float in [0, 1]. `fit_mask` resizes one to an image's size: nearest-neighbour
for a binary mask (its edges stay hard, nothing in between appears), bilinear for a soft one.
`grow_mask` dilates (positive pixels) or erodes (negative) with a square of side 2|n|+1, on grey
values too (a max / min filter, like core's GrowMask); `feather_mask` softens the edge with a
Gaussian blur (sigma = radius / 2). The sampler generates where the mask is >= 0.5 and, with
repaint, blends the result back through the mask's soft edge, so feathering shapes that seam.
`adjust_mask` applies the three in that order and names the input in its errors.
"""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from .errors import InputError
from .masks import blur_mask, check_mask, dilate, erode

__all__ = ["is_binary", "fit_mask", "grow_mask", "feather_mask", "adjust_mask"]


def is_binary(mask: torch.Tensor) -> bool:
    """Whether every value is exactly 0 or 1."""
    return bool(((mask == 0) | (mask == 1)).all())


def fit_mask(mask: torch.Tensor, size) -> torch.Tensor:
    """Resize (B,1,h,w) to `size` (H,W): nearest for a binary mask, bilinear otherwise; values clamped to [0,1]."""
    check_mask(mask)
    size = (int(size[0]), int(size[1]))
    if tuple(mask.shape[-2:]) == size:
        return mask
    if is_binary(mask):
        return F.interpolate(mask.float(), size=size, mode="nearest-exact").to(mask.dtype)  # (B,1,H,W)
    return F.interpolate(mask.float(), size=size, mode="bilinear", align_corners=False).clamp(0, 1).to(mask.dtype)


def _pixels(value, name: str, allow_negative: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (value < 0 and not allow_negative):
        kind = "an int" if allow_negative else "an int >= 0"
        raise InputError(f"{name}: expected {kind} (pixels), got {value!r}")
    return int(value)


def grow_mask(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """Dilate by `pixels` (> 0) or erode by -`pixels` (< 0) with a square kernel; 0 returns the mask."""
    check_mask(mask)
    pixels = _pixels(pixels, "grow", allow_negative=True)
    if pixels == 0:
        return mask
    kernel = 2 * abs(pixels) + 1
    return dilate(mask, kernel) if pixels > 0 else erode(mask, kernel)  # (B,1,H,W)


def feather_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """A Gaussian-soft edge of `radius` pixels; 0 returns the mask."""
    radius = _pixels(radius, "feather", allow_negative=False)
    return mask if radius == 0 else blur_mask(mask, radius)


def adjust_mask(mask: torch.Tensor, size, *, resize: bool = True, grow: int = 0, feather: int = 0,
                name: str = "mask", image: str = "image") -> torch.Tensor:
    """Fit `mask` (B,1,h,w) to `size` (H,W) (or an InputError naming `name` and `image` when `resize` is off),
    then grow and feather it."""
    check_mask(mask, name)
    size = (int(size[0]), int(size[1]))
    if tuple(mask.shape[-2:]) != size:
        if not resize:
            raise InputError(f"input '{name}' is {mask.shape[-2]}x{mask.shape[-1]} (HxW) but '{image}' is "
                             f"{size[0]}x{size[1]}; turn {name}_resize on to resize it, or give a mask of the image's size")
        mask = fit_mask(mask, size)
    return feather_mask(grow_mask(mask.clamp(0, 1), grow), feather)
