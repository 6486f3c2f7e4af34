"""Tensors: images and masks of the pipeline (B×3×H×W in [-1, 1], B×1×H×W in [0, 1]) and of ComfyUI (IMAGE,
MASK): shape, channels, finite values of the right scale, a sane size, masks that hold something to redraw."""
from __future__ import annotations

from ..errors import InputError

MIN_IMAGE_SIDE = 8  # an image side below one latent cell of the VAE holds nothing to work with
RANGE_SLACK = 0.5  # images and masks may overshoot their range this much (resampling ringing)


# ----- tensors ------------------------------------------------------------------------------------
def check_image_size(height: int, width: int, label: str, minimum: int = MIN_IMAGE_SIDE) -> None:
    """Refuse an image under `minimum` pixels a side or over Pillow's pixel limit (a decompression bomb)."""
    from ..pixels import check_pixel_count

    if min(height, width) < minimum:
        state = "is empty" if min(height, width) == 0 else "is too small"
        raise InputError(f"{label} {state}: {width}x{height} (WxH); each side must be at least {minimum} pixels: "
                         "give the real image")
    check_pixel_count(height, width, label)


def _tensor(x, label: str, ndims: tuple[int, ...], layout: str):
    import torch

    if not isinstance(x, torch.Tensor):
        raise InputError(f"{label} must be a torch tensor {layout}, got {type(x).__name__}")
    if x.ndim not in ndims:
        raise InputError(f"{label} must be {layout}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{label} must hold floats ({layout}), got dtype {x.dtype}; convert it with .float()")
    return x


def _finite_in(x, label: str, low: float, high: float, scale_hint: str) -> None:
    """Refuse NaN / inf values and values clearly outside [low, high] (another scale)."""
    import torch

    if x.numel() == 0:
        raise InputError(f"{label} is empty (shape {tuple(x.shape)})")
    if x.device.type == "meta":
        return
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{label} holds NaN or infinite values; check the node or code that made it")
    lo, hi = float(x.min()), float(x.max())
    if lo < low - RANGE_SLACK or hi > high + RANGE_SLACK:
        raise InputError(f"{label} has values from {lo:g} to {hi:g}, expected {low:g} to {high:g}; {scale_hint}")


def check_pixels(x, label: str = "image") -> None:
    """Pipeline pixels: (B,3,H,W) floats in [-1, 1], finite, a sane size."""
    _tensor(x, label, (4,), "a B×3×H×W tensor in [-1, 1]")
    if x.shape[1] != 3 or x.shape[0] < 1:
        raise InputError(f"{label} must be a B×3×H×W tensor in [-1, 1], got shape {tuple(x.shape)}")
    check_image_size(x.shape[-2], x.shape[-1], label)
    _finite_in(x, label, -1.0, 1.0, "pixels are in [-1, 1]: from [0, 1] use x * 2 - 1, from 0..255 "
                                    "twgtm.pixels.from_uint8")


def check_mask(mask, label: str = "mask") -> None:
    """A mask: (B,1,H,W) floats in [0, 1], finite; a mask source (a callable) is checked when it runs."""
    if callable(mask):
        return
    _tensor(mask, label, (4,), "a B×1×H×W tensor in [0, 1]")
    if mask.shape[1] != 1:
        raise InputError(f"{label} must be a B×1×H×W tensor in [0, 1], got shape {tuple(mask.shape)}")
    _finite_in(mask, label, 0.0, 1.0, "masks are in [0, 1] (1 = redraw): from 0..255 divide by 255")


def check_mask_present(mask, label: str, task: str) -> None:
    """Every item of a mask the task needs has a pixel to redraw (>= 0.5)."""
    if callable(mask) or mask.device.type == "meta":
        return
    empty = [i for i in range(mask.shape[0]) if not bool((mask[i] >= 0.5).any())]
    if empty:
        raise InputError(f"{label} is empty for item(s) {empty} (no pixel at 0.5 or more): the {task} would redraw "
                         "nothing; paint the garment region white, or give an automatic mask")


def check_comfy_image(image, label: str) -> None:
    """A ComfyUI IMAGE: (B,H,W,C) or (H,W,C) with 1 to 4 channels, in [0, 1], finite, a sane size."""
    _tensor(image, label, (3, 4), "a ComfyUI IMAGE (B, H, W, C) in [0, 1], C = 1 to 4")
    if not 1 <= image.shape[-1] <= 4:
        raise InputError(f"{label}: expected a ComfyUI IMAGE of 1 to 4 channels (grey, grey + alpha, RGB, RGBA), got "
                         f"shape {tuple(image.shape)}; convert it to RGB first")
    check_image_size(image.shape[-3], image.shape[-2], label)
    _finite_in(image, label, 0.0, 1.0, "ComfyUI images are in [0, 1]")


def check_comfy_mask(mask, label: str) -> None:
    """A ComfyUI MASK: (H,W), (B,H,W) or (B,1,H,W) in [0, 1], finite, a sane size."""
    _tensor(mask, label, (2, 3, 4), "a ComfyUI MASK (B, H, W) or (H, W) in [0, 1]")
    if mask.ndim == 4 and mask.shape[1] != 1:
        raise InputError(f"{label}: a ComfyUI MASK is (B, H, W) or (H, W), got shape {tuple(mask.shape)}")
    check_image_size(mask.shape[-2], mask.shape[-1], label, minimum=1)
    _finite_in(mask, label, 0.0, 1.0, "ComfyUI masks are in [0, 1]")
