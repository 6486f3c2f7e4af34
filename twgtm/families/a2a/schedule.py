"""FLUX.1-dev's flow-matching schedule: sigmas 1 .. 1/N, shifted by mu from the canvas's token count.

mu = linear in the number of image tokens of the *whole* canvas (target + conditions), from 0.5 at
256 tokens to 1.15 at 4096; sigma' = e^mu / (e^mu + 1/sigma - 1); a final 0 is appended.
"""
from __future__ import annotations

import math

import torch

BASE_SEQ_LEN, MAX_SEQ_LEN = 256, 4096
BASE_SHIFT, MAX_SHIFT = 0.5, 1.15
GUIDANCE = 3.5  # FLUX.1-dev distilled guidance, the published default
STEPS = 30
MAX_STEPS = 200


def shift_mu(image_tokens: int, base_seq_len: int = BASE_SEQ_LEN, max_seq_len: int = MAX_SEQ_LEN,
             base_shift: float = BASE_SHIFT, max_shift: float = MAX_SHIFT) -> float:
    """mu for `image_tokens` tokens: the line through (256, 0.5) and (4096, 1.15)."""
    slope = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    return image_tokens * slope + (base_shift - slope * base_seq_len)


def shifted_sigmas(steps: int, mu: float) -> torch.Tensor:
    """(steps + 1,) float32 sigmas from 1 down to 0, time-shifted by mu."""
    base = torch.linspace(1.0, 1.0 / steps, steps, dtype=torch.float64).float()  # float32, as diffusers
    shifted = math.exp(mu) / (math.exp(mu) + (1.0 / base - 1.0))
    return torch.cat([shifted, torch.zeros(1)])


def comfy_shift_size(image_tokens: int, height: int) -> tuple[int, int]:
    """(width, height) to give core ModelSamplingFlux so that its mu equals `shift_mu(image_tokens)`.

    ModelSamplingFlux counts width*height/256 tokens; the canvas's pixel size gives exactly that.
    """
    return image_tokens * 256 // height, height
