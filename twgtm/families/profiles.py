"""Backbone profiles: public CatVTON (try-on) and TryOffAnyone (try-off) weights in our sampler.

A profile = config changes (height canvas, cross-attention skipped, no extended attention, no
SAM/SRM: null tokens) + a function mapping the project's weights file into our UNet's state dict,
on top of the SD1.5-inpainting UNet and VAE (`base_weights.load_unet_vae`).

Key names, read from the projects' code:
- CatVTON (`model/utils.py: get_trainable_module(unet, "attention")`, loaded in `model/pipeline.py`
  with accelerate's `load_checkpoint_in_model` from `mix-48k-1024/attention/model.safetensors`):
  a ModuleList of every module whose name contains "attn1", in `unet.named_modules()` order. Its
  state dict names the i-th entry `<i>.to_q.weight`, ... for each attn1 block; its children
  (`to_q`, `to_out.0`, the processor) are entries too, so the attn1 blocks sit at indices with a
  fixed stride and child entries repeat the same tensors (`<i+1>.weight`). We take the entries that
  carry `to_q.` keys as the attn1 roots, in index order, and ignore the repeated child entries.
- TryOffAnyone (its `fine_tuned_modules(unet)`, loaded from `model.safetensors`): a ModuleList of
  the `attentions` ModuleLists of down blocks, then `mid_block`, then up blocks (those that have
  attentions), so keys read `<i>.<j>.<Transformer2DModel key>`, whole transformer blocks included.
  Its canvas (height): top = person with the garment erased + the garment mask, bottom = person.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Callable

import torch

from ..weights.base_parts import load_unet_vae
from ..weights.checkpoint import check_keys, read_safetensors
from ..model.config import TWGTMConfig, get_preset
from ..errors import CheckpointError, ConfigError
from ..model.network import TWGTM
from ..vocab import parse_device, parse_dtype

log = logging.getLogger("twgtm")


def catvton_keys(state: dict, unet, source: str) -> dict:
    """CatVTON's attention file -> our UNet keys (`...attn1.to_q.weight`, ...)."""
    attn1 = [name for name, _ in unet.named_modules() if name.endswith("attn1")]  # named_modules order, as CatVTON
    odd = sorted(k for k in state if not re.match(r"\d+\.", k))
    if odd:
        raise CheckpointError(f"{source} is not a CatVTON attention file: keys {odd[:5]} do not start with a "
                              "module index; expected keys like '0.to_q.weight' (mix-48k-1024/attention/model.safetensors)")
    roots = sorted({int(k.split(".", 1)[0]) for k in state if re.match(r"\d+\.to_q\.", k)})
    if len(roots) != len(attn1):
        raise CheckpointError(f"{source} holds {len(roots)} attn1 blocks but this UNet has {len(attn1)}; "
                              "the file is for another UNet size (CatVTON needs the SD1.5-inpainting base)")
    mapped, skipped = {}, 0
    by_index = dict(zip(roots, attn1))
    for key, value in state.items():
        index, rest = key.split(".", 1)
        if int(index) in by_index:
            mapped[f"{by_index[int(index)]}.{rest}"] = value
        else:
            skipped += 1  # a child entry repeating a root's tensor (to_q, to_out.0, ...)
    log.debug("CatVTON file %s: %d attn1 blocks, %d repeated child entries skipped", source, len(roots), skipped)
    expected = {k: v for k, v in unet.state_dict().items() if re.search(r"\.attn1\.", k)}
    check_keys(expected, mapped, source, known=expected)
    return mapped


def _attention_containers(unet) -> list[str]:
    """Our names of the modules TryOffAnyone fine-tunes, in its order: down, mid, up `attentions`."""
    names = [f"down_blocks.{i}.attentions" for i, b in enumerate(unet.down_blocks) if hasattr(b, "attentions")]
    if unet.mid_block is not None and hasattr(unet.mid_block, "attentions"):
        names.append("mid_block.attentions")
    names += [f"up_blocks.{i}.attentions" for i, b in enumerate(unet.up_blocks) if hasattr(b, "attentions")]
    return names


def tryoffanyone_keys(state: dict, unet, source: str) -> dict:
    """TryOffAnyone's `model.safetensors` -> our UNet keys (`down_blocks.0.attentions.0....`)."""
    containers = _attention_containers(unet)
    mapped, unexpected = {}, []
    for key, value in state.items():
        m = re.match(r"(\d+)\.(\d+\..*)", key)
        if not m or int(m[1]) >= len(containers):
            unexpected.append(key)
            continue
        mapped[f"{containers[int(m[1])]}.{m[2]}"] = value
    if unexpected:
        raise CheckpointError(f"{source} is not a TryOffAnyone file for this UNet: unexpected keys {sorted(unexpected)[:5]}; "
                              f"expected '<i>.<j>.<transformer key>' with i < {len(containers)}")
    prefixes = tuple(c + "." for c in containers)
    expected = {k: v for k, v in unet.state_dict().items() if k.startswith(prefixes)}
    check_keys(expected, mapped, source, known=expected)
    return mapped


@dataclass(frozen=True)
class Profile:
    """How to run one project's weights: its task, canvas, working size and key mapping."""

    name: str
    task: str  # "tryon" or "tryoff"
    working_size: tuple  # (H, W) of the person half at which the project trained
    tryoff_target: str  # "blank" (TWGTM) or "erased_person" (TryOffAnyone)
    map_keys: Callable[[dict, object, str], dict]
    weights_file: str  # the file's name in the project's release


PROFILES = {
    "catvton": Profile("catvton", "tryon", (1024, 768), "blank", catvton_keys, "mix-48k-1024/attention/model.safetensors"),
    "tryoffanyone": Profile("tryoffanyone", "tryoff", (512, 384), "erased_person", tryoffanyone_keys, "model.safetensors"),
}


def get_profile(name: str) -> Profile:
    """A profile by name ('catvton', 'tryoffanyone')."""
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    if key not in PROFILES:
        raise ConfigError(f"unknown backbone profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[key]


def profile_config(name: str, base: str | TWGTMConfig = "sd15") -> TWGTMConfig:
    """Our config for a profile: the base preset's UNet/VAE, height canvas, no cross-attention, no SAM/SRM.

    SAM and SRM are not used by these projects; they are built at the tiny preset's size (a few
    thousand parameters, never run) so that the model class stays one class.
    """
    profile = get_profile(name)
    base = get_preset(base) if isinstance(base, str) else base
    tiny = get_preset("tiny")
    working = list(profile.working_size) if base.name == "sd15" else None  # other bases: the input's size
    return base.replace(
        name=f"{base.name}-{profile.name}", concat_axis="height", cross_attention=False, extended_blocks="none",
        profile=profile.name, clip=tiny.clip, qformer=tiny.qformer, swin=tiny.swin, taskformer=tiny.taskformer,
        num_query_tokens=tiny.num_query_tokens, srm_dim=tiny.srm_dim, srm_image_size=tiny.srm_image_size,
        prompt_max_length=tiny.prompt_max_length,
        extra={"reference_encoders": False, "working_size": working, "tryoff_target": profile.tryoff_target,
               "task": profile.task},
    )


def load_profile(name: str, weights: str | os.PathLike, base_weights: str | os.PathLike | None, *,
                 base: str | TWGTMConfig = "sd15", device=None, dtype: torch.dtype | None = None) -> TWGTM:
    """Build a profile's model: base UNet/VAE (diffusers folder or LDM file), then the project's file mapped in."""
    profile = get_profile(name)
    model = TWGTM(profile_config(profile.name, base))
    if base_weights is not None:
        load_unet_vae(model, base_weights)
    else:
        log.warning("profile %s: no base weights given; the UNet outside the file and the VAE stay random", profile.name)
    state = read_safetensors(weights, f"{profile.name} weights ({profile.weights_file})")
    mapped = profile.map_keys(state, model.unet, f"{os.fspath(weights)}")
    model.unet.load_state_dict(mapped, strict=False)
    log.info("profile %s: %d tensors loaded into the UNet from %s", profile.name, len(mapped), weights)
    return model.to(device=parse_device(device or "cpu"), dtype=None if dtype is None else parse_dtype(dtype)) \
        if (device or dtype) else model
