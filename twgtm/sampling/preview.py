"""A cheap live preview of the latents while sampling: a linear map from latent channels to RGB.

Stable-Diffusion-format latents have published factors (ComfyUI's own previewer uses them, and the
nodes hand such models to it). A VAE trained from scratch, like the demo model's 4-channel VAE with
latent scale 1.0, has none, so `fit_latent_rgb` measures one for the images of the run: it encodes
them once (downscaled to at most 256 px), pairs every latent cell with the mean colour of the pixels
it covers, and solves the least-squares map latent -> RGB with a bias. Flat colour patches would
need no input, but this VAE is far from linear on them (a correlation of 0.3 with the true colours
of a toy person, against 0.8 to 0.95 for a fit on the run's own person and garment). Per step the
preview then costs a C x 3 matrix product per latent cell, no decoder pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import canvas as cv

__all__ = ["LatentRGB", "is_sd_latent_format", "fit_latent_rgb", "preview_rgb"]


@dataclass(frozen=True)
class LatentRGB:
    """RGB in [-1, 1] = latent (C) @ factors (C,3) + bias (3,)."""

    factors: torch.Tensor  # (C,3)
    bias: torch.Tensor  # (3,)

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (C,h,w) -> an RGB image (h,w,3) as uint8."""
        rgb = latents.detach().float().cpu().movedim(0, -1) @ self.factors + self.bias  # (h,w,3) in [-1,1]
        return ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def is_sd_latent_format(config) -> bool:
    """Whether a model's latents are Stable Diffusion 1.x's (4 channels, scale 0.18215): previewed by core factors."""
    vae = config.vae
    return int(vae.get("latent_channels", 4)) == 4 and abs(float(vae.get("scaling_factor", 0.0)) - 0.18215) < 1e-6


def _cells(model, images: torch.Tensor, max_side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(latent cells (n,C), their mean colours (n,3)) of a batch of images (N,3,H,W) in [-1,1]."""
    f = model.config.vae_scale_factor
    scale = min(1.0, max_side / max(images.shape[-2:]))
    size = [max(2 * f, int(s * scale) // f * f) for s in images.shape[-2:]]
    small = F.interpolate(images.float().cpu(), size=size, mode="area")  # (N,3,h,w), sides a multiple of f
    first = next(model.vae.parameters())
    latents = model.encode(small.to(first.device, first.dtype)).float().cpu()  # (N,C,h/f,w/f)
    colours = F.interpolate(small, size=latents.shape[-2:], mode="area")  # (N,3,h/f,w/f): each cell's mean colour
    return latents.movedim(1, -1).reshape(-1, latents.shape[1]), colours.movedim(1, -1).reshape(-1, 3)


@torch.no_grad()
def fit_latent_rgb(model, images, max_side: int = 256) -> LatentRGB:
    """Measure a model's latent -> RGB map on `images`: one batch (N,3,H,W) in [-1,1] or a list of them."""
    batches = [images] if isinstance(images, torch.Tensor) else list(images)
    pairs = [_cells(model, batch, max_side) for batch in batches]
    cells = torch.cat([c for c, _ in pairs])  # (n,C)
    colours = torch.cat([c for _, c in pairs])  # (n,3)
    design = torch.cat([cells, torch.ones(len(cells), 1)], dim=1)  # (n,C+1)
    solution = torch.linalg.lstsq(design, colours).solution  # (C+1,3)
    return LatentRGB(solution[:-1].contiguous(), solution[-1].contiguous())


def preview_rgb(latents: torch.Tensor, axis: str, to_rgb) -> torch.Tensor:
    """The target half of the first item's canvas latents (B,C,h,w) through `to_rgb` (a LatentRGB or alike)."""
    target = cv.split(latents[:1], axis)[0][0]  # (C,h,w2/2) or (C,h/2,w)
    return to_rgb(target)
