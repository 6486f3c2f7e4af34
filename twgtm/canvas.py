"""The two-image canvas: `[target | reference]` along width or height, its mask and masked canvas.

VTON: target = person, reference = garment, mask = `[garment-region mask | 0]`.
VTOFF: target = garment canvas, reference = person, mask = `[flat-garment mask | 0]`.
Pixels are B×3×H×W in [-1, 1]; masks B×1×H×W with 1 = region to generate.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import InputError



def _dim(axis: str) -> int:
    if axis == "width":
        return 3
    if axis == "height":
        return 2
    raise InputError(f"concat axis must be 'width' or 'height', got {axis!r}")


def concat(target: torch.Tensor, reference: torch.Tensor, axis: str) -> torch.Tensor:
    """Join target and reference halves: (B,C,H,W)+(B,C,H,W) -> (B,C,H,2W) or (B,C,2H,W)."""
    if target.shape != reference.shape:
        raise InputError(
            f"canvas halves must have the same shape, got target {tuple(target.shape)} and "
            f"reference {tuple(reference.shape)}; resize both to one size first"
        )
    return torch.cat([target, reference], dim=_dim(axis))


def split(canvas: torch.Tensor, axis: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a canvas back into (target half, reference half)."""
    d = _dim(axis)
    size = canvas.shape[d]
    if size % 2:
        raise InputError(f"cannot split a canvas of odd size {size} along {axis}")
    return canvas.narrow(d, 0, size // 2), canvas.narrow(d, size // 2, size // 2)


@dataclass
class Canvas:
    """The pixel-space inputs of one sampling or training step."""

    image: torch.Tensor  # (B,3,H,2W) target | reference, the ground truth during training
    mask: torch.Tensor  # (B,1,H,2W) 1 = generate; reference half is 0
    masked: torch.Tensor  # (B,3,H,2W) image with the mask region set to 0
    axis: str

    def target_half(self, x: torch.Tensor) -> torch.Tensor:
        """The target half of any canvas-shaped tensor."""
        return split(x, self.axis)[0]


def _check_pair(target: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> None:
    for name, t in (("target", target), ("reference", reference)):
        if t.ndim != 4 or t.shape[1] != 3:
            raise InputError(f"{name} image must be B×3×H×W, got shape {tuple(t.shape)}")
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise InputError(f"mask must be B×1×H×W, got shape {tuple(mask.shape)}")
    if mask.shape[0] != target.shape[0] or mask.shape[-2:] != target.shape[-2:]:
        raise InputError(
            f"mask {tuple(mask.shape)} does not match the target image {tuple(target.shape)}; "
            "resize the mask to the image size"
        )


def build_canvas(target: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor, axis: str) -> Canvas:
    """Canvas, mask and masked canvas from a target half, a reference half and the target's mask."""
    _check_pair(target, reference, mask)
    mask = (mask > 0.5).to(target.dtype)
    image = concat(target, reference, axis)  # (B,3,H,2W)
    full_mask = concat(mask, torch.zeros_like(mask), axis)  # (B,1,H,2W)
    masked = image * (1.0 - full_mask)
    return Canvas(image=image, mask=full_mask, masked=masked, axis=axis)


def tryon_canvas(person: torch.Tensor, garment: torch.Tensor, person_mask: torch.Tensor, axis: str) -> Canvas:
    """VTON canvas `[person | garment]`, mask = the garment region on the person."""
    return build_canvas(person, garment, person_mask, axis)


def tryoff_canvas(
    person: torch.Tensor, garment_mask: torch.Tensor, axis: str, garment: torch.Tensor | None = None
) -> Canvas:
    """VTOFF canvas `[garment canvas | person]`; without a garment (inference) the target is a white page.

    White, because product photos (and the toy wardrobe's flat garments) lie on white: outside a
    try-off mask the model then sees at inference what it saw in training.
    """
    if garment is None:
        garment = torch.ones_like(person)
    return build_canvas(garment, person, garment_mask, axis)


def latent_mask(mask: torch.Tensor, latent_size: tuple[int, int]) -> torch.Tensor:
    """Resize a pixel mask (B,1,H,W) to the latent grid (B,1,h,w), binarized at 0.5."""
    resized = F.interpolate(mask.float(), size=tuple(latent_size), mode="area")
    return (resized > 0.5).to(mask.dtype)


def null_reference(masked_latent: torch.Tensor, axis: str) -> torch.Tensor:
    """The CFG null condition: the masked-canvas latent with its reference half zeroed."""
    target, reference = split(masked_latent, axis)
    return concat(target, torch.zeros_like(reference), axis)


def unet_input(noisy_latent: torch.Tensor, mask_latent: torch.Tensor, masked_latent: torch.Tensor) -> torch.Tensor:
    """The 9-channel UNet input in SD-inpainting order: [noisy (4), mask (1), masked canvas (4)]."""
    return torch.cat([noisy_latent, mask_latent, masked_latent], dim=1)  # (B,9,h,w)
