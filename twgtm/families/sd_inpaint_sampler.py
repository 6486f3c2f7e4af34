"""The denoising loop CatVTON and TryOffAnyone share, as their published pipelines run it.

Both stack two images in height on an SD1.5-inpainting UNet whose cross-attention is skipped:
- each half is VAE-encoded on its own, a posterior *sample* times the VAE's scaling factor; the top
  half is the person with the mask region zeroed (`person * (mask < 0.5)`), the bottom half the
  condition (CatVTON: the garment; TryOffAnyone: the whole person);
- the latent mask is the pixel mask resized with 'nearest'; the mask channel is `[mask; 0]`;
- the UNet input is `[noisy latent, mask, masked canvas]`, with no text (encoder states None);
- classifier-free guidance as one batch `[uncond, cond]`, where uncond zeroes only the condition
  (bottom) half of the masked canvas;
- DDIM from the inpainting model's scheduler config (leading spacing, steps_offset 1, no clipping,
  set_alpha_to_one false) with eta 1, the seeded generator passed to every step;
- only the top half is decoded, `(x / 2 + 0.5).clamp(0, 1)`, and rounded to 8 bits.

Randomness, per item i of a batch (seed s = seeds[i]): one CPU generator seeded with s draws the
initial noise over the whole canvas, then one draw per DDIM step, in that order (the projects'
`generator`); a second CPU generator seeded with s draws the two posterior samples, top half first
(their `latent_dist.sample()` reads torch's global generator: with it seeded with s on the CPU, the
numbers are the same). For one item this is exactly their sampling; a batch equals single runs.
Noise is drawn on the CPU, so a GPU run starts from the same numbers. Everything runs in the model's dtype.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler
from diffusers.utils.torch_utils import randn_tensor

from ..errors import ConfigError, SamplingCancelled
from ..sampling.denoise import is_cancelled
from ..sampling.schedulers import MAX_STEPS

CONCAT_DIM = -2  # height: person (top) above the condition (bottom)
ETA = 1.0


@dataclass
class HalfCanvas:
    """The pixel inputs of one sampling call: the person half, its mask and the condition half."""

    person: torch.Tensor  # (B,3,H,W) in [-1, 1], the person before masking
    mask: torch.Tensor  # (B,1,H,W) {0, 1}, 1 = generate
    condition: torch.Tensor  # (B,3,H,W) in [-1, 1]: the garment (CatVTON) or the whole person (TryOffAnyone)


@dataclass
class SamplingRequest:
    """What the caller asks for: one seed per item, steps, guidance, a per-step callback and a cancel flag."""

    seeds: list[int]
    steps: int
    guidance: float
    callback: Callable | None = None  # called after each step with (step, steps, latents); False stops
    cancel: object = None  # an Event, a callable or a bool; checked before each step


def make_ddim(config: dict) -> DDIMScheduler:
    """A fresh DDIM scheduler from a diffusers scheduler config (the base's own, as the projects load it)."""
    return DDIMScheduler.from_config(dict(config))


def generators(seeds: list[int]) -> list[torch.Generator]:
    """One CPU generator per item, seeded."""
    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


def encode_sample(vae, pixels: torch.Tensor, gens: list[torch.Generator]) -> torch.Tensor:
    """A posterior sample of the VAE times its scaling factor (B,4,h,w), in the VAE's dtype."""
    pixels = pixels.to(memory_format=torch.contiguous_format).float()
    pixels = pixels.to(next(vae.parameters()).device, dtype=next(vae.parameters()).dtype)
    return vae.encode(pixels).latent_dist.sample(generator=gens) * vae.config.scaling_factor  # (B,4,h,w)


class InpaintSampler:
    """The two-half DDIM sampler of one profile model (its `unet`, `vae` and scheduler config)."""

    def __init__(self, model):
        self.model = model

    @property
    def scheduler_config(self) -> dict:
        """The DDIM config kept with the model (the base's, or SD1.5-inpainting's)."""
        from ..weights.base_config import scheduler_config

        return self.model.config.inference.scheduler or scheduler_config(None)

    @torch.no_grad()
    def sample(self, canvas: HalfCanvas, request: SamplingRequest) -> torch.Tensor:
        """Denoise one canvas batch; returns the top half as 8-bit values (B,3,H,W) uint8 on the CPU."""
        steps = int(request.steps)
        if not 1 <= steps <= MAX_STEPS:
            raise ConfigError(f"steps must be between 1 and {MAX_STEPS}, got {request.steps}")
        unet, vae = self.model.unet, self.model.vae
        device, dtype = next(unet.parameters()).device, next(unet.parameters()).dtype
        person = canvas.person.to(device, dtype)
        mask = canvas.mask.to(device, dtype)
        masked_person = person * (mask < 0.5)
        posterior = generators(request.seeds)
        masked_latent = encode_sample(vae, masked_person, posterior)  # (B,4,h,w), the top half first
        condition_latent = encode_sample(vae, canvas.condition, posterior)  # (B,4,h,w)
        mask_latent = F.interpolate(mask, size=masked_latent.shape[-2:], mode="nearest")  # (B,1,h,w)
        masked_canvas = torch.cat([masked_latent, condition_latent], dim=CONCAT_DIM)  # (B,4,2h,w)
        mask_canvas = torch.cat([mask_latent, torch.zeros_like(mask_latent)], dim=CONCAT_DIM)  # (B,1,2h,w)
        noise_gens = generators(request.seeds)
        latents = randn_tensor(masked_canvas.shape, generator=noise_gens, device=device, dtype=dtype)  # (B,4,2h,w)
        scheduler = make_ddim(self.scheduler_config)
        scheduler.set_timesteps(steps, device=device)
        latents = latents * scheduler.init_noise_sigma
        guided = float(request.guidance) > 1.0
        if guided:  # [uncond (condition half zeroed) | cond]
            uncond = torch.cat([masked_latent, torch.zeros_like(condition_latent)], dim=CONCAT_DIM)
            masked_canvas = torch.cat([uncond, masked_canvas])  # (2B,4,2h,w)
            mask_canvas = torch.cat([mask_canvas, mask_canvas])  # (2B,1,2h,w)
        timesteps = scheduler.timesteps
        for i, t in enumerate(timesteps):
            if is_cancelled(request.cancel):
                raise SamplingCancelled(f"sampling cancelled before step {i + 1} of {len(timesteps)}")
            x = torch.cat([latents, latents]) if guided else latents
            x = scheduler.scale_model_input(x, t)
            x = torch.cat([x, mask_canvas, masked_canvas], dim=1)  # (N,9,2h,w)
            eps = unet(x, t.to(device), encoder_hidden_states=None, return_dict=False)[0]  # (N,4,2h,w)
            if guided:
                eps_uncond, eps_cond = eps.chunk(2)
                eps = eps_uncond + float(request.guidance) * (eps_cond - eps_uncond)
            latents = scheduler.step(eps, t, latents, eta=ETA, generator=noise_gens).prev_sample
            if request.callback is not None and request.callback(i + 1, len(timesteps), latents) is False:
                raise SamplingCancelled(f"sampling stopped by the callback after step {i + 1} of {len(timesteps)}")
        top = latents.split(latents.shape[CONCAT_DIM] // 2, dim=CONCAT_DIM)[0]  # (B,4,h,w)
        top = 1 / vae.config.scaling_factor * top  # written as the projects write it: the same rounding
        image = vae.decode(top.to(device, dtype)).sample  # (B,3,H,W)
        image = (image / 2 + 0.5).clamp(0, 1)
        return (image.cpu().float() * 255).round().to(torch.uint8)  # (B,3,H,W)
