"""What an SD1.5-inpainting base (and a separate VAE) is, read from its files before any weight is loaded.

The public profiles (CatVTON, TryOffAnyone) run on the SD1.5-inpainting UNet and an SD1.5 VAE. Their
configs come from the files themselves, so that a wrong file is named before gigabytes are read:

- a diffusers folder: `unet/config.json`, `vae/config.json` (and `scheduler/scheduler_config.json`);
- one original-format (LDM) `.safetensors`: the shapes of its `model.diffusion_model.*` and
  `first_stage_model.*` tensors (read from the header, not loaded);
- a separate VAE: a diffusers folder (`config.json` + `diffusion_pytorch_model.safetensors`, as
  stabilityai/sd-vae-ft-mse), or one file with diffusers keys (`encoder.down_blocks...`) or original keys
  (`encoder.down.0.block...`, with or without `first_stage_model.`, as vae-ft-mse-840000-ema-pruned).

The layout (block types, layers per block, 9 input channels, 768-wide cross-attention, 4 latent
channels) must be SD1.5-inpainting's; the channel widths may be smaller (a reduced model, as the
tests build). Each mismatch is a CheckpointError naming the file, what was expected and what was found.
"""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from ..errors import CheckpointError
from ..paths import CONFIG_DIR
from .checkpoint import check_weights_file
from .file_kind import unreadable_safetensors

log = logging.getLogger("twgtm")

LDM_UNET_PREFIX = "model.diffusion_model."
LDM_VAE_PREFIX = "first_stage_model."
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
SCHEDULER_CONFIG = "sd15_inpainting_scheduler.json"
SD15_VAE_SCALING = 0.18215
INPAINTING_BASE = "stable-diffusion-v1-5/stable-diffusion-inpainting"
# The UNet fields a file decides; every other field is SD1.5-inpainting's.
UNET_SHAPE_FIELDS = ("in_channels", "out_channels", "block_out_channels", "layers_per_block", "down_block_types",
                     "up_block_types", "cross_attention_dim", "use_linear_projection")
VAE_SHAPE_FIELDS = ("in_channels", "out_channels", "latent_channels", "block_out_channels", "layers_per_block")


def shipped(name: str) -> dict:
    """A config shipped in twgtm/weights/configs/ without its `_`-keys."""
    config = json.loads((CONFIG_DIR / name).read_text())
    return {k: v for k, v in config.items() if not k.startswith("_")}


def sd15_unet() -> dict:
    """The SD1.5-inpainting UNet config."""
    return shipped("sd15_inpainting_unet.json")


def sd15_vae() -> dict:
    """The SD1.5 VAE config."""
    return shipped("sd15_vae.json")


def header_shapes(path: Path) -> dict[str, tuple]:
    """Tensor name -> shape of a .safetensors file, from its header (nothing loaded)."""
    from safetensors import SafetensorError, safe_open

    path = check_weights_file(path, "weights file")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise unreadable_safetensors(path, err) from err


def _indices(shapes: dict, pattern: str) -> list[int]:
    """The sorted distinct integers captured by `pattern` (one group) in the keys."""
    found = {int(m[1]) for k in shapes if (m := re.match(pattern, k))}
    return sorted(found)


# ----- UNet -------------------------------------------------------------------------------------
def ldm_unet_fields(shapes: dict, source: str) -> dict:
    """The UNet shape fields of an original-format file, from its `model.diffusion_model.*` shapes."""
    unet = {k[len(LDM_UNET_PREFIX):]: v for k, v in shapes.items() if k.startswith(LDM_UNET_PREFIX)}
    if "input_blocks.0.0.weight" not in unet:
        raise CheckpointError(f"{source} holds no SD UNet (no {LDM_UNET_PREFIX}input_blocks.0.0.weight); expected an "
                              f"original-format SD1.5-inpainting file ({INPAINTING_BASE}), or a diffusers folder with unet/")
    if any(k.startswith("label_emb.") for k in unet):
        raise CheckpointError(f"{source} is an SDXL UNet (it has label_emb); CatVTON and TryOffAnyone need the SD1.5-inpainting "
                              f"base ({INPAINTING_BASE})")
    downsamplers = _indices(unet, r"input_blocks\.(\d+)\.0\.op\.weight")
    per = (downsamplers[0] - 1) if downsamplers else max(_indices(unet, r"input_blocks\.(\d+)\.")) - 1
    levels = len(downsamplers) + 1
    widths, down_types, up_types = [], [], []
    for level in range(levels):
        first = 1 + level * (per + 1)
        key = f"input_blocks.{first}.0.out_layers.3.weight"
        if key not in unet:
            raise CheckpointError(f"{source}: no {LDM_UNET_PREFIX}{key}; the UNet is not laid out as SD1.5's")
        widths.append(unet[key][0])
        down_types.append("CrossAttnDownBlock2D" if f"input_blocks.{first}.1.proj_in.weight" in unet else "DownBlock2D")
    for block in range(levels):
        attn = f"output_blocks.{block * (per + 1)}.1.proj_in.weight" in unet
        up_types.append("CrossAttnUpBlock2D" if attn else "UpBlock2D")
    cross = [v[1] for k, v in unet.items() if k.endswith("attn2.to_k.weight")]
    proj = [v for k, v in unet.items() if k.endswith(".proj_in.weight")]
    return {
        "in_channels": unet["input_blocks.0.0.weight"][1], "out_channels": unet["out.2.weight"][0],
        "block_out_channels": widths, "layers_per_block": per, "down_block_types": down_types,
        "up_block_types": up_types, "cross_attention_dim": cross[0] if cross else sd15_unet()["cross_attention_dim"],
        "use_linear_projection": bool(proj) and len(proj[0]) == 2,
    }


def folder_unet_fields(folder: Path) -> dict:
    """The UNet shape fields of a diffusers folder's unet/config.json."""
    path = folder / "unet" / "config.json"
    config = _read_json(path, "UNet config")
    defaults = {"in_channels": 4, "out_channels": 4, "layers_per_block": 2, "cross_attention_dim": 1280,
                "use_linear_projection": False}
    return {k: config.get(k, defaults.get(k)) for k in UNET_SHAPE_FIELDS}


def check_inpainting_unet(fields: dict, source: str) -> None:
    """Raise unless `fields` describe an SD1.5-inpainting UNet (any channel widths)."""
    sd15 = sd15_unet()
    if fields["in_channels"] == 4:
        raise CheckpointError(f"{source} is an SD1.5 text-to-image UNet (its conv_in takes 4 channels); CatVTON and "
                              f"TryOffAnyone need the SD1.5-inpainting base, whose conv_in takes 9 (noisy latent, mask, "
                              f"masked image): {INPAINTING_BASE} (a diffusers folder, or its original-format .safetensors)")
    found = {k: fields[k] for k in UNET_SHAPE_FIELDS if k != "block_out_channels" and _norm(fields[k]) != _norm(sd15[k])}
    if found:
        expected = {k: sd15[k] for k in found}
        hint = " (an SD2.x or other UNet)" if found.get("cross_attention_dim") or found.get("use_linear_projection") else ""
        raise CheckpointError(f"{source} is not an SD1.5-inpainting UNet{hint}: it has {found}, SD1.5-inpainting has "
                              f"{expected}; give {INPAINTING_BASE}")
    if list(fields["block_out_channels"]) != list(sd15["block_out_channels"]):
        log.warning("%s: UNet widths %s differ from SD1.5's %s (a reduced model)", source,
                    list(fields["block_out_channels"]), sd15["block_out_channels"])


def unet_config(fields: dict) -> dict:
    """The full UNet config: SD1.5-inpainting's with the file's shape fields."""
    config = sd15_unet()
    config.update({k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in fields.items()})
    return config


# ----- VAE --------------------------------------------------------------------------------------
def _vae_state_keys(shapes: dict) -> tuple[dict, str]:
    """(VAE tensors without any prefix, 'ldm' | 'diffusers' | '') of a file's shapes."""
    if any(k.startswith(LDM_VAE_PREFIX) for k in shapes):
        shapes = {k[len(LDM_VAE_PREFIX):]: v for k, v in shapes.items() if k.startswith(LDM_VAE_PREFIX)}
    if "encoder.down.0.block.0.conv1.weight" in shapes:
        return shapes, "ldm"
    if "encoder.down_blocks.0.resnets.0.conv1.weight" in shapes:
        return shapes, "diffusers"
    return shapes, ""


def vae_file_fields(shapes: dict, source: str) -> tuple[dict, str]:
    """(VAE shape fields, key layout 'ldm' | 'diffusers') of a file's tensor shapes."""
    vae, layout = _vae_state_keys(shapes)
    if not layout:
        sample = sorted(shapes)[:3]
        kind = " (it looks like a UNet)" if any("diffusion_model" in k or "down_blocks.0.attentions" in k for k in shapes) else ""
        raise CheckpointError(f"{source} holds no VAE{kind}: expected AutoencoderKL keys such as "
                              f"'encoder.down.0.block.0.conv1.weight' or 'encoder.down_blocks.0.resnets.0.conv1.weight' "
                              f"(sd-vae-ft-mse), found keys like {sample}")
    if layout == "ldm":
        levels = _indices(vae, r"encoder\.down\.(\d+)\.")
        widths = [vae[f"encoder.down.{i}.block.0.conv1.weight"][0] for i in levels]
        per = len(_indices(vae, r"encoder\.down\.0\.block\.(\d+)\."))
    else:
        levels = _indices(vae, r"encoder\.down_blocks\.(\d+)\.")
        widths = [vae[f"encoder.down_blocks.{i}.resnets.0.conv1.weight"][0] for i in levels]
        per = len(_indices(vae, r"encoder\.down_blocks\.0\.resnets\.(\d+)\."))
    fields = {"in_channels": vae["encoder.conv_in.weight"][1], "out_channels": vae["decoder.conv_out.weight"][0],
              "latent_channels": vae["encoder.conv_out.weight"][0] // 2, "block_out_channels": widths,
              "layers_per_block": per}
    return fields, layout


def folder_vae_fields(folder: Path) -> dict:
    """The VAE shape fields (and scaling factor) of a diffusers VAE folder's config.json."""
    config = _read_json(folder / "config.json", "VAE config")
    if config.get("_class_name", "AutoencoderKL") != "AutoencoderKL":
        raise CheckpointError(f"{folder / 'config.json'} describes a {config['_class_name']}, not an AutoencoderKL; "
                              "give an SD1.5 VAE folder such as stabilityai/sd-vae-ft-mse")
    defaults = {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 1}
    fields = {k: config.get(k, defaults.get(k)) for k in VAE_SHAPE_FIELDS}
    fields["scaling_factor"] = config.get("scaling_factor", SD15_VAE_SCALING)
    return fields


def check_sd15_vae(fields: dict, source: str) -> None:
    """Raise unless `fields` describe an SD1.x VAE (4 latent channels, 3 image channels, scale 0.18215)."""
    if fields["latent_channels"] != 4:
        raise CheckpointError(f"{source} is a VAE with {fields['latent_channels']} latent channels (FLUX / SD3 VAEs have "
                              "16); CatVTON and TryOffAnyone need an SD1.5 VAE with 4, such as stabilityai/sd-vae-ft-mse "
                              "or the base model's own")
    if fields["in_channels"] != 3 or fields["out_channels"] != 3:
        raise CheckpointError(f"{source}: a VAE for {fields['in_channels']}-channel images; an SD1.5 VAE takes RGB (3)")
    scale = fields.get("scaling_factor", SD15_VAE_SCALING)
    if abs(float(scale) - SD15_VAE_SCALING) > 1e-6:
        kind = " (the SDXL VAE's)" if abs(float(scale) - 0.13025) < 1e-6 else ""
        raise CheckpointError(f"{source} has latent scaling factor {scale}{kind}; an SD1.5 VAE has {SD15_VAE_SCALING}: "
                              "give stabilityai/sd-vae-ft-mse or the base model's own VAE")
    sd15 = sd15_vae()
    if fields["layers_per_block"] != sd15["layers_per_block"] or len(fields["block_out_channels"]) != 4:
        raise CheckpointError(f"{source} is not laid out as an SD1.5 VAE: {len(fields['block_out_channels'])} levels of "
                              f"{fields['layers_per_block']} blocks (SD1.5: 4 levels of {sd15['layers_per_block']})")


def vae_config(fields: dict) -> dict:
    """The full VAE config: SD1.5's with the file's shape fields."""
    config = sd15_vae()
    config.update({k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in fields.items()})
    config["scaling_factor"] = SD15_VAE_SCALING
    return config


# ----- the base as a whole ----------------------------------------------------------------------
def describe_base(source: str | os.PathLike) -> tuple[dict, dict]:
    """(UNet config, VAE config) of an SD1.5-inpainting base folder or file, checked; nothing is loaded."""
    source = Path(source)
    if source.is_dir():
        missing = [p for p in ("unet", "vae") if not (source / p).is_dir()]
        if missing:
            found = sorted(p.name + ("/" if p.is_dir() else "") for p in source.iterdir())[:12]
            raise CheckpointError(f"base folder {source} has no {' or '.join(m + '/' for m in missing)}; a diffusers "
                                  f"SD1.5-inpainting folder holds unet/ and vae/ (each config.json + {DIFFUSERS_WEIGHTS}); "
                                  f"found {found or 'nothing'}")
        unet = folder_unet_fields(source)
        check_inpainting_unet(unet, f"base folder {source} (unet/config.json)")
        vae = folder_vae_fields(source / "vae")
        check_sd15_vae(vae, f"base folder {source} (vae/config.json)")
        return unet_config(unet), vae_config(vae)
    shapes = header_shapes(source)
    label = f"base file {source.name} (folder {source.parent})"
    unet = ldm_unet_fields(shapes, label)
    check_inpainting_unet(unet, label)
    if not any(k.startswith(LDM_VAE_PREFIX) for k in shapes):
        raise CheckpointError(f"{label} has no {LDM_VAE_PREFIX}* (VAE) keys; give the whole original-format "
                              "SD1.5-inpainting file, or a VAE with vae= / --vae")
    vae, _ = vae_file_fields({k: v for k, v in shapes.items() if k.startswith(LDM_VAE_PREFIX)}, label)
    check_sd15_vae(vae, label)
    return unet_config(unet), vae_config(vae)


def describe_vae(source: str | os.PathLike) -> tuple[dict, str]:
    """(VAE config, 'folder' | 'ldm' | 'diffusers') of a separate VAE folder or file, checked."""
    source = Path(source)
    if source.is_dir():
        if (source / "vae").is_dir() and not (source / "config.json").is_file():
            source = source / "vae"  # a whole model folder: its vae/
        fields = folder_vae_fields(source)
        check_sd15_vae(fields, f"VAE folder {source}")
        return vae_config(fields), "folder"
    label = f"VAE file {source.name} (folder {source.parent})"
    fields, layout = vae_file_fields(header_shapes(source), label)
    check_sd15_vae(fields, label)
    return vae_config(fields), layout


def scheduler_config(base: str | os.PathLike | None) -> dict:
    """The DDIM config of the base: its scheduler/scheduler_config.json when a folder has one, else SD1.5-inpainting's."""
    if base is not None:
        path = Path(base) / "scheduler" / "scheduler_config.json"
        if path.is_file():
            config = _read_json(path, "scheduler config")
            log.info("scheduler config from %s", path)
            return config
    return json.loads((CONFIG_DIR / SCHEDULER_CONFIG).read_text())


def _read_json(path: Path, what: str) -> dict:
    """A JSON object from `path`, with a CheckpointError naming the file when it is missing or broken."""
    if not path.is_file():
        raise CheckpointError(f"no {path.name} in {path.parent}; a diffusers model folder keeps its {what} there")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable JSON {what} ({err}); copy the folder again") from err
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} holds {type(config).__name__}, not a JSON object; copy the folder again")
    return config


def _norm(value):
    """Lists and tuples compared alike."""
    return list(value) if isinstance(value, (list, tuple)) else value
