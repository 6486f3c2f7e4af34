"""Sampling proper: the denoising loop over one canvas batch, with classifier-free guidance.

Per call: encode the masked canvas, draw each item's noise from its own seed (on the CPU, so a
batch equals single runs on any device), build a fresh diffusers scheduler, install F_SRM once
(K'/V' cached for all steps), denoise, decode the whole canvas and keep its target half.

CFG: the unconditional branch has the reference half of the masked-canvas latent zeroed, null
SAM tokens and no SRM branch (SRM weight 0). Both branches run as one UNet batch
`[unconditional (B) | conditional (B)]` (default) or one after the other (the same numbers, half
the activations); guidance 1 runs the conditional branch alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .. import canvas as cv
from ..errors import ConfigError, SamplingCancelled
from ..model.network import TWGTM, ReferenceFeatures
from .inputs import per_item
from .placement import Placement
from .schedulers import MAX_STEPS, make_scheduler

__all__ = ["Callback", "SamplerSettings", "SEED_RANGE", "seeds_per_item", "is_cancelled", "initial_noise", "Denoiser"]

Callback = Callable[[int, int, torch.Tensor], object]


@dataclass
class SamplerSettings:
    """What one sampling call asks for, shared by every task."""

    seeds: list[int]  # one per item
    steps: int
    guidance: float
    scheduler: str
    callback: Callback | None  # called after each step with (step, steps, latents); False stops
    cancel: object  # an Event (`is_set`), a callable or a bool; checked before each step
    cfg_batched: bool


SEED_RANGE = 2 ** 64  # torch.Generator.manual_seed takes 0 .. 2^64 - 1 (ComfyUI's KSampler seed range)


def seeds_per_item(seed, b: int) -> list[int]:
    """An int gives seed, seed+1, ... (wrapping past 2^64 - 1); a list gives one seed per item."""
    if isinstance(seed, (list, tuple)):
        return [int(s) % SEED_RANGE for s in per_item(seed, b, "seed")]
    return [(int(seed) + i) % SEED_RANGE for i in range(b)]


def is_cancelled(cancel) -> bool:
    """Whether a cancel flag (None, an Event, a callable or a bool) asks to stop."""
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel() if callable(cancel) else cancel)


def initial_noise(seeds: list[int], shape: tuple[int, ...], device) -> torch.Tensor:
    """Gaussian noise (B,*shape), item i drawn on the CPU from seeds[i]."""
    return torch.cat([torch.randn((1, *shape), generator=torch.Generator("cpu").manual_seed(s))
                      for s in seeds]).to(device)  # (B,*shape)


@dataclass
class _Conditions:
    """The latent-space inputs of one canvas batch besides the noisy latent, per CFG branch."""

    mask: torch.Tensor  # (B,1,h,w2) latent mask
    masked: torch.Tensor  # (B,4,h,w2) masked-canvas latent
    sam: torch.Tensor  # (B,1+N,D) F_SAM
    null_masked: torch.Tensor | None = None  # (B,4,h,w2) reference half zeroed; None without CFG
    null_sam: torch.Tensor | None = None  # (B,1+N,D) zeros
    batched: tuple | None = None  # (mask (2B,1,h,w2), masked (2B,4,h,w2), sam (2B,1+N,D)): [uncond | cond]


class Denoiser:
    """Runs the denoising loop of a TWGTM model on prepared canvases, its parts placed by `placement`."""

    def __init__(self, model: TWGTM, placement: Placement | None = None):
        self.model = model
        self.placement = placement or Placement(model)

    def sample(self, canvas: cv.Canvas, feats: ReferenceFeatures, settings: SamplerSettings,
               unet: Callable | None = None) -> torch.Tensor:
        """Denoise one canvas batch; returns the decoded target half (B,3,H,W) float32 in [-1,1].

        `unet`: the module to call at each step (a compiled UNet), default the model's own.
        """
        model = self.model
        if not 1 <= int(settings.steps) <= MAX_STEPS:
            raise ConfigError(f"steps must be between 1 and {MAX_STEPS}, got {settings.steps}")
        device = self.placement.device
        with torch.no_grad():
            cond = self._conditions(canvas, feats, settings, device)
            noise = initial_noise(settings.seeds, tuple(cond.masked.shape[1:]), device)  # (B,4,h,w2)
            scheduler = make_scheduler(settings.scheduler, model.config.prediction_type, model.config.zero_terminal_snr)
            scheduler.set_timesteps(int(settings.steps), device=device)
            latents = noise * scheduler.init_noise_sigma
            timesteps = scheduler.timesteps
            try:
                for i, t in enumerate(timesteps):
                    if is_cancelled(settings.cancel):
                        raise SamplingCancelled(f"sampling cancelled before step {i + 1} of {len(timesteps)}")
                    pred = self._noise_prediction(scheduler, latents, t, cond, settings, unet, device)  # (B,4,h,w2)
                    latents = scheduler.step(pred, t, latents).prev_sample
                    if settings.callback is not None and settings.callback(i + 1, len(timesteps), latents) is False:
                        raise SamplingCancelled(f"sampling stopped by the callback after step {i + 1} of {len(timesteps)}")
            finally:
                model.context.clear()
            # Decode the whole canvas, then keep the target half: the VAE saw whole canvases in training,
            # and its GroupNorm statistics shift when it decodes one half alone.
            self.placement.use("vae")
            return cv.split(model.decode(latents).float(), canvas.axis)[0]  # (B,3,H,W)

    def _conditions(self, canvas: cv.Canvas, feats: ReferenceFeatures, settings: SamplerSettings, device) -> _Conditions:
        """Encode the masked canvas, build the CFG null condition and install F_SRM (K'/V' once, on B tokens)."""
        model = self.model
        self.placement.use("vae")
        masked = model.encode(canvas.masked.to(device)).float()  # (B,4,h,w2), cast to the VAE's own dtype
        self.placement.use("unet")
        mask = cv.latent_mask(canvas.mask.to(device).float(), masked.shape[-2:])  # (B,1,h,w2)
        cond = _Conditions(mask, masked, feats.sam_tokens.to(device))
        if float(settings.guidance) == 1.0:
            model.set_reference(feats.srm_tokens)
            return cond
        b = masked.shape[0]
        cond.null_masked, cond.null_sam = cv.null_reference(masked, canvas.axis), model.null_sam_tokens(cond.sam)
        if settings.cfg_batched:  # one UNet batch: [unconditional (B) | conditional (B)]
            cond.batched = (torch.cat([mask, mask]), torch.cat([cond.null_masked, masked]), torch.cat([cond.null_sam, cond.sam]))
            weights = torch.cat([torch.zeros(b, device=device), torch.ones(b, device=device)])  # (2B,) SRM weight per row
            model.set_reference(feats.srm_tokens, weights)
        else:
            model.set_reference(feats.srm_tokens)
        return cond

    def _noise_prediction(self, scheduler, latents: torch.Tensor, t: torch.Tensor, cond: _Conditions,
                          settings: SamplerSettings, unet: Callable | None, device) -> torch.Tensor:
        """The (guided) noise prediction (B,4,h,w2) at timestep `t`."""
        if cond.null_masked is None:  # guidance 1: the conditional branch alone
            x = scheduler.scale_model_input(latents, t)
            return self._unet(cv.unet_input(x, cond.mask, cond.masked), t, cond.sam, unet, device)
        if settings.cfg_batched:
            x = scheduler.scale_model_input(torch.cat([latents, latents]), t)  # (2B,4,h,w2)
            mask, masked, sam = cond.batched
            eps_uncond, eps_cond = self._unet(cv.unet_input(x, mask, masked), t, sam, unet, device).chunk(2)
        else:  # sequential branches: the same numbers, two UNet calls
            b = latents.shape[0]
            x = scheduler.scale_model_input(latents, t)
            self.model.context.set_weight(torch.zeros(b, device=device))
            eps_uncond = self._unet(cv.unet_input(x, cond.mask, cond.null_masked), t, cond.null_sam, unet, device)
            self.model.context.set_weight(None)
            eps_cond = self._unet(cv.unet_input(x, cond.mask, cond.masked), t, cond.sam, unet, device)
        return eps_uncond + settings.guidance * (eps_cond - eps_uncond)

    def _unet(self, x: torch.Tensor, t: torch.Tensor, sam: torch.Tensor, unet: Callable | None, device) -> torch.Tensor:
        """One UNet call on (N,9,h,w2) at timestep `t` (one for every row) -> float32 noise (N,4,h,w2)."""
        steps = t.reshape(1).expand(x.shape[0]).to(device)  # (N,)
        return self.model.unet_step(x, steps, sam, unet=unet).float()
