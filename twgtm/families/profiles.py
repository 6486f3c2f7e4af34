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
from pathlib import Path
from typing import Callable

import torch

from ..weights.base_parts import load_unet_vae
from ..weights.checkpoint import check_keys, read_safetensors
from ..model.config import InferenceSettings, TWGTMConfig, get_preset
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
    if not roots and any(re.match(r"\d+\.\d+\.transformer_blocks\.", k) for k in state):
        raise CheckpointError(f"{source} is TryOffAnyone's file (keys '<i>.<j>.transformer_blocks...', whole transformer "
                              f"blocks), not CatVTON's attention file: it does try-off; load it with profile "
                              f"tryoffanyone, or give CatVTON's {PROFILE_FILES['catvton']} for try-on")
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
    if unexpected and any(re.match(r"\d+\.to_q\.", k) for k in state):
        raise CheckpointError(f"{source} is CatVTON's attention file (keys '<i>.to_q.weight', self-attention only), not "
                              f"TryOffAnyone's: it does try-on; load it with profile catvton, or give TryOffAnyone's "
                              f"{PROFILE_FILES['tryoffanyone']} for try-off")
    if unexpected:
        raise CheckpointError(f"{source} is not a TryOffAnyone file for this UNet: unexpected keys {sorted(unexpected)[:5]}; "
                              f"expected '<i>.<j>.<transformer key>' with i < {len(containers)}")
    prefixes = tuple(c + "." for c in containers)
    expected = {k: v for k, v in unet.state_dict().items() if k.startswith(prefixes)}
    check_keys(expected, mapped, source, known=expected)
    return mapped


# The release file of each project, as its code loads it.
PROFILE_FILES = {"catvton": "mix-48k-1024/attention/model.safetensors", "tryoffanyone": "model.safetensors"}


@dataclass(frozen=True)
class Profile:
    """How to run one project's weights: its task, canvas, working size, published defaults and key mapping."""

    name: str
    task: str  # "tryon" or "tryoff": the one task the weights do
    working_size: tuple  # (H, W) of the person half at which the project samples
    tryoff_target: str  # "blank" (TWGTM) or "erased_person" (TryOffAnyone)
    map_keys: Callable[[dict, object, str], dict]
    weights_file: str  # the file's name in the project's release
    repository: str  # where the release lives (Hugging Face)
    steps: int = 50  # published defaults
    guidance: float = 2.5


PROFILES = {
    "catvton": Profile("catvton", "tryon", (1024, 768), "blank", catvton_keys, PROFILE_FILES["catvton"],
                       "zhengchong/CatVTON"),
    "tryoffanyone": Profile("tryoffanyone", "tryoff", (512, 384), "erased_person", tryoffanyone_keys,
                            PROFILE_FILES["tryoffanyone"], "ixarchakos/tryOffAnyone"),
}


def get_profile(name: str) -> Profile:
    """A profile by name ('catvton', 'tryoffanyone')."""
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    if key not in PROFILES:
        raise ConfigError(f"unknown backbone profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[key]


def profile_for_task(task: str) -> Profile:
    """The profile whose weights do `task` ('tryon' -> CatVTON, 'tryoff' -> TryOffAnyone)."""
    return next(p for p in PROFILES.values() if p.task == task)


def profile_config(name: str, base: str | TWGTMConfig = "sd15", *, unet: dict | None = None,
                   vae: dict | None = None) -> TWGTMConfig:
    """Our config for a profile: the base's UNet/VAE, height canvas, no cross-attention, no SAM/SRM.

    `unet` / `vae` (configs read from the base files, `twgtm.weights.base_config`) replace the base
    preset's; when they equal SD1.5's the model is the sd15 one and samples at the profile's working
    size, otherwise (a reduced model) at the input's size. SAM and SRM are not used by these projects;
    they are built at the tiny preset's size (a few thousand parameters, never run) so that the model
    class stays one class.
    """
    profile = get_profile(name)
    base = get_preset(base) if isinstance(base, str) else base
    if unet is not None or vae is not None:
        changes = {"unet": unet if unet is not None else base.unet, "vae": vae if vae is not None else base.vae}
        same = _same_config(changes["unet"], base.unet) and _same_config(changes["vae"], base.vae)
        base = base if same else base.replace(name=f"{base.name}-reduced", **changes)
    tiny = get_preset("tiny")
    working = profile.working_size if base.name == "sd15" else None  # other bases: the input's size
    return base.replace(
        name=f"{base.name}-{profile.name}", concat_axis="height", cross_attention=False, extended_blocks="none",
        profile=profile.name, clip=tiny.clip, qformer=tiny.qformer, swin=tiny.swin, taskformer=tiny.taskformer,
        num_query_tokens=tiny.num_query_tokens, srm_dim=tiny.srm_dim, srm_image_size=tiny.srm_image_size,
        prompt_max_length=tiny.prompt_max_length,
        inference=InferenceSettings(working_size=working, reference_encoders=False,
                                    tryoff_target=profile.tryoff_target, task=profile.task),
    )


def _same_config(a: dict, b: dict) -> bool:
    """Whether two UNet (or VAE) configs have the same shapes: the fields a base file decides."""
    from ..weights.base_config import UNET_SHAPE_FIELDS, VAE_SHAPE_FIELDS

    fields = UNET_SHAPE_FIELDS if "down_block_types" in a and "cross_attention_dim" in a else VAE_SHAPE_FIELDS
    defaults = {"use_linear_projection": False}
    norm = lambda d, k: (lambda v: list(v) if isinstance(v, (list, tuple)) else v)(d.get(k, defaults.get(k)))  # noqa: E731
    return all(norm(a, k) == norm(b, k) for k in fields)


def load_profile_network(profile: str, weights, base, *, preset: str | None = None, clip=None, swin=None, vae=None,
                         option_names=None) -> TWGTM:
    """A CatVTON / TryOffAnyone network on the SD1.5-inpainting UNet/VAE from `base` (and `vae`), with clear errors.

    `weights`: the project's file; `base`: the SD1.5-inpainting model (diffusers folder or one
    original-format .safetensors); `preset`: the base's size preset (None: read from the base files);
    `clip` / `swin` are not used by these projects (a warning names them); `option_names` maps
    'weights' / 'base' / 'vae' / 'clip' / 'swin' to the caller's names for them in error messages.
    """
    from ..weights.loader import option_label
    from ..weights.missing import MissingFile, cli_error
    from ..weights.registry import REGISTRY

    option_names = dict(option_names or {})
    spec = get_profile(profile)
    missing = []  # every file it lacks at once, each with its folder and the fetch command
    for name, value, entry in (("weights", weights, REGISTRY[spec.name]), ("base", base, REGISTRY["sd15-inpainting"]),
                               ("vae", vae, REGISTRY["sd-vae-ft-mse"])):
        if (value is None and name != "vae") or (value is not None and not Path(value).exists()):
            label = option_label(name, option_names) or f"the {name} file"
            missing.append(MissingFile(label, entry, None if value is None else str(value)))
    if missing:
        raise cli_error(missing)
    for source, value in (("clip", clip), ("swin", swin)):
        if value is not None:
            log.warning("profile %s has no SAM/SRM: %s %s is not used", spec.name, option_label(source, option_names),
                        value)
    return load_profile(spec.name, weights, base, base=preset, vae=vae)


def load_profile(name: str, weights: str | os.PathLike, base_weights: str | os.PathLike | None, *,
                 base: str | TWGTMConfig | None = None, vae: str | os.PathLike | None = None, device=None,
                 dtype: torch.dtype | None = None) -> TWGTM:
    """Build a profile's model: base UNet/VAE (diffusers folder or LDM file), an optional VAE, then the project's file.

    `base`: a size preset ('sd15', 'tiny') to build; None reads the UNet/VAE configs from `base_weights`
    (and `vae`), checking that they are SD1.5-inpainting's (`twgtm.weights.base_config`). The base
    folder's DDIM config (or SD1.5-inpainting's) is kept in `config.inference.scheduler`.
    """
    from ..weights.base_config import describe_base, describe_vae, scheduler_config
    from ..weights.base_parts import load_vae

    profile = get_profile(name)
    if base is None and base_weights is not None:
        unet_cfg, vae_cfg = describe_base(base_weights)
        if vae is not None:
            vae_cfg = describe_vae(vae)[0]
        config = profile_config(profile.name, "sd15", unet=unet_cfg, vae=vae_cfg)
    else:
        config = profile_config(profile.name, base or "sd15")
    config.inference.scheduler = scheduler_config(base_weights if base_weights is not None and Path(base_weights).is_dir()
                                                 else None)
    state = read_safetensors(weights, f"{profile.name} weights ({profile.weights_file})")
    model = TWGTM(config)
    mapped = profile.map_keys(state, model.unet, f"{os.fspath(weights)}")  # a wrong file fails before the base loads
    if base_weights is not None:
        load_unet_vae(model, base_weights, parts=("unet",) if vae is not None else ("unet", "vae"))
    else:
        log.warning("profile %s: no base weights given; the UNet outside the file and the VAE stay random", profile.name)
    if vae is not None:
        load_vae(model, vae)
    model.unet.load_state_dict(mapped, strict=False)
    log.info("profile %s: %d tensors loaded into the UNet from %s", profile.name, len(mapped), weights)
    return model.to(device=parse_device(device or "cpu"), dtype=None if dtype is None else parse_dtype(dtype)) \
        if (device or dtype) else model
