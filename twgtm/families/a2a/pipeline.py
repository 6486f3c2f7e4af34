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
from ...results import ImageResult, RoundTripResult
from ...validate import CallRules, a2a_rules
from ...verbs import VERBS, Pipeline
from .layout import PanelCanvas, plan_panels, split_strip
from .memory import MemoryOptions, check_budget, dims_of, dtype_bytes, peak_bytes
from .packing import pack, unpack
from .position_ids import canvas_ids, text_ids
from .prompts import resolve_prompt
from .sampler import SamplerInputs, denoise
from .schedule import GUIDANCE, STEPS, shift_mu, shifted_sigmas
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
class A2AResult(ImageResult):
    """Output images (cropped back) and what produced them."""

    images: torch.Tensor  # (B,3,h,w) in [-1,1]: the model image's size for try-on, else the target size
    target: torch.Tensor  # (B,3,H,W) decoded target panel before cropping
    tokens: torch.Tensor  # (B,Nt,64) final target tokens
    canvas: PanelCanvas
    prompt: list[str]


class A2APipeline(Pipeline):
    """Runs the four tasks on one set of parts, with the chosen memory options.

    `twgtm.load_model(family="a2a", flux=..., lora=...)` builds it. Its verbs: `tryon`, `modelfree`,
    `reconstruct`, `layered`, and `tryoff` (= `reconstruct`: the garment the person wears, laid flat)
    and `roundtrip` (A's garment reconstructed, then tried on B); each takes the person image as
    `person` (the method's "model image"). `run(task, ...)` runs a task by name.

    Args:
        parts: the FLUX.1 modules (`A2AParts`).
        device: where it computes.
        dtype: the compute dtype.
        memory: the memory options (offload, fp8 storage, VAE tiling).
        max_sequence_length: T5 tokens (512, as published).
    """

    family = "a2a"
    default_steps = STEPS
    tasks = VERBS  # every verb: the four tasks, try-off (reconstruct) and the round trip

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
    def encode_conditions(self, canvas: PanelCanvas, generator=None, vae_sample: bool = True,
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
    def _initial_noise(self, canvas: PanelCanvas, generator, noise: str, vae_sample: bool, joint: bool, seed: int):
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

    def call_rules(self) -> CallRules:
        """The checks of every verb's arguments: FLUX's guidance, the method's steps and sizes; mask-free."""
        return CallRules(values=a2a_rules(), masks=False)

    # ----- the verbs ------------------------------------------------------------------------------
    def tryon(self, person: torch.Tensor, garment: torch.Tensor, mask=None, **options) -> A2AResult:
        """Dress `person` in `garment`, mask-free, at any size.

        Args:
            person: (B,3,H,W) the model image in [-1, 1].
            garment: (1|B,3,h,w) the garment.
            mask: must be None (Any2AnyTryon finds the garment region itself).
            **options: prompt, size, steps, guidance, seed, callback and the rest of `run`.

        Returns:
            A2AResult: `images` (B,3,H,W) at the person's size.
        """
        self._mask_free(mask)
        return self.run("tryon", person=person, garment=garment, **options)

    def tryoff(self, person: torch.Tensor, *, mask=None, **options) -> A2AResult:
        """The garment `person` wears, laid flat: Any2AnyTryon's garment reconstruction.

        Args:
            person: (B,3,H,W) the dressed model image.
            mask: must be None (mask-free).
            **options: as `run`.

        Returns:
            A2AResult: `images` (B,3,H,W) at the target size.
        """
        self._mask_free(mask)
        return self.run("reconstruct", person=person, **options)

    def roundtrip(self, person_a: torch.Tensor, person_b: torch.Tensor | None = None, *, mask_a=None, mask_b=None,
                  **options) -> RoundTripResult:
        """Reconstruct A's garment, then dress B (default A) in it.

        Args:
            person_a: (B,3,H,W) persons whose garment is taken.
            person_b: (1|B,3,H',W') persons to dress (default: A).
            mask_a, mask_b: must be None (mask-free).
            **options: as `run` (size, steps, guidance, seed, callback), for both passes; the prompts
                are each task's template.

        Returns:
            RoundTripResult: `garments` (the reconstruction), `dressed` (the try-on).
        """
        self._mask_free(mask_a)
        self._mask_free(mask_b)
        if "prompt" in options:
            raise InputError("the round trip runs two tasks with their own prompt templates; call reconstruct and "
                             "tryon yourself to give each its prompt")
        off = self.run("reconstruct", person=person_a, **options)
        on = self.run("tryon", person=person_a if person_b is None else person_b, garment=off.images, **options)
        return RoundTripResult(garments=off, dressed=on)

    def modelfree(self, garment: torch.Tensor, **options) -> A2AResult:
        """A new person wearing `garment` (no model image).

        Args:
            garment: (B,3,h,w) the garment.
            **options: as `run`.

        Returns:
            A2AResult: `images` (B,3,H,W) at the target size.
        """
        return self.run("modelfree", garment=garment, **options)

    def reconstruct(self, person: torch.Tensor, **options) -> A2AResult:
        """The garment `person` wears, laid flat.

        Args:
            person: (B,3,H,W) the model image.
            **options: as `run`.

        Returns:
            A2AResult: `images` (B,3,H,W) at the target size.
        """
        return self.run("reconstruct", person=person, **options)

    def layered(self, person: torch.Tensor, garment: torch.Tensor, **options) -> A2AResult:
        """`garment` worn over what `person` already wears, in one pass (try-on geometry, a layering prompt).

        Args:
            person: (B,3,H,W) the dressed model image.
            garment: (1|B,3,h,w) the extra garment.
            **options: as `run`.

        Returns:
            A2AResult: `images` (B,3,H,W) at the person's size.
        """
        return self.run("layered", person=person, garment=garment, **options)

    @staticmethod
    def _mask_free(mask) -> None:
        """Any2AnyTryon takes no mask: a given one is an error that says so."""
        if mask is not None:
            raise InputError("Any2AnyTryon is mask-free: it finds the garment region itself; leave the mask out "
                             "(mask=None)")

    def run(self, task: str, person: torch.Tensor | None = None, garment: torch.Tensor | None = None,
            prompt: str | list[str] | None = None, size: tuple[int, int] | None = None, steps: int | None = None,
            guidance: float | None = None, seed: int = 0, noise: str = "published", vae_sample: bool = True,
            joint_encoding: bool = True, min_side: int | None = None, memory_budget: int | None = None,
            callback: Callable[[int, int, torch.Tensor], None] | None = None) -> A2AResult:
        """Run one task by name.

        Args:
            task: 'tryon', 'modelfree', 'reconstruct' or 'layered'.
            person: (B,3,H,W) the model image in [-1, 1] (tryon, reconstruct, layered).
            garment: (B,3,h,w) the garment (tryon, modelfree, layered); either may be a batch of one.
            prompt: a full prompt with <MODEL>/<GARMENT>/<TARGET> tags or a target description, one or one
                per item (default: the task's template).
            size: the target size (H, W), multiples of 16 in 256..2048 (default: from the first input, long side
                at most 1024).
            steps: flow-matching Euler steps (default 30).
            guidance: FLUX distilled guidance (default 3.5).
            seed: the noise seed.
            noise: 'published' (their random stream) or 'target' (only the target's noise, as ComfyUI's KSampler).
            vae_sample: sample the VAE posterior (True, as published) or take its mean.
            joint_encoding: encode the condition strip in one VAE call (as published).
            min_side: the smallest target side allowed (tests).
            memory_budget: bytes the run may use (default: a CUDA device's memory; no check on the CPU).
            callback: called after each step with (step, steps, latents).

        Returns:
            A2AResult: `images` cropped back, the decoded `target`, the final target `tokens`, the `canvas`.
        """
        steps = STEPS if steps is None else steps
        guidance = GUIDANCE if guidance is None else guidance
        the_task = get_task(task)
        if noise not in NOISE_MODES:
            raise InputError(f"noise={noise!r}: expected one of {', '.join(NOISE_MODES)}")
        if not self.guidance_embeds:
            raise InputError("this FLUX transformer has no guidance embedding (FLUX.1-schnell?); Any2AnyTryon's LoRAs "
                             "are trained on FLUX.1-dev: load a FLUX.1-dev transformer")
        limits = {} if min_side is None else {"min_side": min_side}
        canvas = plan_panels(the_task, person, garment, size, **limits)
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
