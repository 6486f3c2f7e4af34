"""What a profile call returns: the usual results at the person's size, plus the exact working-size output."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from ..results import TryOffResult, TryOnResult
from ..validate import check_size


@dataclass
class ProfileTryOnResult(TryOnResult):
    """A profile try-on: `images`/`masks` at the person's size, `working` as the project outputs it."""

    working: torch.Tensor  # (B,3,h,w) uint8: the project's own output at the working size
    working_masks: torch.Tensor  # (B,1,h,w) {0, 1}: the mask it sampled with


@dataclass
class ProfileTryOffResult(TryOffResult):
    """A profile try-off: `images`/`masks` at the person's size, `working` as the project outputs it."""

    working: torch.Tensor  # (B,3,h,w) uint8
    working_masks: torch.Tensor  # (B,1,h,w) {0, 1}


def profile_sampling_size(config, size, image_hw: tuple[int, int]) -> tuple[int, int]:
    """The (H, W) a profile samples each half at: `size`, else the profile's, else the input's (multiples of the stride).

    Unlike a TWGTM model, which letterboxes onto a canvas rounded up to its stride, a profile crops
    to its working size: a reduced model without one samples at the input's size rounded down.
    """
    step = config.pixel_multiple
    if size is None:
        size = config.inference.working_size
    if size is None:  # a reduced model: the input's own size, rounded down to the stride
        return max(step, image_hw[0] // step * step), max(step, image_hw[1] // step * step)
    h, w = check_size(size)
    if h % step or w % step:
        near = (max(step, round(h / step) * step), max(step, round(w / step) * step))
        raise InputError(f"the working size {h}x{w} is not a multiple of {step} (the latent stride of "
                         f"{config.profile}); use {near[0]}x{near[1]}")
    return h, w
