"""Image checks and conversions shared by the metrics.

Convention: every metric takes float tensors ``B×3×H×W`` in **[-1, 1]** (the project's pixel
convention). Use :func:`from_unit_range` first if your images are in [0, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..pixels import from_unit, to_unit

_RANGE_TOLERANCE = 1e-3
_LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, as MATLAB's rgb2gray / YIQ "Y"


def check_images(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Return ``images`` as B×3×H×W floating point, raising InputError on a wrong shape or range."""
    if not isinstance(images, torch.Tensor):
        raise InputError(f"{name}: expected a torch.Tensor B×3×H×W in [-1, 1], got {type(images).__name__}.")
    if images.dim() == 3:
        images = images.unsqueeze(0)  # (3, H, W) -> (1, 3, H, W)
    if images.dim() != 4 or images.shape[1] != 3:
        raise InputError(
            f"{name}: expected shape B×3×H×W (RGB), got {tuple(images.shape)}; "
            "convert grayscale/RGBA images to RGB first."
        )
    if not images.is_floating_point():
        raise InputError(
            f"{name}: expected a float tensor in [-1, 1], got dtype {images.dtype}; "
            "convert uint8 images with twgtm.pixels.from_uint8(x)."
        )
    lo, hi = float(images.min()), float(images.max())
    if lo < -1 - _RANGE_TOLERANCE or hi > 1 + _RANGE_TOLERANCE:
        raise InputError(
            f"{name}: values lie in [{lo:.3f}, {hi:.3f}], expected [-1, 1] "
            "(the project's pixel convention); rescale with twgtm.pixels.from_unit(x) from [0, 1] or from_uint8(x) from 0..255."
        )
    return images


def check_pair(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check a prediction/target batch pair: same shape, B×3×H×W, in [-1, 1]."""
    pred, target = check_images(pred, "pred"), check_images(target, "target")
    if pred.shape != target.shape:
        raise InputError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape; "
            "resize both to the evaluation size first (twgtm.eval does this)."
        )
    return pred, target


# [0, 1] <-> [-1, 1]: the project's one pair of scaling functions (twgtm.pixels), under the metrics' names.
from_unit_range = from_unit
to_unit_range = to_unit


def luma(images_unit: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of B×3×H×W images (any range) as B×1×H×W."""
    weights = images_unit.new_tensor(_LUMA_WEIGHTS).view(1, 3, 1, 1)
    return (images_unit * weights).sum(dim=1, keepdim=True)


def resize_images(images: torch.Tensor, size: tuple[int, int], mode: str = "bilinear", antialias: bool = False) -> torch.Tensor:
    """Resize B×C×H×W images to ``size`` = (H, W); a no-op when already that size."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode=mode, align_corners=False, antialias=antialias)


def resize_short_side(images: torch.Tensor, short_side: int) -> torch.Tensor:
    """Downscale B×C×H×W images so that the shorter side is ``short_side`` (never upscales)."""
    height, width = images.shape[-2:]
    if min(height, width) <= short_side:
        return images
    scale = short_side / min(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return resize_images(images, size, mode="bilinear", antialias=True)
