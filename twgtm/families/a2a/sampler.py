"""The denoising loop on a diffusers FluxTransformer2DModel, with the clean-condition reset.

Every transformer call sees the noisy target tokens followed by the condition tokens at their
clean latents (the reset: conditions are never noised nor stepped), one timestep for all, the
task's position ids, text ids zero and the distilled guidance; only the target tokens are stepped
by the Euler update x <- x + (sigma_next - sigma) * v.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class SamplerInputs:
    """Everything one denoising run needs, already on the transformer's device and dtype."""

    target: torch.Tensor  # (B, Nt, 64) initial noise of the target tokens
    conditions: torch.Tensor  # (B, Nc, 64) clean condition tokens
    img_ids: torch.Tensor  # (Nt + Nc, 3)
    text: torch.Tensor  # (B, L, D) T5 hidden states
    pooled: torch.Tensor  # (B, 768) CLIP pooled output
    txt_ids: torch.Tensor  # (L, 3) zeros
    guidance: float | None  # None for a model without guidance embedding


def with_clean_conditions(target: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
    """The transformer's image tokens: target then the clean conditions, (B, Nt + Nc, 64)."""
    return torch.cat([target, conditions.to(target.dtype)], dim=1)


@torch.no_grad()
def denoise(transformer, inputs: SamplerInputs, sigmas: torch.Tensor,
            callback: Callable[[int, int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Run the Euler loop over `sigmas` (steps + 1,); return the final target tokens (B, Nt, 64)."""
    latents = inputs.target
    batch, n_target = latents.shape[0], latents.shape[1]
    guidance = None
    if inputs.guidance is not None:
        guidance = torch.full((batch,), float(inputs.guidance), device=latents.device, dtype=torch.float32)
    steps = len(sigmas) - 1
    for i in range(steps):
        timestep = (sigmas[i] * 1000).expand(batch).to(device=latents.device, dtype=latents.dtype)
        velocity = transformer(
            hidden_states=with_clean_conditions(latents, inputs.conditions),
            timestep=timestep / 1000,
            guidance=guidance,
            pooled_projections=inputs.pooled,
            encoder_hidden_states=inputs.text,
            txt_ids=inputs.txt_ids,
            img_ids=inputs.img_ids,
            return_dict=False,
        )[0][:, :n_target]  # (B, Nt, 64)
        step = (sigmas[i + 1] - sigmas[i]).item()
        latents = (latents.float() + step * velocity.float()).to(latents.dtype)
        if callback is not None:
            callback(i + 1, steps, latents)
    return latents
