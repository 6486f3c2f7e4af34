"""The model inside ComfyUI's memory manager, the per-step progress bar and cancel point, output placement.

A TWGTM_MODEL socket carries a `LoadedTWGTM`: the `ModelPatcher` ComfyUI loads and offloads, and the
one pipeline `twgtm.load_model` built for that model when it was loaded. Every sampler, encoder and mask node run
on it reuses that pipeline (and so its encoder cache and speed settings); nothing is held on a node
class, and a new load (another file, device or dtype) is a new model with a new pipeline.

ComfyUI's `ModelPatcher` (0.3.75) works with any `nn.Module`: it only adds book-keeping attributes
(`device`, `model_loaded_weight_memory`, ...) and moves modules with `.to()`. Its partial ("lowvram")
loading, however, only streams weights of modules built from `comfy.ops` (those with
`comfy_cast_weights`); other modules that do not fit would silently stay on the offload device. Our
diffusers/transformers/timm modules are plain torch, so we always ask for a full load
(`force_full_load=True`) and never get a model split across devices; under --lowvram / --novram the
pipeline loads its parts one at a time instead (nodes/memory.py, which also holds the memory hooks,
the encoder cache's device and the VAE dtype).
"""
from __future__ import annotations

import logging

import torch

import comfy.model_management as mm
import comfy.model_patcher
import comfy.utils

from ..twgtm import InputError, Pipeline
from .convert import pixels_to_image, tensor_to_mask
from .memory import ComfyMemoryHooks, parts_one_at_a_time, placement_for, vae_dtype_for

logger = logging.getLogger("twgtm")

__all__ = ["LoadedTWGTM", "wrap_model", "loaded_pipeline", "log_run", "auto_dtype", "StepProgress", "image_output",
           "mask_output"]


class LoadedTWGTM:
    """The TWGTM_MODEL value: a ModelPatcher around a TWGTM, the pipeline built once for it, its memory hooks."""

    def __init__(self, patcher: comfy.model_patcher.ModelPatcher, pipeline: Pipeline,
                 hooks: ComfyMemoryHooks | None = None):
        self.patcher = patcher
        self.pipeline = pipeline
        self.hooks = hooks

    def __repr__(self) -> str:
        return f"LoadedTWGTM({self.pipeline.config.name} preset, load device {self.patcher.load_device})"


def wrap_model(pipeline: Pipeline, load_device: torch.device) -> LoadedTWGTM:
    """A ModelPatcher that loads the pipeline's model to `load_device` when used (offloading it to ComfyUI's offload
    device), with the pipeline's memory hooks and placement set for ComfyUI."""
    model = pipeline.model.eval().requires_grad_(False)
    offload_device = mm.unet_offload_device() if load_device.type != "cpu" else torch.device("cpu")
    vae_dtype = vae_dtype_for(load_device)
    if model.vae.dtype != vae_dtype:
        logger.info("TWGTM VAE in %s (ComfyUI's VAE dtype on %s)", vae_dtype, load_device)
        model.vae.to(vae_dtype)
    model.to(offload_device)
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=load_device, offload_device=offload_device)
    in_parts = parts_one_at_a_time(load_device)
    if in_parts and not pipeline.loads_in_parts:  # its project's sampler reads the UNet's device: loaded whole
        logger.info("TWGTM: --lowvram/--novram: the %s model is loaded whole (its sampler runs UNet and VAE on one "
                    "device)", pipeline.family)
        in_parts = False
    hooks = ComfyMemoryHooks(patcher, in_parts=in_parts)
    pipeline.set_memory(hooks, placement_for(model, hooks, load_device, offload_device))
    pipeline.encoder_cache.store_device = torch.device(offload_device)  # cached features stay off the GPU
    logger.info("TWGTM pipeline built for the %s model (load device %s)", model.config.name, load_device)
    return LoadedTWGTM(patcher, pipeline, hooks)


def loaded_pipeline(model: LoadedTWGTM) -> Pipeline:
    """Load the model onto its device through ComfyUI (freeing other models if needed); return its one pipeline."""
    if not isinstance(model, LoadedTWGTM):
        raise InputError(f"expected a TWGTM_MODEL from 'TWGTM Model Loader', got {type(model).__name__}; "
                         "connect the loader's model output")
    patcher = model.patcher
    if model.hooks is not None and model.hooks.in_parts:  # --lowvram / --novram: the pipeline loads its parts itself
        return model.pipeline
    mm.load_models_gpu([patcher], force_full_load=True)
    devices = {p.device for p in patcher.model.parameters()}
    if len(devices) > 1:  # e.g. after a partial offload by another node: never run split across devices
        logger.debug("TWGTM model split across %s; moving it to %s", devices, patcher.load_device)
        patcher.model.to(patcher.load_device)
    return model.pipeline


def log_run(node: str, pipeline: Pipeline, batch: int, progress: "StepProgress | None" = None) -> None:
    """One console line per node run: what ran, the encoder cache's counts on this model so far, the previews sent."""
    cache = pipeline.encoder_cache
    previews = f"; {progress.previews} preview(s)" if progress is not None and progress.preview is not None else ""
    logger.info("%s: %d item(s) done; encoder cache on this model: %d hit(s), %d miss(es)%s",
                node, batch, cache.hits, cache.misses, previews)


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
    """The pipeline's per-step callback: advances ComfyUI's progress bar (with a live preview) and is its cancel point."""

    def __init__(self, steps: int, passes: int = 1, preview=None):
        self.passes = max(1, int(passes))
        self.bar = comfy.utils.ProgressBar(max(1, int(steps)) * self.passes)
        self.offset = 0  # steps done in finished passes
        self.last = 0  # last step reported in this pass
        self.preview = preview  # latents -> ComfyUI preview tuple (nodes/preview.py), or None
        self.previews = 0  # previews sent

    def start(self) -> "StepProgress":
        """Cancel point before any work."""
        mm.throw_exception_if_processing_interrupted()
        return self

    def __call__(self, step: int, total: int, latents=None) -> None:
        """Called after each denoising step (1-based `step` of `total` in the current pass)."""
        if step <= self.last:  # a new pass started (round trip: try-off, then try-on)
            self.offset += self.last
        self.last = step
        image = None
        if self.preview is not None and latents is not None:
            image = self.preview(latents)
            self.previews += 1
        self.bar.update_absolute(self.offset + step, total * self.passes, image)
        mm.throw_exception_if_processing_interrupted()  # raises InterruptProcessingException on cancel


def image_output(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels (B,3,H,W) in [-1,1] -> ComfyUI IMAGE (B,H,W,3) on the intermediate device."""
    return pixels_to_image(pixels.detach().cpu()).to(mm.intermediate_device())


def mask_output(mask: torch.Tensor) -> torch.Tensor:
    """Mask (B,1,H,W) -> ComfyUI MASK (B,H,W) on the intermediate device."""
    return tensor_to_mask(mask.detach().float().cpu()).to(mm.intermediate_device())
