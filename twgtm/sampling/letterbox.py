"""Letterboxing: fit an image into the working canvas without stretching it, and take it back out.

The sampler works at one size per model (a multiple of the latent stride): a person image of any
size is resized to fit the working box (aspect kept), padded to the canvas, sampled, then cropped
and resized back to its own size. Pixels are B×C×H×W; masks are binarized after every resize.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError

__all__ = ["Letterbox", "round_up", "plan_letterbox", "resize_bilinear", "letterbox", "fit_into", "unletterbox"]


@dataclass(frozen=True)
class Letterbox:
    """Where a source image sits inside a padded canvas: content box and both sizes."""

    source: tuple[int, int]  # (h, w) of the input
    canvas: tuple[int, int]  # (H, W) of the padded working image
    top: int
    left: int
    height: int  # content size inside the canvas
    width: int


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is >= n."""
    return int(math.ceil(n / multiple) * multiple)


def plan_letterbox(source: tuple[int, int], box: tuple[int, int] | None, multiple: int) -> Letterbox:
    """Fit `source` (h,w) into `box` (or keep its size when None), on a canvas rounded up to `multiple`."""
    h, w = int(source[0]), int(source[1])
    if h < 1 or w < 1:
        raise InputError(f"image size must be positive, got {h}×{w}")
    if box is None:
        bh, bw, scale = h, w, 1.0
    else:
        bh, bw = int(box[0]), int(box[1])
        if bh < 1 or bw < 1:
            raise InputError(f"working size must be positive, got {bh}×{bw}")
        scale = min(bh / h, bw / w)
    ch, cw = round_up(bh, multiple), round_up(bw, multiple)
    height, width = min(ch, max(1, round(h * scale))), min(cw, max(1, round(w * scale)))
    return Letterbox((h, w), (ch, cw), (ch - height) // 2, (cw - width) // 2, height, width)


def resize_bilinear(x: torch.Tensor, size: tuple[int, int], mask: bool = False) -> torch.Tensor:
    """Resize (B,C,h,w) -> (B,C,H,W): bilinear (antialiased) for images; masks binarized at 0.5."""
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    out = F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=True).to(x.dtype)
    return (out >= 0.5).to(x.dtype) if mask else out


def letterbox(x: torch.Tensor, plan: Letterbox, fill: float, mask: bool = False) -> torch.Tensor:
    """Place (B,C,h,w) into the canvas (B,C,H,W): resize to the content box, pad with `fill`."""
    content = resize_bilinear(x, (plan.height, plan.width), mask=mask)
    out = torch.full((x.shape[0], x.shape[1], *plan.canvas), float(fill), dtype=x.dtype, device=x.device)
    out[:, :, plan.top:plan.top + plan.height, plan.left:plan.left + plan.width] = content
    return out


def fit_into(x: torch.Tensor, canvas: tuple[int, int], fill: float) -> torch.Tensor:
    """Letterbox (B,C,h,w) into exactly `canvas` (H,W), keeping its aspect ratio (for garments)."""
    plan = plan_letterbox(tuple(x.shape[-2:]), canvas, 1)
    plan = Letterbox(plan.source, tuple(canvas), (canvas[0] - plan.height) // 2, (canvas[1] - plan.width) // 2,
                     plan.height, plan.width)
    return letterbox(x, plan, fill)


def unletterbox(x: torch.Tensor, plan: Letterbox, mask: bool = False) -> torch.Tensor:
    """Crop the content box out of (B,C,H,W) and resize it back to the source size (B,C,h,w)."""
    content = x[:, :, plan.top:plan.top + plan.height, plan.left:plan.left + plan.width]
    return resize_bilinear(content, plan.source, mask=mask)
