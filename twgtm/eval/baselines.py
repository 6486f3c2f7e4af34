"""Trivial predictors that a trained model must beat: copies of the input and mean images.

All images are B×3×H×W in [-1, 1], masks B×1×H×W with 1 = the region to generate.
"""
from __future__ import annotations

from typing import Iterable

import torch

from .. import canvas as cv
from ..errors import DataError


def masked_person(person: torch.Tensor, inpaint_mask: torch.Tensor) -> torch.Tensor:
    """The person with the inpaint region set to 0 (mid grey): what the model sees of the target half."""
    return person * (1.0 - (inpaint_mask >= 0.5).float())


def garment_mean_colour(garment: torch.Tensor, garment_mask: torch.Tensor) -> torch.Tensor:
    """The mean RGB (B,3,1,1) of each flat garment over its garment pixels (the whole image if none)."""
    region = (garment_mask >= 0.5).float()  # (B,1,H,W)
    area = region.sum(dim=(2, 3), keepdim=True)  # (B,1,1,1)
    region = torch.where(area > 0, region, torch.ones_like(region))
    return (garment * region).sum(dim=(2, 3), keepdim=True) / region.sum(dim=(2, 3), keepdim=True)


def mean_colour_fill(person: torch.Tensor, inpaint_mask: torch.Tensor, garment: torch.Tensor,
                     garment_mask: torch.Tensor) -> torch.Tensor:
    """The person with the inpaint region filled by the flat garment's mean colour."""
    region = (inpaint_mask >= 0.5).float()
    return person * (1.0 - region) + garment_mean_colour(garment, garment_mask) * region


def vae_round_trip(model, target: torch.Tensor, reference: torch.Tensor,
                   keep_outside: torch.Tensor | None = None) -> torch.Tensor:
    """The truth through the model's own VAE: the canvas `[target | reference]` encoded and decoded
    (the model decodes whole canvases too), its target half; the best a sampler in these latents can
    reach. `keep_outside` (B,1,H,W): outside it the true pixels stay, as a repainted try-on's do."""
    axis = model.config.concat_axis
    weight = next(model.parameters())
    with torch.no_grad():
        canvas = cv.concat(target, reference, axis).to(weight.device, weight.dtype)
        out = cv.split(model.decode(model.encode(canvas)).float().cpu(), axis)[0]  # (B,3,H,W)
    if keep_outside is not None:
        inside = (keep_outside >= 0.5).float()
        out = out * inside + target * (1.0 - inside)
    return out


def mean_image(images: Iterable[torch.Tensor]) -> torch.Tensor:
    """The pixel mean (1,C,H,W) of a stream of C×H×W or B×C×H×W tensors of one size."""
    total, count = None, 0
    for image in images:
        batch = image if image.ndim == 4 else image[None]
        total = batch.double().sum(dim=0, keepdim=True) + (0 if total is None else total)
        count += batch.shape[0]
    if count == 0:
        raise DataError("no images to average: the baseline needs at least one training image; "
                        "check that the train split of the data folder is not empty.")
    return (total / count).float()
