"""Base parts from their public formats: the SD1.5-inpainting UNet and VAE, and the CLIP image encoder.

- a diffusers folder: `<root>/unet/` and `<root>/vae/`, each config.json + diffusion_pytorch_model.safetensors;
- one original-format (LDM/CompVis) .safetensors file: `model.diffusion_model.*` (UNet) and
  `first_stage_model.*` (VAE), converted with diffusers' own key converters and the model's config
  (for sd15 that equals the configs shipped in twgtm/weights/configs/), so nothing is fetched from a hub;
- a separate VAE (`load_vae`, the profiles' `vae=`): a diffusers folder, or one file with diffusers or
  original keys (what twgtm.weights.base_config describes and checks first);
- a transformers `save_pretrained` folder for the CLIP image encoder (`CLIPVisionModelWithProjection`),
  or that model's single HF-format .safetensors file (what ComfyUI keeps in models/clip_vision);
- a timm Swin `.safetensors` file (or a folder holding `model.safetensors`, as timm's hub folders
  do) for the SRM backbone: stages 1-3 are kept, the last stage, the final norm and the head dropped;
  relative-position tables are resized where timm shrank a window to fit the SRM's image size.
Every load names missing, unexpected and mis-shaped keys.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
from timm.layers import resize_rel_pos_bias_table

from .checkpoint import check_keys, read_safetensors
from ..errors import CheckpointError
from ..model.network import TWGTM
from ..paths import CONFIG_DIR

log = logging.getLogger("twgtm")

LDM_UNET_PREFIX = "model.diffusion_model."
LDM_VAE_PREFIX = "first_stage_model."
SHIPPED_CONFIGS = {"unet": "sd15_inpainting_unet.json", "vae": "sd15_vae.json"}
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"


def shipped_config(part: str) -> dict:
    """The SD1.5-inpainting config of `part` ('unet' or 'vae') shipped with the package."""
    if part not in SHIPPED_CONFIGS:
        raise CheckpointError(f"no shipped config for {part!r}; parts are {sorted(SHIPPED_CONFIGS)}")
    config = json.loads((CONFIG_DIR / SHIPPED_CONFIGS[part]).read_text())
    return {k: v for k, v in config.items() if not k.startswith("_")}


def _load_module(module, state: dict, source: str) -> None:
    expected = module.state_dict()
    want, got = expected.get("conv_in.weight"), state.get("conv_in.weight")
    if want is not None and got is not None and want.ndim == got.ndim == 4 and want.shape[1] == 9 and got.shape[1] == 4:
        raise CheckpointError(f"{source} is an SD1.5 text-to-image UNet (its conv_in takes 4 channels); this model needs "
                              "the SD1.5-inpainting UNet, whose conv_in takes 9 (noisy latent, mask, masked image): "
                              "stable-diffusion-v1-5/stable-diffusion-inpainting")
    check_keys(expected, state, source)
    module.load_state_dict(state, strict=True)


def load_diffusers_part(model: TWGTM, folder: str | os.PathLike, part: str) -> None:
    """Load `<folder>/<part>/diffusion_pytorch_model.safetensors` into model.unet or model.vae."""
    sub = Path(folder) / part
    if not sub.is_dir():
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in Path(folder).iterdir())[:12] \
            if Path(folder).is_dir() else []
        raise CheckpointError(f"no {part}/ folder in {folder}; a diffusers model folder holds unet/ and vae/ "
                              f"(each config.json + diffusion_pytorch_model.safetensors); found {found or 'nothing'}")
    weights = sub / DIFFUSERS_WEIGHTS
    if not weights.is_file() and (sub / "diffusion_pytorch_model.bin").is_file():
        weights = sub / "diffusion_pytorch_model.bin"  # gets the clear pickle error below
    state = read_safetensors(weights, f"{part} weights")
    _load_module(getattr(model, part), state, f"{weights.name} (folder {sub})")
    log.info("loaded %s from %s", part, sub)


def load_ldm_file(model: TWGTM, path: str | os.PathLike, parts=("unet", "vae")) -> None:
    """Load the UNet and/or VAE from one original-format (LDM key names) .safetensors file."""
    path = Path(path)
    state = read_safetensors(path, "base model file")
    source = f"{path.name} (folder {path.parent})"
    for part, prefix, convert in (("unet", LDM_UNET_PREFIX, convert_ldm_unet_checkpoint),
                                  ("vae", LDM_VAE_PREFIX, convert_ldm_vae_checkpoint)):
        if part not in parts:
            continue
        if not any(k.startswith(prefix) for k in state):
            raise CheckpointError(f"{source} has no {prefix}* keys; expected an original-format (LDM/CompVis) "
                                  "SD1.5-inpainting file, or give a diffusers folder with unet/ and vae/")
        module = getattr(model, part)
        try:
            converted = convert(state, dict(module.config))
        except (KeyError, IndexError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{source}: its {part} keys do not fit the {model.config.name} {part} ({err!r}); "
                                  "the file is for another model size") from err
        _load_module(module, converted, f"{source} [{part}]")
        log.info("loaded %s from %s", part, source)


def load_unet_vae(model: TWGTM, source: str | os.PathLike, parts=("unet", "vae")) -> None:
    """Load base UNet/VAE from a diffusers folder or a single original-format .safetensors file."""
    source = Path(source)
    if source.is_dir():
        for part in parts:
            load_diffusers_part(model, source, part)
    else:
        load_ldm_file(model, source, parts)


VAE_KEY_ROOTS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")


def load_vae(model: TWGTM, source: str | os.PathLike) -> None:
    """Load model.vae from a separate VAE: a diffusers folder, or one file with diffusers or original (LDM) keys.

    A file such as vae-ft-mse-840000-ema-pruned.safetensors (original keys, with or without
    `first_stage_model.`) is converted with diffusers' converter; other tensors (EMA, loss) are ignored.
    """
    from .base_config import LDM_VAE_PREFIX, describe_vae

    source = Path(source)
    _, layout = describe_vae(source)
    if layout == "folder":
        folder = source / "vae" if (source / "vae").is_dir() and not (source / "config.json").is_file() else source
        file = folder / DIFFUSERS_WEIGHTS
        state = read_safetensors(file, "VAE weights")
        _load_module(model.vae, state, f"{file.name} (folder {folder})")
        log.info("loaded the VAE from %s", folder)
        return
    state = read_safetensors(source, "VAE file")
    if any(k.startswith(LDM_VAE_PREFIX) for k in state):
        state = {k[len(LDM_VAE_PREFIX):]: v for k, v in state.items() if k.startswith(LDM_VAE_PREFIX)}
    state = {k: v for k, v in state.items() if k.startswith(VAE_KEY_ROOTS)}
    label = f"VAE file {source.name} (folder {source.parent})"
    if layout == "ldm":
        try:
            state = convert_ldm_vae_checkpoint(state, dict(model.vae.config))
        except (KeyError, IndexError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{label}: its keys do not fit an SD1.5 VAE ({err!r})") from err
    _load_module(model.vae, state, label)
    log.info("loaded the VAE from %s", source)


def load_clip(model: TWGTM, source: str | os.PathLike) -> None:
    """Load SAM's CLIP image encoder: a transformers `save_pretrained` folder, or one HF-format
    CLIPVisionModelWithProjection .safetensors file (as ComfyUI's models/clip_vision holds)."""
    source = Path(source)
    if source.is_dir():
        _load_clip_folder(model, source)
        return
    state = read_safetensors(source, "CLIP vision file")
    expected = model.sam.clip.state_dict()
    # Older transformers saved the position-id buffer; it is rebuilt, not loaded.
    state = {k: v for k, v in state.items() if k in expected or not k.endswith("position_ids")}
    _load_module(model.sam.clip, state, f"{source.name} (folder {source.parent}), a CLIP vision file")
    log.info("loaded the CLIP image encoder from %s", source)


def _load_clip_folder(model: TWGTM, folder: Path) -> None:
    """The CLIP image encoder from a transformers `save_pretrained` folder (offline)."""
    from transformers import CLIPVisionModelWithProjection

    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{folder} is not a transformers model folder (no config.json); give the folder "
                              "written by CLIPVisionModelWithProjection.save_pretrained, or its model.safetensors")
    try:
        clip = CLIPVisionModelWithProjection.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"the CLIP image encoder in {folder} could not be read ({err}); it needs config.json "
                              "and model.safetensors of a CLIPVisionModelWithProjection") from err
    _load_module(model.sam.clip, clip.state_dict(), f"CLIP folder {folder}")
    log.info("loaded the CLIP image encoder from %s", folder)


def load_swin(model: TWGTM, source: str | os.PathLike) -> None:
    """Load the SRM's Swin backbone from a timm Swin state dict (a .safetensors file or a folder with one)."""
    source = Path(source)
    file = source / "model.safetensors" if source.is_dir() else source
    if source.is_dir() and not file.is_file():
        raise CheckpointError(f"no model.safetensors in {source}; give timm's Swin weights file "
                              f"(e.g. {model.config.swin['name']}) or the folder that holds it")
    state = read_safetensors(file, "Swin weights")
    net = model.srm.backbone.net  # timm features_only: stage i is `layers_i`
    renamed = {("layers_" + k[len("layers."):]) if k.startswith("layers.") else k: v for k, v in state.items()}
    expected = net.state_dict()
    kept = {k: v for k, v in renamed.items() if k in expected}  # later stages, norm and head are not used
    for key, table in kept.items():  # timm shrinks windows that exceed a small image's feature maps
        if key.endswith("relative_position_bias_table") and table.shape != expected[key].shape:
            old = round((table.shape[0] ** 0.5 + 1) / 2)
            if (2 * old - 1) ** 2 == table.shape[0] and table.shape[1] == expected[key].shape[1]:
                window = tuple(net.get_submodule(key.rsplit(".", 1)[0]).window_size)
                kept[key] = resize_rel_pos_bias_table(table, window, tuple(expected[key].shape), (old, old))
    _load_module(net, kept, f"{file.name} (folder {file.parent}) as {model.config.swin['name']}")
    log.info("loaded the Swin backbone from %s", file)
