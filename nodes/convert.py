"""ComfyUI IMAGE/MASK <-> TWGTM tensors.

ComfyUI: IMAGE is (B, H, W, C) float in [0, 1] (C = 3; 4 and 1 are accepted), MASK is
(B, H, W) or (H, W) float in [0, 1]. TWGTM: pixels (B, 3, H, W) in [-1, 1], masks
(B, 1, H, W) with 1 = region to generate. Only nodes/ converts.
"""
from __future__ import annotations

import torch

from ..twgtm.errors import InputError
from ..twgtm.mask_edit import adjust_mask
from ..twgtm.pixels import from_unit, to_unit

__all__ = ["image_to_pixels", "pixels_to_image", "mask_to_tensor", "tensor_to_mask", "broadcast_batch", "mask_input"]


def _check_tensor(value, name: str) -> torch.Tensor:
    """Raise InputError unless `value` is a floating tensor."""
    if not isinstance(value, torch.Tensor):
        raise InputError(f"{name}: expected a torch.Tensor, got {type(value).__name__}.")
    if not value.is_floating_point():
        raise InputError(f"{name}: expected a floating-point tensor in [0, 1], got dtype {value.dtype}.")
    return value


def broadcast_batch(tensor: torch.Tensor, batch_size: int, name: str = "tensor") -> torch.Tensor:
    """Repeat a batch of one to `batch_size` items; raise InputError for any other mismatch."""
    if tensor.shape[0] == batch_size:
        return tensor
    if tensor.shape[0] == 1:
        return tensor.expand(batch_size, *tensor.shape[1:]).contiguous()
    raise InputError(
        f"{name}: has a batch of {tensor.shape[0]} but {batch_size} is needed; give one item "
        f"(used for every image) or exactly {batch_size}."
    )


def image_to_pixels(image: torch.Tensor, batch_size: int | None = None, name: str = "image") -> torch.Tensor:
    """ComfyUI IMAGE (B, H, W, C) in [0, 1] -> pixels (B, 3, H, W) in [-1, 1]; errors name the input `name`.

    RGBA and grey + alpha drop their alpha (ComfyUI gives alpha as a separate MASK), grey is
    repeated to RGB, a single (H, W, C) image gains a batch axis.
    """
    _check_tensor(image, f"input '{name}'")
    if image.ndim == 3:
        image = image[None]  # (1, H, W, C)
    if image.ndim != 4 or image.shape[-1] not in (1, 2, 3, 4):
        raise InputError(
            f"input '{name}': expected a ComfyUI IMAGE of shape (B, H, W, 3) (or 1, 2 or 4 channels), got "
            f"{tuple(image.shape)}; convert it to RGB first."
        )
    if image.shape[-1] == 4:
        image = image[..., :3]  # RGBA -> RGB
    elif image.shape[-1] in (1, 2):
        image = image[..., :1].expand(*image.shape[:-1], 3)  # grey (+ alpha) -> RGB
    if batch_size is not None:
        image = broadcast_batch(image, batch_size, f"input '{name}'")
    return from_unit(image.movedim(-1, 1).float()).contiguous()  # (B, 3, H, W)


def pixels_to_image(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels (B, 3, H, W) in [-1, 1] -> ComfyUI IMAGE (B, H, W, 3) float32 in [0, 1] (clamped)."""
    _check_tensor(pixels, "pixels")
    if pixels.ndim != 4 or pixels.shape[1] != 3:
        raise InputError(f"pixels: expected shape (B, 3, H, W), got {tuple(pixels.shape)}.")
    return to_unit(pixels.float()).movedim(1, -1).contiguous()  # (B, H, W, 3)


def mask_to_tensor(mask: torch.Tensor, batch_size: int | None = None, name: str = "mask") -> torch.Tensor:
    """ComfyUI MASK (B, H, W) or (H, W) -> mask (B, 1, H, W) float32, a batch of one repeated to `batch_size`."""
    _check_tensor(mask, name)
    if mask.ndim == 2:
        mask = mask[None]  # (1, H, W)
    elif mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]  # already (B, 1, H, W)
    if mask.ndim != 3:
        raise InputError(f"{name}: expected a ComfyUI MASK of shape (B, H, W) or (H, W), got {tuple(mask.shape)}.")
    if batch_size is not None:
        mask = broadcast_batch(mask, batch_size, name)
    return mask[:, None].float().contiguous()  # (B, 1, H, W)


def mask_input(mask: torch.Tensor, batch_size: int, size, *, resize: bool = True, grow: int = 0, feather: int = 0,
               name: str = "mask", image: str = "image", nonempty: bool = False) -> torch.Tensor:
    """A node's MASK input -> (B, 1, H, W) at the image's `size` (H, W): H x W or B x H x W, a batch of one
    broadcast, resized like core nodes (unless `resize` is off), then grown and feathered (twgtm.mask_edit).

    `nonempty`: an item without a pixel >= 0.5 (nothing to redraw) is an InputError naming the input.
    """
    tensor = mask_to_tensor(mask, batch_size, f"input '{name}'")  # (B, 1, h, w)
    adjusted = adjust_mask(tensor, size, resize=resize, grow=grow, feather=feather, name=name, image=image)
    if nonempty:
        empty = [i for i in range(adjusted.shape[0]) if not bool((adjusted[i] >= 0.5).any())]
        if empty:
            raise InputError(f"input '{name}': item(s) {empty} are empty (no pixel at 0.5 or more): nothing would be "
                             "redrawn; paint the garment region white, or use 'TWGTM Body Region Mask'")
    return adjusted


def tensor_to_mask(mask: torch.Tensor) -> torch.Tensor:
    """Mask (B, 1, H, W) -> ComfyUI MASK (B, H, W) float32 in [0, 1] (clamped)."""
    _check_tensor(mask, "mask")
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise InputError(f"mask: expected shape (B, 1, H, W), got {tuple(mask.shape)}.")
    return mask[:, 0].float().clamp(0.0, 1.0).contiguous()  # (B, H, W)
