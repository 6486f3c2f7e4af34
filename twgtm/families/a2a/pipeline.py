"""Any2AnyTryon on diffusers parts: canvas -> VAE latents -> clean-reset flow-matching loop -> target decoded.

The random stream follows the published pipeline by default (`noise="published"`): one CPU
generator seeded with `seed` is drawn first for the VAE posterior sample of the blank target
panel, then for the condition strip's posterior sample, then for the noise of the whole canvas,
of which the target's columns are the starting latents. `noise="target"` draws only the target's
noise (`torch.randn` on a generator seeded with `seed`, as ComfyUI's KSampler does) and
`vae_sample=False` uses the posterior mean, as ComfyUI's VAEEncode does.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Callable

import torch

from ...errors import InputError
from .layout import Canvas, plan_canvas, split_strip
from .memory import MemoryOptions, check_budget, dims_of, dtype_bytes, peak_bytes
from .packing import pack, unpack
from .position_ids import canvas_ids, text_ids
from .prompts import resolve_prompt
from .sampler import SamplerInputs, denoise
from .schedule import GUIDANCE, MAX_STEPS, STEPS, shift_mu, shifted_sigmas
from .tasks import get_task
from .text import T5_LENGTH, encode_prompts

log = logging.getLogger("twgtm")
NOISE_MODES = ("published", "target")


@dataclass
class A2AParts:
    """The diffusers / transformers modules of one FLUX.1 model."""

    transformer: torch.nn.Module  # diffusers FluxTransformer2DModel
    vae: torch.nn.Module  # diffusers AutoencoderKL, 16 latent channels
    clip: torch.nn.Module  # transformers CLIPTextModel
    clip_tokenizer: object
    t5: torch.nn.Module  # transformers T5EncoderModel
    t5_tokenizer: object


@dataclass
class A2AResult:
    """Output images (cropped back) and what produced them."""

    images: torch.Tensor  # (B,3,h,w) in [-1,1]: the model image's size for try-on, else the target size
    target: torch.Tensor  # (B,3,H,W) decoded target panel before cropping
    tokens: torch.Tensor  # (B,Nt,64) final target tokens
    canvas: Canvas
    prompt: list[str]


class A2APipeline:
    """Runs the four tasks on one set of parts, with the chosen memory options."""

    def __init__(self, parts: A2AParts, device="cpu", dtype: torch.dtype = torch.float32,
                 memory: MemoryOptions | None = None, max_sequence_length: int = T5_LENGTH):
        self.parts = parts
        self.device = torch.device(device)
        self.dtype = dtype
        self.memory = memory or MemoryOptions(dtype_bytes=dtype_bytes(dtype))
        self.max_sequence_length = max_sequence_length
        self.guidance_embeds = bool(getattr(parts.transformer.config, "guidance_embeds", False))
        self._resident = self.memory.offload == "none"
        if self.memory.vae_tiling:
            parts.vae.enable_tiling()
        if self._resident:
            for module in (parts.transformer, parts.vae, parts.clip, parts.t5):
                module.to(self.device)

    @contextlib.contextmanager
    def _on_device(self, module: torch.nn.Module, grouped: bool = False):
        """Model offload: keep `module` on the device only inside the block (group-offloaded modules move themselves)."""
        if self._resident or grouped:
            yield module
            return
        module.to(self.device)
        try:
            yield module
        finally:
            module.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    # ----- encoding -------------------------------------------------------------------------------
    def encode_text(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(T5 hidden (B,L,D), CLIP pooled (B,768)) in the compute dtype."""
        p = self.parts
        with self._on_device(p.clip), self._on_device(p.t5):
            hidden, pooled = encode_prompts(prompts, p.clip, p.clip_tokenizer, p.t5, p.t5_tokenizer, self.device,
                                            self.max_sequence_length)
        return hidden.to(self.dtype), pooled.to(self.dtype)

    def _vae_latent(self, pixels: torch.Tensor, generator, sample: bool) -> torch.Tensor:
        """Pixels (B,3,H,W) -> scaled latent (B,16,H/8,W/8)."""
        vae = self.parts.vae
        dist = vae.encode(pixels.to(self.device, vae.dtype)).latent_dist
        raw = dist.sample(generator) if sample else dist.mode()
        return (raw - vae.config.shift_factor) * vae.config.scaling_factor

    @torch.no_grad()
    def encode_conditions(self, canvas: Canvas, generator=None, vae_sample: bool = True,
                          joint: bool = True) -> list[torch.Tensor]:
        """Clean latents of each condition panel, (B,16,H/8,w_i/8) each.

        joint=True encodes the condition strip in one VAE call (as published) and splits it at the
        panel borders; joint=False encodes each panel alone (as ComfyUI's VAEEncode per reference).
        """
        with self._on_device(self.parts.vae):
            if joint:
                strip = self._vae_latent(canvas.strip(), generator, vae_sample)  # (B,16,h,sum w_i)
                return split_strip(strip, canvas.widths[1:])
            return [self._vae_latent(panel, generator, vae_sample) for panel in canvas.conditions]

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Scaled latent (B,16,h,w) -> pixels (B,3,8h,8w) in [-1,1]."""
        vae = self.parts.vae
        with self._on_device(vae):
            raw = latent.to(self.device, vae.dtype) / vae.config.scaling_factor + vae.config.shift_factor
            return vae.decode(raw, return_dict=False)[0].float().clamp(-1.0, 1.0)

    # ----- one run --------------------------------------------------------------------------------
    def _initial_noise(self, canvas: Canvas, generator, noise: str, vae_sample: bool, joint: bool, seed: int):
        """(target noise (B,16,h,wt), condition latents) drawn in the order of `noise`."""
        batch, (height, width) = canvas.batch, canvas.target_size
        h = height // 8
        if noise == "published":
            # the published pipeline first VAE-samples its blank target panel: the same draw, without the VAE
            torch.randn((batch, 16, h, width // 8), generator=generator, dtype=self.parts.vae.dtype)
            conditions = self.encode_conditions(canvas, generator, vae_sample, joint)
            full = torch.randn((batch, 16, h, canvas.size[1] // 8), generator=generator, dtype=self.dtype)
            return full[..., : width // 8], conditions
        conditions = self.encode_conditions(canvas, generator, vae_sample, joint)
        target_gen = torch.Generator("cpu").manual_seed(seed)
        return torch.randn((batch, 16, h, width // 8), generator=target_gen, dtype=torch.float32).to(self.dtype), \
            conditions

    def __call__(self, task: str, model: torch.Tensor | None = None, garment: torch.Tensor | None = None,
                 prompt: str | list[str] | None = None, size: tuple[int, int] | None = None, steps: int = STEPS,
                 guidance: float = GUIDANCE, seed: int = 0, noise: str = "published", vae_sample: bool = True,
                 joint_encoding: bool = True, min_side: int | None = None, memory_budget: int | None = None,
                 callback: Callable[[int, int, torch.Tensor], None] | None = None) -> A2AResult:
        """Run one task; `model` / `garment` are (B,3,H,W) pixels in [-1,1] (either may be a batch of one)."""
        the_task = get_task(task)
        if not 1 <= int(steps) <= MAX_STEPS:
            raise InputError(f"steps={steps}: expected 1..{MAX_STEPS} (30 is the published default)")
        if noise not in NOISE_MODES:
            raise InputError(f"noise={noise!r}: expected one of {', '.join(NOISE_MODES)}")
        if not self.guidance_embeds:
            raise InputError("this FLUX transformer has no guidance embedding (FLUX.1-schnell?); Any2AnyTryon's LoRAs "
                             "are trained on FLUX.1-dev: load a FLUX.1-dev transformer")
        limits = {} if min_side is None else {"min_side": min_side}
        canvas = plan_canvas(the_task, model, garment, size, **limits)
        grids = canvas.grids()
        budget = memory_budget if memory_budget is not None else _device_budget(self.device)
        estimate = peak_bytes(dims_of(self.parts.transformer, self.parts.t5, self.parts.clip, self.parts.vae,
                                      self.max_sequence_length),
                              canvas.size, canvas.target_size, canvas.token_count(), self.memory, canvas.batch)
        check_budget(estimate, budget, f"{task} at {canvas.target_size[0]}x{canvas.target_size[1]}")
        prompts = [prompt] * canvas.batch if prompt is None or isinstance(prompt, str) else list(prompt)
        if len(prompts) != canvas.batch:
            raise InputError(f"{len(prompts)} prompts for a batch of {canvas.batch}; give one or {canvas.batch}")
        prompts = [resolve_prompt(the_task, p) for p in prompts]
        text, pooled = self.encode_text(prompts)
        generator = torch.Generator("cpu").manual_seed(int(seed))
        target_noise, conditions = self._initial_noise(canvas, generator, noise, vae_sample, joint_encoding, seed)
        inputs = SamplerInputs(
            target=pack(target_noise.to(self.device, self.dtype)),  # (B, Nt, 64)
            conditions=torch.cat([pack(c.to(self.device, self.dtype)) for c in conditions], dim=1),  # (B, Nc, 64)
            img_ids=canvas_ids(the_task, grids[0], grids[1:], device=self.device),
            text=text, pooled=pooled, txt_ids=text_ids(text.shape[1], device=self.device), guidance=guidance)
        sigmas = shifted_sigmas(int(steps), shift_mu(canvas.token_count()))
        log.info("any2anytryon %s: target %dx%d, canvas %dx%d px, %d image tokens, %d steps", task,
                 *canvas.target_size, *canvas.size, canvas.token_count(), steps)
        grouped = self.memory.offload == "group"
        with self._on_device(self.parts.transformer, grouped=grouped):
            tokens = denoise(self.parts.transformer, inputs, sigmas, callback)
        target = self.decode(unpack(tokens, grids[0]))  # (B,3,H,W)
        return A2AResult(canvas.crop_back(target), target, tokens, canvas, prompts)


def _device_budget(device: torch.device) -> int | None:
    """Total memory of a CUDA device; None elsewhere (no check on the CPU)."""
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_properties(device).total_memory
    return None
