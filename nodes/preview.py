"""Live latent previews on the TWGTM samplers, shown by ComfyUI like KSampler's.

Previews follow ComfyUI's --preview-method (none by default: no preview, no cost). Models with Stable
Diffusion 1.x latents (SD-size TWGTM checkpoints, the CatVTON / TryOffAnyone profiles) use core's own
previewer for that latent format (`latent_preview.get_previewer` with `latent_formats.SD15`: its
latent -> RGB factors, or TAESD when it is installed and chosen). Other VAEs, like the demo model's
4-channel VAE trained from scratch, get the linear latent -> RGB map of twgtm.sampling.preview,
fitted on the run's own input images (one small VAE encoding per run). Each step shows the target
half of the first item's canvas.
"""
from __future__ import annotations

from typing import Callable

import torch
from PIL import Image

import comfy.latent_formats
import latent_preview
from comfy.cli_args import LatentPreviewMethod, args

from ..twgtm.sampling.preview import fit_latent_rgb, is_sd_latent_format, preview_rgb
from ..twgtm import canvas as cv

__all__ = ["previewer_for"]

Preview = Callable[[torch.Tensor], tuple]


def previewer_for(pipeline, images: list[torch.Tensor]) -> Preview | None:
    """A function from the canvas latents (B,C,h,w) to ComfyUI's preview tuple, or None when previews are off.

    `images`: the run's input pixels (each (B,3,H,W) in [-1,1]) for the fitted map of non-SD VAEs.
    """
    if args.preview_method == LatentPreviewMethod.NoPreviews:
        return None
    axis = pipeline.config.concat_axis
    if is_sd_latent_format(pipeline.config):
        core = latent_preview.get_previewer(pipeline.device, comfy.latent_formats.SD15())
        if core is None:
            return None
        return lambda latents: core.decode_latent_to_preview_image("JPEG", cv.split(latents[:1], axis)[0])
    to_rgb = fit_latent_rgb(pipeline.model, images)

    def preview(latents: torch.Tensor) -> tuple:
        rgb = preview_rgb(latents, axis, to_rgb)  # (h,w,3) uint8
        return "JPEG", Image.fromarray(rgb.numpy()), latent_preview.MAX_PREVIEW_RESOLUTION
    return preview
