"""The model inside ComfyUI's memory manager, the per-step progress bar and cancel point, output placement.

A TWGTM_MODEL socket carries a `LoadedTWGTM`: the `ModelPatcher` ComfyUI loads and offloads, and the
one `TWGTMPipeline` built for that model when it was loaded. Every sampler, encoder and mask node run
on it reuses that pipeline (and so its encoder cache and speed settings); nothing is held on a node
class, and a new load (another file, device or dtype) is a new model with a new pipeline.

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

from ..twgtm.errors import InputError
from ..twgtm.sampling.pipeline import TWGTMPipeline
from .convert import pixels_to_image, tensor_to_mask

logger = logging.getLogger("twgtm")

__all__ = ["LoadedTWGTM", "wrap_model", "pipeline_for", "log_run", "auto_dtype", "StepProgress", "image_output",
           "mask_output"]


class LoadedTWGTM:
    """The TWGTM_MODEL value: a ModelPatcher around a TWGTM and the pipeline built once for it."""

    def __init__(self, patcher: comfy.model_patcher.ModelPatcher, pipeline: TWGTMPipeline):
        self.patcher = patcher
        self.pipeline = pipeline

    def __repr__(self) -> str:
        return f"LoadedTWGTM({self.pipeline.config.name} preset, load device {self.patcher.load_device})"


def wrap_model(model: torch.nn.Module, load_device: torch.device) -> LoadedTWGTM:
    """A ModelPatcher that loads `model` to `load_device` when used (offloading it to ComfyUI's offload device),
    and the model's pipeline."""
    offload_device = mm.unet_offload_device() if load_device.type != "cpu" else torch.device("cpu")
    model.to(offload_device)
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=load_device, offload_device=offload_device)
    pipeline = TWGTMPipeline(model)
    logger.info("TWGTM pipeline built for the %s model (load device %s)", model.config.name, load_device)
    return LoadedTWGTM(patcher, pipeline)


def pipeline_for(model: LoadedTWGTM) -> TWGTMPipeline:
    """Load the model onto its device through ComfyUI (freeing other models if needed); return its one pipeline."""
    if not isinstance(model, LoadedTWGTM):
        raise InputError(f"expected a TWGTM_MODEL from 'TWGTM Model Loader', got {type(model).__name__}; "
                         "connect the loader's model output")
    patcher = model.patcher
    mm.load_models_gpu([patcher], force_full_load=True)
    devices = {p.device for p in patcher.model.parameters()}
    if len(devices) > 1:  # e.g. after a partial offload by another node: never run split across devices
        logger.debug("TWGTM model split across %s; moving it to %s", devices, patcher.load_device)
        patcher.model.to(patcher.load_device)
    return model.pipeline


def log_run(node: str, pipeline: TWGTMPipeline, batch: int) -> None:
    """One console line per node run: what ran and the encoder cache's counts on this model so far."""
    cache = pipeline.encoder_cache
    logger.info("%s: %d item(s) done; encoder cache on this model: %d hit(s), %d miss(es)",
                node, batch, cache.hits, cache.misses)


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
