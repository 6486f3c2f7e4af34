"""Mask utilities shared by the nodes, the sampler and training.

A mask is a float tensor of shape (B, 1, H, W) with 1 = region to generate, 0 = keep.
Functions that return a hard mask return exactly 0.0 and 1.0 in the input's dtype.
"""
from __future__ import annotations

import logging
import math
import numbers

import torch
import torch.nn.functional as F

from .errors import InputError

logger = logging.getLogger("twgtm")

__all__ = ["check_mask", "binarize", "resize_mask", "mask_to_bbox", "grown_bbox", "garment_mask_from_probability",
           "dilate", "erode", "square_mask", "blur_mask", "CATEGORY_BOXES", "category_box"]


def check_mask(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """Raise InputError unless `mask` is a floating (B, 1, H, W) tensor; return it unchanged."""
    if not isinstance(mask, torch.Tensor):
        raise InputError(f"{name}: expected a torch.Tensor of shape (B, 1, H, W), got {type(mask).__name__}.")
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise InputError(
            f"{name}: expected shape (B, 1, H, W), got {tuple(mask.shape)}. "
            "Add the batch/channel axes with mask[None] or mask.unsqueeze(1)."
        )
    if not mask.is_floating_point():
        raise InputError(f"{name}: expected a floating-point tensor, got dtype {mask.dtype}; use mask.float().")
    if mask.shape[2] == 0 or mask.shape[3] == 0:
        raise InputError(f"{name}: has an empty spatial size {tuple(mask.shape[2:])}.")
    return mask


def _check_size(size) -> tuple[int, int]:
    """Return `size` as an (H, W) pair of positive ints, or raise InputError."""
    if isinstance(size, int):
        size = (size, size)
    try:
        height, width = (int(s) for s in size)
    except (TypeError, ValueError):
        raise InputError(f"size: expected an int or an (H, W) pair, got {size!r}.") from None
    if height <= 0 or width <= 0:
        raise InputError(f"size: expected positive height and width, got {(height, width)}.")
    return height, width


def binarize(mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Return a hard mask: 1 where mask >= threshold, else 0 (same shape and dtype)."""
    check_mask(mask)
    return (mask >= threshold).to(mask.dtype)


def resize_mask(mask: torch.Tensor, size) -> torch.Tensor:
    """Resize a mask to `size` = (H, W) (bilinear, antialiased) and binarize it at 0.5."""
    check_mask(mask)
    height, width = _check_size(size)
    if tuple(mask.shape[-2:]) == (height, width):
        return binarize(mask)
    resized = F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return binarize(resized)  # (B, 1, height, width)


def _first_last(flags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the first and last True along the last axis of a bool tensor (B, N)."""
    length = flags.shape[-1]
    first = flags.float().argmax(dim=-1)  # (B,)
    last = length - 1 - flags.flip(-1).float().argmax(dim=-1)  # (B,)
    return first, last


def _box_mask(top, bottom, left, right, keep, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Filled boxes [top, bottom] x [left, right] (inclusive) per item, zero where not `keep`."""
    rows = torch.arange(height, device=like.device)
    cols = torch.arange(width, device=like.device)
    in_rows = (rows[None, :] >= top[:, None]) & (rows[None, :] <= bottom[:, None])  # (B, H)
    in_cols = (cols[None, :] >= left[:, None]) & (cols[None, :] <= right[:, None])  # (B, W)
    box = in_rows[:, :, None] & in_cols[:, None, :] & keep[:, None, None]  # (B, H, W)
    return box[:, None].to(like.dtype)  # (B, 1, H, W)


def mask_to_bbox(mask: torch.Tensor, margin: int | float = 0) -> torch.Tensor:
    """Replace each item's mask by its filled bounding box, grown by `margin` (Mask2BBox).

    `margin` is in pixels when it is an int, and a fraction of the box's own height and
    width (per side) when it is a float. The box is clipped to the image. An empty mask
    stays empty. The input is binarized at 0.5 first.
    """
    check_mask(mask)
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
        raise InputError(f"margin: expected an int (pixels) or a float (fraction of the box), got {margin!r}.")
    if margin < 0 or not math.isfinite(margin):
        raise InputError(f"margin: expected a finite value >= 0, got {margin}.")
    batch, _, height, width = mask.shape
    hard = mask[:, 0] >= 0.5  # (B, H, W)
    row_any = hard.any(dim=2)  # (B, H)
    col_any = hard.any(dim=1)  # (B, W)
    keep = row_any.any(dim=1)  # (B,) items with a non-empty mask
    top, bottom = _first_last(row_any)
    left, right = _first_last(col_any)
    if isinstance(margin, numbers.Integral):
        margin = int(margin)
        margin_y = torch.full_like(top, margin)
        margin_x = torch.full_like(left, margin)
    else:
        margin_y = ((bottom - top + 1).double() * margin).round().long()
        margin_x = ((right - left + 1).double() * margin).round().long()
    top = (top - margin_y).clamp(min=0)
    bottom = (bottom + margin_y).clamp(max=height - 1)
    left = (left - margin_x).clamp(min=0)
    right = (right + margin_x).clamp(max=width - 1)
    return _box_mask(top, bottom, left, right, keep, height, width, like=mask)


def grown_bbox(mask: torch.Tensor, margin: int = 0, margin_fraction: float = 0.0) -> torch.Tensor:
    """Mask2BBox grown by a fraction of the box's own size per side, then by `margin` pixels per side."""
    boxes = mask_to_bbox(mask, float(margin_fraction))  # (B, 1, H, W)
    if margin:
        boxes = mask_to_bbox(boxes, int(margin))
    return boxes


def garment_mask_from_probability(probability: torch.Tensor, threshold: float = 0.5, bbox: bool = False,
                                  margin: int = 0) -> torch.Tensor:
    """A predicted garment probability (B, 1, H, W) as a mask: hard at `threshold` (soft when <= 0), boxed if `bbox`.

    The try-off sampler's 'bbox' target region is this with the defaults and `bbox=True`.
    """
    check_mask(probability, "garment probability")
    mask = probability if threshold <= 0 else (probability >= threshold).float()
    if bbox:
        mask = mask_to_bbox(mask, int(margin))  # (B, 1, H, W) filled boxes
    return mask


def _check_kernel(kernel, name: str) -> int:
    """Return `kernel` as an odd positive int, or raise InputError."""
    if isinstance(kernel, bool) or not isinstance(kernel, numbers.Integral) or kernel < 1 or kernel % 2 == 0:
        raise InputError(f"{name}: expected an odd int >= 1 (a square kernel's side in pixels), got {kernel!r}.")
    return int(kernel)


def dilate(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """Morphological dilation of a mask with a `kernel` x `kernel` square."""
    kernel = _check_kernel(kernel, "kernel")
    return F.max_pool2d(mask, kernel_size=kernel, stride=1, padding=kernel // 2)


def erode(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """Morphological erosion of a mask with a `kernel` x `kernel` square (the border does not erode)."""
    kernel = _check_kernel(kernel, "kernel")
    return -F.max_pool2d(-mask, kernel_size=kernel, stride=1, padding=kernel // 2)


def square_mask(mask: torch.Tensor, kernel: int, erode_kernel: int | None = None) -> torch.Tensor:
    """Training "square" mask: dilate by `kernel`, erode by `erode_kernel` (default `kernel`), then fill the box.

    Used for try-off training stage 2. With `erode_kernel` smaller than `kernel` the box
    grows by (kernel - erode_kernel) // 2 pixels per side (clipped to the image).
    """
    check_mask(mask)
    kernel = _check_kernel(kernel, "kernel")
    erode_kernel = kernel if erode_kernel is None else _check_kernel(erode_kernel, "erode_kernel")
    closed = erode(dilate(binarize(mask), kernel), erode_kernel)  # (B, 1, H, W)
    return mask_to_bbox(closed)


def _gaussian_kernel(radius: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A normalised 1-D Gaussian of length 2 * radius + 1 with sigma = radius / 2."""
    sigma = radius / 2.0
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (weights / weights.sum()).to(dtype)  # (2r+1,)


def blur_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Soft mask for repaint: a separable Gaussian blur (sigma = radius / 2), values in [0, 1]."""
    check_mask(mask)
    if isinstance(radius, bool) or not isinstance(radius, numbers.Integral) or radius < 0:
        raise InputError(f"radius: expected an int >= 0 (pixels), got {radius!r}.")
    radius = int(radius)
    if radius == 0:
        return mask.clamp(0, 1)
    weights = _gaussian_kernel(radius, mask.dtype, mask.device)
    padded = F.pad(mask, (radius, radius, radius, radius), mode="replicate")  # (B, 1, H+2r, W+2r)
    blurred = F.conv2d(padded, weights.view(1, 1, 1, -1))  # (B, 1, H+2r, W)
    blurred = F.conv2d(blurred, weights.view(1, 1, -1, 1))  # (B, 1, H, W)
    return blurred.clamp(0, 1)


# Body-region boxes (fractions of height, width: top, bottom, left, right) per garment category,
# the default try-on mask of a round trip's second person when none is given.
CATEGORY_BOXES = {
    "upper": (0.12, 0.62, 0.10, 0.90),
    "lower": (0.45, 0.97, 0.15, 0.85),
    "dress": (0.12, 0.92, 0.10, 0.90),
}


def category_box(category: str, size: tuple[int, int], batch: int = 1) -> torch.Tensor:
    """A filled box (B,1,H,W) over the body region where a garment of `category` is worn.

    Args:
        category: 'upper', 'lower' or 'dress' (anything else: the upper box).
        size: (H, W) of the person image.
        batch: how many copies.

    Returns:
        torch.Tensor: (B,1,H,W) mask, 1 inside the box.
    """
    top, bottom, left, right = CATEGORY_BOXES.get(str(category).strip().lower(), CATEGORY_BOXES["upper"])
    h, w = size
    out = torch.zeros(batch, 1, h, w)
    out[:, :, int(top * h):max(int(top * h) + 1, int(bottom * h)), int(left * w):max(int(left * w) + 1, int(right * w))] = 1
    return out
