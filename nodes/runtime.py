"""The model inside ComfyUI's memory manager, the per-step progress bar and cancel point, output placement.

ComfyUI's `ModelPatcher` (0.3.75) works with any `nn.Module`: it only adds book-keeping attributes
(`device`, `model_loaded_weight_memory`, ...) and moves modules with `.to()`. Its partial ("lowvram")
loading, however, only streams weights of modules built from `comfy.ops` (those with
`comfy_cast_weights`); other modules that do not fit would silently stay on the offload device. Our
diffusers/transformers/timm modules are plain torch, so we always ask for a full load
(`force_full_load=True`) and never get a model split across devices.
"""
from __future__ import annotations

import logging

import torch

import comfy.model_management as mm
import comfy.model_patcher
import comfy.utils

from ..twgtm.sampling.pipeline import TWGTMPipeline
from .convert import pixels_to_image, tensor_to_mask

logger = logging.getLogger("twgtm")

__all__ = ["wrap_model", "pipeline_for", "auto_dtype", "StepProgress", "image_output", "mask_output"]


def wrap_model(model: torch.nn.Module, load_device: torch.device) -> comfy.model_patcher.ModelPatcher:
    """A ModelPatcher that loads `model` to `load_device` when used and offloads it to ComfyUI's offload device."""
    offload_device = mm.unet_offload_device() if load_device.type != "cpu" else torch.device("cpu")
    model.to(offload_device)
    return comfy.model_patcher.ModelPatcher(model, load_device=load_device, offload_device=offload_device)


def pipeline_for(patcher: comfy.model_patcher.ModelPatcher) -> TWGTMPipeline:
    """Load the model onto its device through ComfyUI (freeing other models if needed); a pipeline on it."""
    mm.load_models_gpu([patcher], force_full_load=True)
    model = patcher.model
    devices = {p.device for p in model.parameters()}
    if len(devices) > 1:  # e.g. after a partial offload by another node: never run split across devices
        logger.debug("TWGTM model split across %s; moving it to %s", devices, patcher.load_device)
        model.to(patcher.load_device)
    return TWGTMPipeline(model)


def auto_dtype(device: torch.device) -> torch.dtype:
    """fp32 on the CPU; bf16 on accelerators that support it, else fp16 where ComfyUI deems it safe, else fp32."""
    if device.type == "cpu":
        return torch.float32
    if mm.should_use_bf16(device, prioritize_performance=False):
        return torch.bfloat16
    if mm.should_use_fp16(device, prioritize_performance=False):
        return torch.float16
    return torch.float32


class StepProgress:
    """The pipeline's per-step callback: advances ComfyUI's progress bar and is its cancel point."""

    def __init__(self, steps: int, passes: int = 1):
        self.passes = max(1, int(passes))
        self.bar = comfy.utils.ProgressBar(max(1, int(steps)) * self.passes)
        self.offset = 0  # steps done in finished passes
        self.last = 0  # last step reported in this pass

    def start(self) -> "StepProgress":
        """Cancel point before any work."""
        mm.throw_exception_if_processing_interrupted()
        return self

    def __call__(self, step: int, total: int, latents=None) -> None:
        """Called after each denoising step (1-based `step` of `total` in the current pass)."""
        if step <= self.last:  # a new pass started (round trip: try-off, then try-on)
            self.offset += self.last
        self.last = step
        self.bar.update_absolute(self.offset + step, total * self.passes)
        mm.throw_exception_if_processing_interrupted()  # raises InterruptProcessingException on cancel


def image_output(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels (B,3,H,W) in [-1,1] -> ComfyUI IMAGE (B,H,W,3) on the intermediate device."""
    return pixels_to_image(pixels.detach().cpu()).to(mm.intermediate_device())


def mask_output(mask: torch.Tensor) -> torch.Tensor:
    """Mask (B,1,H,W) -> ComfyUI MASK (B,H,W) on the intermediate device."""
    return tensor_to_mask(mask.detach().float().cpu()).to(mm.intermediate_device())
