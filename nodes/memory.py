"""The pipeline's memory hooks in ComfyUI: its memory manager frees what a run needs, --lowvram loads parts in turn.

- Before each attempt of a run the pipeline estimates its activation bytes
  (twgtm.sampling.memory_plan); `ComfyMemoryHooks.reserve` asks `comfy.model_management` for them
  (`load_models_gpu(memory_required=...)`, as core's VAE decode does: other models are offloaded
  until the weights and that much fit). After an out-of-memory error `release` empties the cache
  (`soft_empty_cache`), and `free_bytes` is ComfyUI's own count for the error message.
- With --lowvram / --novram on a GPU (`vram_state` LOW_VRAM / NO_VRAM) the model stays on the offload
  device and `SequentialPlacement` brings one phase's parts at a time (encoders, VAE, UNet),
  freeing their bytes plus the activations first (`free_memory`). Our diffusers / transformers
  modules are plain torch, which ComfyUI's own partial loading cannot stream, so this replaces it.
- The encoder cache keeps its features on the offload device (the CPU), outside the GPU.
- The VAE's dtype follows core's rule for SD VAEs (`vae_dtype` with working dtypes bf16, fp32, and
  the --fp16-vae / --bf16-vae / --fp32-vae switches): fp32 on GPUs without bf16, never fp16 by default.
"""
from __future__ import annotations

import logging

import torch

import comfy.model_management as mm

from ..twgtm import MemoryHooks, Placement, SequentialPlacement
from ..twgtm.sampling.memory_plan import format_bytes

logger = logging.getLogger("twgtm")

__all__ = ["SD_VAE_DTYPES", "ComfyMemoryHooks", "parts_one_at_a_time", "placement_for", "vae_dtype_for"]

SD_VAE_DTYPES = [torch.bfloat16, torch.float32]  # core's working dtypes of an SD (AutoencoderKL) VAE


def vae_dtype_for(load_device: torch.device) -> torch.dtype:
    """The VAE dtype ComfyUI would pick for an SD VAE on `load_device`."""
    return mm.vae_dtype(load_device, SD_VAE_DTYPES)


def parts_one_at_a_time(load_device: torch.device) -> bool:
    """Whether ComfyUI runs with --lowvram / --novram on this (non-CPU) device."""
    return torch.device(load_device).type != "cpu" and mm.vram_state in (mm.VRAMState.LOW_VRAM, mm.VRAMState.NO_VRAM)


class ComfyMemoryHooks(MemoryHooks):
    """Asks ComfyUI's memory manager for each attempt's activation bytes (and the model, unless loaded in parts)."""

    def __init__(self, patcher, in_parts: bool = False):
        self.patcher = patcher
        self.in_parts = in_parts
        self.pending = 0  # the activation bytes of the attempt now running (freed beside each part under --lowvram)

    def reserve(self, nbytes: int, device: torch.device) -> None:
        """Free `nbytes` for activations on `device` (and load the model, when it is loaded whole)."""
        self.pending = int(nbytes)
        logger.info("TWGTM: reserving %s for activations on %s", format_bytes(nbytes), device)
        if self.in_parts:
            mm.free_memory(self.pending, torch.device(device))
        else:
            mm.load_models_gpu([self.patcher], memory_required=self.pending, force_full_load=True)

    def release(self, device: torch.device) -> None:
        """After an out-of-memory error: collect garbage and empty ComfyUI's cache."""
        super().release(device)
        mm.soft_empty_cache()

    def free_bytes(self, device: torch.device) -> int | None:
        """ComfyUI's count of free memory on `device`."""
        return int(mm.get_free_memory(torch.device(device)))

    def before_part(self, nbytes: int, device: torch.device) -> None:
        """--lowvram: free a part's bytes plus the running attempt's activations before the part arrives."""
        mm.free_memory(int(nbytes) + self.pending, torch.device(device))


def placement_for(model, hooks: ComfyMemoryHooks, load_device: torch.device, offload_device: torch.device) -> Placement:
    """SequentialPlacement under --lowvram / --novram on a GPU, else every part where ComfyUI loads it."""
    if hooks.in_parts:
        logger.info("TWGTM: --lowvram/--novram: the encoders, the VAE and the UNet go to %s one at a time", load_device)
        return SequentialPlacement(model, load_device, offload_device, before_load=hooks.before_part)
    return Placement(model)
