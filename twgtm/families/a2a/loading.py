"""Build an Any2AnyTryon pipeline from local folders: a FLUX.1-dev diffusers folder and/or one folder per part.

Every source is checked before any weight is read (folders, configs, guidance embedding, the LoRA's
header against the transformer's config), so a bad input fails at once and nothing is loaded half.
Memory options are applied after loading: fp8 weight storage (per-layer upcast, diffusers'
layerwise casting) for T5 and/or the transformer, block-level group offloading of the transformer,
model offloading of each part, VAE tiling.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ...errors import CheckpointError, ConfigError
from ...weights.file_kind import unreadable_safetensors
from ...vocab import parse_dtype
from .lora import check_lora, fuse_lora, inspect_lora
from .memory import OFFLOAD_MODES, MemoryOptions, dtype_bytes
from .pipeline import A2AParts, A2APipeline

log = logging.getLogger("twgtm")

# part -> (sub-folder of a FLUX.1 diffusers folder, what it is)
PARTS = {
    "transformer": ("transformer", "FLUX.1-dev transformer (diffusers FluxTransformer2DModel)"),
    "vae": ("vae", "FLUX VAE (diffusers AutoencoderKL, 16 latent channels)"),
    "text_encoder": ("text_encoder", "CLIP-L text encoder (transformers CLIPTextModel)"),
    "tokenizer": ("tokenizer", "CLIP tokenizer"),
    "text_encoder_2": ("text_encoder_2", "T5-XXL encoder (transformers T5EncoderModel)"),
    "tokenizer_2": ("tokenizer_2", "T5 tokenizer"),
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "spiece.model")


@dataclass
class A2ASources:
    """Where each part comes from: a FLUX.1 diffusers folder, with optional per-part folders."""

    flux: str | None = None
    transformer: str | None = None
    vae: str | None = None
    text_encoder: str | None = None
    tokenizer: str | None = None
    text_encoder_2: str | None = None
    tokenizer_2: str | None = None

    def folders(self) -> dict[str, Path]:
        """part -> folder; CheckpointError naming every part that is missing, before anything loads."""
        found, missing = {}, []
        for part, (sub, what) in PARTS.items():
            given = getattr(self, part)
            folder = Path(given) if given else (Path(self.flux) / sub if self.flux else None)
            if part == "transformer" and folder is not None and folder.suffix == ".safetensors" and folder.is_file():
                found[part] = folder  # a BFL single file (flux1-dev.safetensors)
                continue
            marker = TOKENIZER_FILES if part.startswith("tokenizer") else ("config.json",)
            if folder is None or not folder.is_dir() or not any((folder / m).is_file() for m in marker):
                where = str(folder) if folder is not None else f"--{part.replace('_', '-')} or --flux DIR/{sub}"
                also = " or a flux1-dev.safetensors file" if part == "transformer" else ""
                missing.append(f"{what}: {where} (a folder with {' or '.join(marker)}{also})")
            else:
                found[part] = folder
        if missing:
            raise CheckpointError("Any2AnyTryon needs every FLUX.1-dev part as a local diffusers folder; missing: "
                                  + "; ".join(missing) + ". Give --flux DIR (a FLUX.1-dev snapshot with transformer/, "
                                  "vae/, text_encoder/, tokenizer/, text_encoder_2/, tokenizer_2/) or the part's own flag")
        return found


def _single_file_config(path: Path, flux: str | None) -> dict:
    """Config of a BFL single file from its header (shapes only); axes from --flux's config when it has one."""
    from safetensors import safe_open

    from .bfl import bfl_config, strip_prefix

    try:
        with safe_open(str(path), framework="pt") as handle:
            shapes = {k: torch.empty(handle.get_slice(k).get_shape(), device="meta") for k in handle.keys()}
    except Exception as err:  # safetensors raises its own error types for a damaged header
        raise unreadable_safetensors(path, err, "FLUX transformer file") from err
    given = Path(flux) / "transformer" / "config.json" if flux else None
    axes = json.loads(given.read_text()).get("axes_dims_rope") if given and given.is_file() else None
    return bfl_config(strip_prefix(shapes), str(path), tuple(axes) if axes else None)


def read_transformer_config(folder: Path, flux: str | None = None) -> dict:
    """The transformer's config, checked to be a FLUX.1-dev-style model with guidance embedding."""
    if folder.is_file():
        config = _single_file_config(folder, flux)
    else:
        config = json.loads((folder / "config.json").read_text())
    if config.get("_class_name") not in (None, "FluxTransformer2DModel"):
        raise CheckpointError(f"{folder}: config names {config.get('_class_name')}, expected FluxTransformer2DModel")
    if not config.get("guidance_embeds", False):
        raise CheckpointError(f"{folder}: this FLUX transformer has no guidance embedding (guidance_embeds false: "
                              "FLUX.1-schnell?). Any2AnyTryon's LoRAs are for FLUX.1-dev: give a FLUX.1-dev transformer")
    return config


class _Config:
    """Attribute view of a config dict (for the LoRA check before the model exists)."""

    def __init__(self, values: dict):
        self.__dict__.update({"num_layers": 19, "num_single_layers": 38, "num_attention_heads": 24,
                              "attention_head_dim": 128, **values})


def load_parts(folders: dict[str, Path], dtype: torch.dtype, transformer_config: dict | None = None) -> A2AParts:
    """Load the six parts from their folders (the transformer also from a BFL file) in `dtype` (on the CPU)."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import AutoTokenizer, CLIPTextModel, T5EncoderModel

    def load(part, loader):
        try:
            return loader()
        except (OSError, ValueError, EnvironmentError) as err:
            raise CheckpointError(f"cannot load the {PARTS[part][1]} from {folders[part]}: {err}") from err

    return A2AParts(
        transformer=load("transformer", lambda: _transformer(folders["transformer"], dtype, transformer_config)),
        vae=load("vae", lambda: AutoencoderKL.from_pretrained(folders["vae"], torch_dtype=dtype)),
        clip=load("text_encoder", lambda: CLIPTextModel.from_pretrained(folders["text_encoder"], torch_dtype=dtype)),
        clip_tokenizer=load("tokenizer", lambda: AutoTokenizer.from_pretrained(folders["tokenizer"])),
        t5=load("text_encoder_2", lambda: T5EncoderModel.from_pretrained(folders["text_encoder_2"], torch_dtype=dtype)),
        t5_tokenizer=load("tokenizer_2", lambda: AutoTokenizer.from_pretrained(folders["tokenizer_2"])),
    )


def _transformer(path: Path, dtype: torch.dtype, config: dict | None):
    """A diffusers folder or a BFL single file."""
    from diffusers import FluxTransformer2DModel

    from .bfl import load_bfl_transformer

    if path.is_file():
        return load_bfl_transformer(path, dtype, config)
    return FluxTransformer2DModel.from_pretrained(path, torch_dtype=dtype)


def apply_memory_options(parts: A2AParts, memory: MemoryOptions, device: torch.device, dtype: torch.dtype) -> None:
    """fp8 storage and group offloading, applied in place."""
    from diffusers.hooks import apply_group_offloading, apply_layerwise_casting

    if memory.offload not in OFFLOAD_MODES:
        raise ConfigError(f"offload {memory.offload!r}: expected one of {', '.join(OFFLOAD_MODES)}")
    if memory.t5_fp8:
        apply_layerwise_casting(parts.t5, storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype,
                                skip_modules_pattern=("shared", "embed", "norm", r"\.wo$"))  # T5 casts inputs to wo's dtype
    if memory.transformer_fp8:
        apply_layerwise_casting(parts.transformer, storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    if memory.offload == "group":
        apply_group_offloading(parts.transformer, onload_device=device, offload_device=torch.device("cpu"),
                               offload_type="block_level", num_blocks_per_group=1)


def load_pipeline(sources: A2ASources, lora: str | os.PathLike | None = None, lora_scale: float = 1.0,
                  device: str = "cpu", dtype: str | torch.dtype = "bf16", offload: str = "none",
                  t5_fp8: bool = False, transformer_fp8: bool = False, vae_tiling: bool = False,
                  max_sequence_length: int = 512) -> A2APipeline:
    """Check every source, load the parts, fuse the LoRA, apply the memory options; the pipeline."""
    torch_dtype = parse_dtype(dtype)
    if offload not in OFFLOAD_MODES:
        raise ConfigError(f"offload {offload!r}: expected one of {', '.join(OFFLOAD_MODES)}")
    folders = sources.folders()
    config = read_transformer_config(folders["transformer"], sources.flux)
    info = None
    if lora is not None:
        info = inspect_lora(lora)
        check_lora(info, _Config(config))
    parts = load_parts(folders, torch_dtype, config)
    if info is not None:
        fuse_lora(parts.transformer, info, lora_scale)
    memory = MemoryOptions(dtype_bytes=dtype_bytes(torch_dtype), offload=offload, transformer_fp8=transformer_fp8,
                           t5_fp8=t5_fp8, vae_tiling=vae_tiling)
    device = torch.device(device)
    apply_memory_options(parts, memory, device, torch_dtype)
    for module in (parts.transformer, parts.vae, parts.clip, parts.t5):
        module.eval().requires_grad_(False)
    return A2APipeline(parts, device=device, dtype=torch_dtype, memory=memory, max_sequence_length=max_sequence_length)
