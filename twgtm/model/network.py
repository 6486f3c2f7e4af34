"""The TWGTM module: a 9-channel inpainting UNet + VAE + SAM + SRM + extended attention."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from .attention import (
    ExtendedAttention,
    ExtendedAttnProcessor,
    PassThroughProcessor,
    ReferenceContext,
    check_backend,
    module_key,
    self_attention_names,
)
from .config import TWGTMConfig, get_preset
from ..errors import ConfigError
from .prompts import tokenize
from .sam import SemanticAbstraction
from .srm import SpatialRefinement

# Parameter-name prefixes of each named part.
PARTS = {
    "unet": ("unet.",),
    "vae": ("vae.",),
    "clip": ("sam.clip.",),
    "qformer": ("sam.qformer.", "sam.query_tokens", "sam.global_proj.", "sam.qformer_proj."),
    "swin": ("srm.backbone.",),
    "taskformer": ("srm.proj.", "srm.taskformer."),
    "srm_decoder": ("srm.decoder.",),
    "extended_attention": ("extended_attention.",),
}
# What each training stage trains (DESIGN.md, Training). The CLIP encoder, Swin and VAE stay frozen
# at real scale; the from-scratch demo preset adds them (see `trainable_parts`).
STAGE_PARTS = {
    1: ("unet", "qformer", "taskformer"),
    2: ("unet", "qformer", "taskformer", "srm_decoder", "extended_attention"),
}


@dataclass
class ReferenceFeatures:
    """Everything computed once from the reference image (per sampling run, not per step)."""

    sam_tokens: torch.Tensor  # F_SAM (B,1+N,cross_dim)
    srm_tokens: torch.Tensor | None  # F_SRM (B,S,srm_dim), None when extended attention is off
    garment_mask_logits: torch.Tensor  # TFQ_0 (B,1,h/4,w/4)
    unit_mask_logits: list


@dataclass
class TWGTMOutput:
    """One training forward: the noise prediction and the garment-mask logits."""

    noise_pred: torch.Tensor  # (B,4,h,w)
    garment_mask_logits: torch.Tensor  # (B,1,h',w')
    unit_mask_logits: list


def part_of(param_name: str) -> str | None:
    """The named part a parameter belongs to (see PARTS), or None."""
    for part, prefixes in PARTS.items():
        if param_name.startswith(prefixes):
            return part
    return None


def trainable_parts(stage: int, train_encoders: bool = False) -> tuple[str, ...]:
    """Parts trained in a stage; `train_encoders` adds CLIP and Swin (from-scratch presets)."""
    if stage not in STAGE_PARTS:
        raise ConfigError(f"training stage must be one of {sorted(STAGE_PARTS)}, got {stage!r}")
    parts = STAGE_PARTS[stage]
    return parts + (("clip", "swin") if train_encoders else ())


class TWGTM(nn.Module):
    """One model for try-on and try-off; `forward` returns the noise and garment-mask predictions."""

    def __init__(self, config: TWGTMConfig | str):
        super().__init__()
        if isinstance(config, str):
            config = get_preset(config)
        self.config = config
        self.unet = UNet2DConditionModel(**config.unet)
        self.vae = AutoencoderKL(**config.vae)
        self.sam = SemanticAbstraction(
            clip=config.clip, qformer=config.qformer, num_query_tokens=config.num_query_tokens,
            cross_attention_dim=config.cross_attention_dim,
        )
        self.srm = SpatialRefinement(
            swin=config.swin, image_size=config.srm_image_size, taskformer=config.taskformer,
            qformer_dim=config.qformer["hidden_size"], num_qformer_tokens=config.num_query_tokens,
            srm_dim=config.srm_dim,
        )
        self.context = ReferenceContext()
        self.extended_attention = nn.ModuleDict()
        self.attention_backend = "sdpa"
        self._install_processors()

    def _install_processors(self) -> None:
        chosen = self._chosen_blocks()
        processors = {}
        for name in self.unet.attn_processors:
            attn = self.unet.get_submodule(name.removesuffix(".processor"))
            if name in chosen:
                ext = ExtendedAttention(query_dim=attn.query_dim, inner_dim=attn.inner_dim, srm_dim=self.config.srm_dim)
                self.extended_attention[module_key(name)] = ext
                processors[name] = ExtendedAttnProcessor(name, ext, self.context, self.attention_backend)
            else:
                processors[name] = self._plain_processor(name)
        self.unet.set_attn_processor(processors)

    def _plain_processor(self, name: str):
        """The diffusers processor of a block without extended attention, for the current backend."""
        if name.endswith("attn2.processor") and not self.config.cross_attention:
            return PassThroughProcessor()
        return AttnProcessor2_0() if self.attention_backend == "sdpa" else AttnProcessor()

    # ----- speed switches (see twgtm.bench) ----------------------------------------------------
    def set_attention_backend(self, backend: str) -> None:
        """"sdpa" (PyTorch's fused scaled_dot_product_attention, the default) or "classic" (explicit softmax).

        Applies to every UNet attention: the extended processors and the plain diffusers ones
        (AttnProcessor2_0 for "sdpa", AttnProcessor for "classic"); other processors are kept.
        Outputs agree to rounding.
        """
        self.attention_backend = check_backend(backend)
        processors = {}
        for name, proc in self.unet.attn_processors.items():
            if isinstance(proc, ExtendedAttnProcessor):
                proc.backend = backend
            elif isinstance(proc, (AttnProcessor, AttnProcessor2_0)):
                proc = self._plain_processor(name)
            processors[name] = proc
        self.unet.set_attn_processor(processors)

    def set_kv_cache(self, enabled: bool) -> None:
        """Cache K'/V' across steps (default) or recompute them at every UNet call."""
        self.context.cache_enabled = bool(enabled)
        self.context.clear()

    @contextmanager
    def plain_backbone(self):
        """Within the block the UNet runs as the bare backbone: plain diffusers processors, no extended attention.

        Same weights, same attention backend; the TWGTM processors come back on exit. The
        benchmark's reference point; with ZLL = 0 both give the same output.
        """
        saved = self.unet.attn_processors
        self.unet.set_attn_processor({name: self._plain_processor(name) if isinstance(proc, ExtendedAttnProcessor) else proc
                                      for name, proc in saved.items()})
        try:
            yield self.unet
        finally:
            self.unet.set_attn_processor(saved)

    def _chosen_blocks(self) -> set[str]:
        names = self_attention_names(self.unet)
        spec = self.config.extended_blocks
        if spec == "all":
            return set(names)
        if spec == "none":
            return set()
        wanted = [s.strip() for s in spec.split(",") if s.strip()]
        chosen = {n for n in names if any(n.startswith(w) for w in wanted)}
        if not chosen:
            raise ConfigError(f"extended_blocks {spec!r} matches no self-attention block; names look like {names[:2]}")
        return chosen

    # ----- stages and parameters -------------------------------------------------------------
    @property
    def extended_attention_enabled(self) -> bool:
        """Whether the SRM cross-attention branch runs (training stage 2 and inference)."""
        return self.context.enabled

    def set_extended_attention(self, enabled: bool) -> None:
        """Turn the extended attention branch on (stage 2, inference) or off (stage 1)."""
        self.context.enabled = bool(enabled)
        self.context.clear()

    def set_stage(self, stage: int, train_encoders: bool = False) -> list[str]:
        """Freeze everything but the stage's parts, set extended attention; returns trainable names."""
        parts = trainable_parts(stage, train_encoders)
        self.set_extended_attention(stage >= 2)
        names = []
        for name, p in self.named_parameters():
            p.requires_grad_(part_of(name) in parts)
            if p.requires_grad:
                names.append(name)
        return names

    def parameter_counts(self) -> dict[str, int]:
        """Number of parameters in each named part (works on the meta device)."""
        counts = {part: 0 for part in PARTS}
        for name, p in self.named_parameters():
            counts[part_of(name)] += p.numel()
        return counts

    # ----- VAE ---------------------------------------------------------------------------------
    @property
    def latent_scale(self) -> float:
        """The VAE's latent scaling factor."""
        return float(self.vae.config.scaling_factor)

    def encode(self, pixels: torch.Tensor, generator: torch.Generator | None = None, sample: bool = False) -> torch.Tensor:
        """Pixels (B,3,H,W) in [-1,1] -> scaled latents (B,4,H/f,W/f)."""
        dist = self.vae.encode(pixels.to(self.vae.dtype)).latent_dist
        z = dist.sample(generator) if sample else dist.mode()
        return z * self.latent_scale

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B,4,h,w) -> pixels (B,3,h*f,w*f) in [-1,1] (clamped)."""
        return self.vae.decode(latents.to(self.vae.dtype) / self.latent_scale).sample.clamp(-1, 1)

    # ----- reference encoders ------------------------------------------------------------------
    def tokenize(self, prompts: list[str], device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts -> (ids, attention mask), each (B,L) on `device`."""
        ids, mask = tokenize(prompts, self.config.prompt_max_length)
        device = device or next(self.parameters()).device
        return ids.to(device), mask.to(device)

    def encode_reference(self, image: torch.Tensor, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                         with_srm_tokens: bool | None = None) -> ReferenceFeatures:
        """SAM and SRM on the reference image (B,3,H,W): run once per sampling run."""
        if with_srm_tokens is None:
            with_srm_tokens = self.extended_attention_enabled and len(self.extended_attention) > 0
        sam = self.sam(image, prompt_ids, prompt_mask)
        srm = self.srm(image, sam.qformer_tokens, with_tokens=with_srm_tokens)
        return ReferenceFeatures(sam.tokens, srm.tokens, srm.garment_mask_logits, srm.unit_mask_logits)

    def null_sam_tokens(self, like: torch.Tensor) -> torch.Tensor:
        """The CFG null SAM tokens: zeros shaped like F_SAM."""
        return torch.zeros_like(like)

    # ----- denoising ---------------------------------------------------------------------------
    def set_reference(self, srm_tokens: torch.Tensor | None, srm_weight: torch.Tensor | None = None) -> None:
        """Install F_SRM for the next denoising calls; K'/V' are computed once and cached."""
        self.context.set(srm_tokens if self.extended_attention_enabled else None, srm_weight)

    def unet_step(self, unet_input: torch.Tensor, timesteps: torch.Tensor, sam_tokens: torch.Tensor,
                  unet: Callable | None = None) -> torch.Tensor:
        """One UNet call (B,9,h,w) -> noise prediction (B,4,h,w), using the installed F_SRM.

        `unet`: what to call instead of `self.unet` (the sampler's `torch.compile`d UNet, same weights).
        """
        dtype = next(self.unet.parameters()).dtype
        unet = self.unet if unet is None else unet
        return unet(unet_input.to(dtype), timesteps, encoder_hidden_states=sam_tokens.to(dtype)).sample

    def forward(self, unet_input: torch.Tensor, timesteps: torch.Tensor, reference: torch.Tensor,
                prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, drop: torch.Tensor | None = None) -> TWGTMOutput:
        """Training forward: reference encoders + one UNet call.

        `drop` (B,) bool marks items whose condition is dropped for classifier-free guidance: they get
        null SAM tokens and no SRM features (the caller zeroes their reference-half latent).
        """
        ref = self.encode_reference(reference, prompt_ids, prompt_mask)
        sam_tokens, weight = ref.sam_tokens, None
        if drop is not None:
            keep = (~drop.bool()).to(sam_tokens.dtype)
            sam_tokens = sam_tokens * keep.view(-1, 1, 1)
            weight = keep
        self.set_reference(ref.srm_tokens, weight)
        try:
            noise = self.unet_step(unet_input, timesteps, sam_tokens)
        finally:
            self.context.clear()
        return TWGTMOutput(noise, ref.garment_mask_logits, ref.unit_mask_logits)


def build_model(preset_or_config: str | TWGTMConfig, *, device=None, dtype=None) -> TWGTM:
    """Build a TWGTM with random weights on `device` (use "meta" for instant shape-only builds)."""
    with torch.device(device or "cpu"):
        model = TWGTM(preset_or_config)
    if dtype is not None:
        model = model.to(dtype=dtype)
    return model
