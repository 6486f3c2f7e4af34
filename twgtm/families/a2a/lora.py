"""Any2AnyTryon LoRA files: inspect the header, check they fit the transformer, fuse them into its weights.

Accepted: FLUX transformer LoRAs in the diffusers/PEFT format (`transformer.<module>.lora_A.weight`,
`...lora_B.weight`, optional `...alpha`; the published Any2AnyTryon files) and the other FLUX formats
that diffusers converts (kohya `lora_unet_double_blocks_*`, XLabs). Everything is checked against the
transformer before one weight changes, so a file that does not fit leaves the model untouched.
Fusing (W += scale * alpha/rank * B @ A) needs no PEFT and keeps working under offloading and fp8.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...errors import CheckpointError
from ...weights.file_kind import unreadable_safetensors

log = logging.getLogger("twgtm")

EXPECTED_FORMAT = ("a FLUX.1 transformer LoRA in the diffusers/PEFT format, keys like "
                   "'transformer.transformer_blocks.0.attn.to_q.lora_A.weight' / '...lora_B.weight' "
                   "(as in loooooong/Any2anyTryon's dev_lora_*.safetensors), or kohya 'lora_unet_double_blocks_0_*'")
OTHER_BASES = {  # key pattern -> the base model a LoRA with it was made for
    r"lora_unet_(down|up|mid)_blocks_|lora_unet_(input|output|middle)_block|(^|\.)unet\.": "Stable Diffusion / SDXL (UNet)",
    r"lora_te\d?_|text_model\.encoder": "a text encoder",
    r"joint_blocks\.|context_block\.": "Stable Diffusion 3 (MMDiT)",
    r"double_stream_modulation|transformer\.blocks\.\d+\.attn1": "FLUX.2 / another DiT",
}


@dataclass
class LoraInfo:
    """What a LoRA file's header says."""

    path: Path
    format: str  # diffusers | kohya | xlabs | unknown
    keys: dict = field(default_factory=dict)  # key -> shape
    metadata: dict = field(default_factory=dict)

    @property
    def rank(self) -> int | None:
        """The rank of the first down/A matrix."""
        for key, shape in self.keys.items():
            if re.search(r"(lora_A|lora_down|lora\.down)\.weight$", key):
                return int(shape[0])
        return None


def inspect_lora(path: str | os.PathLike) -> LoraInfo:
    """Read a LoRA file's keys, shapes and metadata without loading its tensors."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"LoRA file not found: {path} (folder {path.parent.resolve()}); give the path to "
                              f"{EXPECTED_FORMAT}")
    if path.suffix != ".safetensors":
        raise CheckpointError(f"LoRA {path}: only .safetensors files are read (never pickles); expected {EXPECTED_FORMAT}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            keys = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}
            metadata = dict(handle.metadata() or {})
    except (SafetensorError, OSError) as err:
        raise unreadable_safetensors(path, err, "LoRA") from err
    return LoraInfo(path, _format(keys), keys, metadata)


def _format(keys: dict) -> str:
    names = list(keys)
    if any(re.search(r"\.lora_[AB]\.weight$|\.lora\.(down|up)\.weight$", k) for k in names) and \
            any(k.startswith(("transformer.", "transformer_blocks.", "single_transformer_blocks.")) for k in names):
        return "diffusers"
    if any(k.startswith("lora_unet_") and ("double_blocks" in k or "single_blocks" in k) for k in names):
        return "kohya"
    if any("processor" in k for k in names):
        return "xlabs"
    return "unknown"


def _other_base(keys) -> str | None:
    for pattern, base in OTHER_BASES.items():
        if any(re.search(pattern, k) for k in keys):
            return base
    return None


def _to_diffusers(info: LoraInfo) -> dict[str, torch.Tensor]:
    """The file's tensors as diffusers/PEFT keys without the `transformer.` prefix."""
    from safetensors.torch import load_file

    state = load_file(str(info.path))
    if info.format in ("kohya", "xlabs"):
        from diffusers.loaders.lora_pipeline import FluxLoraLoaderMixin

        state = FluxLoraLoaderMixin.lora_state_dict(state)
        state = state[0] if isinstance(state, tuple) else state
    out = {}
    for key, value in state.items():
        key = key[len("transformer."):] if key.startswith("transformer.") else key
        key = key.replace(".lora.down.weight", ".lora_A.weight").replace(".lora.up.weight", ".lora_B.weight")
        out[key] = value
    return out


def _pairs(state: dict, source: Path) -> dict[str, tuple]:
    """module name -> (A (r,in), B (out,r), alpha or None)."""
    pairs = {}
    for key in state:
        if key.endswith(".lora_A.weight"):
            name = key[: -len(".lora_A.weight")]
            up = state.get(f"{name}.lora_B.weight")
            if up is None:
                raise CheckpointError(f"LoRA {source}: {key} has no matching '{name}.lora_B.weight'; the file is "
                                      f"truncated or not {EXPECTED_FORMAT}")
            alpha = state.get(f"{name}.alpha")
            pairs[name] = (state[key], up, None if alpha is None else float(alpha))
    return pairs


def check_lora(info: LoraInfo, transformer_config) -> None:
    """Raise CheckpointError unless the header describes a FLUX transformer LoRA of this transformer's width."""
    other = _other_base(info.keys)
    if info.format == "unknown" or (other and info.format != "diffusers"):
        base = f" It looks made for {other}." if other else ""
        raise CheckpointError(f"LoRA {info.path} is not a FLUX transformer LoRA.{base} Expected {EXPECTED_FORMAT}; "
                              "Any2AnyTryon's LoRAs are for FLUX.1-dev")
    if info.format != "diffusers":
        return  # converted by diffusers at load time; shapes are checked there
    inner = transformer_config.num_attention_heads * transformer_config.attention_head_dim
    for key, shape in info.keys.items():
        match = re.search(r"(?:^|\.)(transformer_blocks|single_transformer_blocks)\.(\d+)\.(.+)\.lora_A\.weight$", key)
        if match and match.group(3) in ("attn.to_q", "attn.to_k", "attn.to_v") and shape[1] != inner:
            raise CheckpointError(f"LoRA {info.path}: {key} takes {shape[1]} features but this transformer is {inner} "
                                  f"wide; the LoRA is for another base model. Expected {EXPECTED_FORMAT}")
        if match:
            count = transformer_config.num_layers if match.group(1) == "transformer_blocks" \
                else transformer_config.num_single_layers
            if int(match.group(2)) >= count:
                raise CheckpointError(f"LoRA {info.path}: {key} names block {match.group(2)} but this transformer has "
                                      f"{count} {match.group(1)}; the LoRA is for another FLUX size")


@torch.no_grad()
def fuse_lora(transformer: torch.nn.Module, info: LoraInfo, scale: float = 1.0) -> int:
    """Fuse the LoRA into the transformer's Linear weights; return the number of layers changed."""
    pairs = _pairs(_to_diffusers(info), info.path)
    if not pairs:
        raise CheckpointError(f"LoRA {info.path} holds no lora_A/lora_B pairs for the transformer; expected {EXPECTED_FORMAT}")
    plan, problems = [], []
    for name, (down, up, alpha) in pairs.items():
        try:
            module = transformer.get_submodule(name)
        except AttributeError:
            problems.append(f"{name}: no such module")
            continue
        if not isinstance(module, torch.nn.Linear):
            problems.append(f"{name}: a {type(module).__name__}, not a Linear layer")
        elif tuple(module.weight.shape) != (up.shape[0], down.shape[1]) or up.shape[1] != down.shape[0]:
            problems.append(f"{name}: LoRA {tuple(up.shape)} @ {tuple(down.shape)} does not fit {tuple(module.weight.shape)}")
        else:
            plan.append((module, down, up, (alpha / down.shape[0]) if alpha is not None else 1.0))
    if problems:
        raise CheckpointError(f"LoRA {info.path} does not fit this transformer ({len(problems)} layers), nothing was "
                              f"changed: {'; '.join(problems[:4])}. Expected {EXPECTED_FORMAT}")
    for module, down, up, rank_scale in plan:
        delta = (up.float() @ down.float()) * (rank_scale * scale)  # (out, in)
        module.weight.add_(delta.to(module.weight.device, module.weight.dtype))
    log.info("LoRA %s: fused into %d layers (scale %.3g)", info.path.name, len(plan), scale)
    return len(plan)
