"""The working size: the box (H, W) of the person half a model samples at, and where an image sits in it.

Big inputs are processed at the size the model was trained at: the person is letterboxed into the
working box (on a canvas rounded up to the model's pixel stride), sampled, then cropped and resized
back. `size=` of a call overrides the model's own working size (`TWGTMConfig.inference`, the
preset's by default); a model without one works at the input's own size.
"""
from __future__ import annotations

import torch

from ..model.config import TWGTMConfig
from ..validate import check_size
from .letterbox import Letterbox, plan_letterbox

__all__ = ["resolve_working_size", "letterbox_plan"]


def resolve_working_size(config: TWGTMConfig, size=None) -> tuple[int, int] | None:
    """The working box (H,W) of the person half: `size`, else the model's own (`config.inference.working_size`), else
    None (the input's size)."""
    if size is None:
        size = config.inference.working_size
    if size is None:
        return None
    return check_size(size)


def letterbox_plan(image: torch.Tensor, config: TWGTMConfig, size=None) -> Letterbox:
    """Where `image` (B,C,H,W) sits in the working canvas of `config` (a multiple of its pixel stride)."""
    return plan_letterbox(tuple(image.shape[-2:]), resolve_working_size(config, size), config.pixel_multiple)
