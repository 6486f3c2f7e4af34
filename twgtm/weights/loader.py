"""`load_network`: a TWGTM network from files (what `twgtm.load_model` builds its TWGTM pipeline on).

Two kinds of request:

- a TWGTM checkpoint (`load_network("model.safetensors")`, or no path for the shipped demo model).
  A small checkpoint may leave out frozen base parts (its metadata lists the `parts` it holds);
  those come from `base` (UNet, VAE: an SD1.5-inpainting diffusers folder or one original-format
  .safetensors), `clip` (a CLIPVisionModelWithProjection folder or its HF-format .safetensors) and
  `swin` (timm Swin weights). A part that is still missing is one CheckpointError naming the file,
  its folder, the parts and the option that supplies each.
- a size preset with random weights (`load_network(preset="demo")`, for training from scratch),
  optionally starting from a checkpoint's weights and with the base parts filled in.

The option names and formats here (`BASE_SOURCES`, `SOURCE_FORMATS`, `option_label`) are shared with
the profile loader (`twgtm.families.profiles`), which builds on these readers; this package never
imports a family. `device` and `dtype` take torch objects or their names ('cuda', 'bf16', ...).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping

from .. import paths
from ..errors import CheckpointError
from ..validate import check_model_fits
from ..vocab import parse_device, parse_dtype
from .registry import fetch_command

log = logging.getLogger("twgtm")

# The load_model keyword that supplies each frozen base part, and what that option must point at.
BASE_SOURCES = {"unet": "base", "vae": "base", "clip": "clip", "swin": "swin"}
SOURCE_FORMATS = {
    "base": "an SD1.5-inpainting diffusers folder (unet/, vae/) or its original-format .safetensors",
    "vae": "an SD1.5 VAE: a diffusers folder (config.json + diffusion_pytorch_model.safetensors) or one .safetensors",
    "clip": "a CLIPVisionModelWithProjection folder or its HF-format .safetensors (ViT-L/14 at sd15 size)",
    "swin": "timm Swin weights (its model.safetensors, or the folder holding it)",
}
# How the Python API names each option; the CLI and the nodes pass their own names (`option_names`).
PYTHON_OPTIONS = {"base": "base=", "clip": "clip=", "swin": "swin=", "vae": "vae=", "weights": "weights="}


def demo_checkpoint() -> Path:
    """The shipped demo model (`weights/twgtm-demo.safetensors`, or $TWGTM_DEMO_CHECKPOINT); an error if absent."""
    path = Path(paths.DEMO_CHECKPOINT)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint given and the demo model is not at {path}; give a TWGTM .safetensors "
                              f"checkpoint (CLI: --checkpoint PATH), or put {paths.DEMO_WEIGHTS} there (or point "
                              "TWGTM_DEMO_CHECKPOINT at it)")
    return path


def option_label(name: str, option_names: Mapping[str, str | None]) -> str | None:
    """The caller's label of option `name` (None: the caller offers no such option)."""
    return option_names.get(name, PYTHON_OPTIONS[name])


def _lacking_error(path: Path, held: list[str], lacking: list[str], given: dict, option_names) -> CheckpointError:
    """One error for every part that neither the checkpoint nor an option supplies."""
    base = [p for p in lacking if p in BASE_SOURCES]
    trained = [p for p in lacking if p not in BASE_SOURCES]
    lines = [f"{path.name} (folder {path.parent}) holds only the parts {held};"]
    if base:
        lines.append(f"  it needs the base parts {base} from other files:")
        for part in base:
            source = BASE_SOURCES[part]
            label = option_label(source, option_names)
            if label is None:
                lines.append(f"  - {part}: no option here supplies it; use a checkpoint that includes {part}")
            elif given.get(source) is not None:
                lines.append(f"  - {part}: {label} {given[source]} did not provide it")
            else:
                lines.append(f"  - {part}: give {label} ({SOURCE_FORMATS[source]})" + (
                    f"; {fetch_command(['sd15-inpainting'], dest='models')} gets one" if source == "base" else ""))
    if trained:
        lines.append(f"  it lacks the trained parts {trained}, which no other file supplies: export the model "
                     "again with all its parts (save_checkpoint without parts=)")
    return CheckpointError("\n".join(lines))


def _load_base_parts(model, wanted: list[str], base, clip, swin) -> list[str]:
    """Load the `wanted` base parts that an option supplies; returns the parts loaded."""
    from .base_parts import load_clip, load_swin, load_unet_vae

    loaded = []
    from_base = tuple(p for p in ("unet", "vae") if p in wanted)
    if from_base and base is not None:
        load_unet_vae(model, base, parts=from_base)
        loaded += from_base
    if "clip" in wanted and clip is not None:
        load_clip(model, clip)
        loaded.append("clip")
    if "swin" in wanted and swin is not None:
        load_swin(model, swin)
        loaded.append("swin")
    return loaded


def _ignored(held: list[str], base, clip, swin) -> None:
    """Log the options that name parts the model already holds."""
    for source, value, parts in (("base", base, ("unet", "vae")), ("clip", clip, ("clip",)), ("swin", swin, ("swin",))):
        if value is not None and all(p in held for p in parts):
            log.info("%s %s ignored: the checkpoint holds %s itself", source, value, "/".join(parts))


def _checkpoint_model(path: Path, base, clip, swin, option_names):
    """A TWGTM checkpoint with the base parts it lacks; one CheckpointError for whatever stays missing."""
    from ..model.network import PARTS
    from .checkpoint import checkpoint_parts, load_checkpoint, read_metadata

    absent = _given_but_absent(option_names, base=base, clip=clip, swin=swin)
    if absent:
        from .missing import cli_error

        raise cli_error(absent)
    held = checkpoint_parts(read_metadata(path), path)
    model = load_checkpoint(path)
    _ignored(held, base, clip, swin)
    lacking = [p for p in PARTS if p not in held]
    loaded = _load_base_parts(model, lacking, base, clip, swin)
    lacking = [p for p in lacking if p not in loaded]
    if lacking:
        raise _lacking_error(path, held, lacking, dict(base=base, clip=clip, swin=swin), option_names)
    return model


def _preset_model(preset: str, checkpoint, base, clip, swin):
    """A size preset with random weights, then the checkpoint's parts, then the base parts it still lacks."""
    from ..model.network import PARTS, build_model
    from .checkpoint import checkpoint_parts, load_checkpoint, read_metadata

    model = build_model(preset)
    held = []
    if checkpoint is not None:
        held = checkpoint_parts(read_metadata(checkpoint), checkpoint)
        load_checkpoint(checkpoint, model=model)
        _ignored(held, base, clip, swin)
    _load_base_parts(model, [p for p in PARTS if p not in held], base, clip, swin)
    return model


def _given_but_absent(option_names, **paths) -> list:
    """A MissingFile for each option given a path that does not exist (no registry entry: a caller's own file)."""
    from .missing import MissingFile

    return [MissingFile(option_label(name, option_names) or name, None, str(path), what=SOURCE_FORMATS.get(name, ""))
            for name, path in paths.items() if path is not None and not Path(path).exists()]


def load_network(checkpoint: str | os.PathLike | None = None, *, preset: str | None = None,
                 base: str | os.PathLike | None = None, clip: str | os.PathLike | None = None,
                 swin: str | os.PathLike | None = None, device=None, dtype=None,
                 option_names: Mapping[str, str | None] | None = None):
    """Build a TWGTM network from files: a checkpoint (default: the demo model) or a preset.

    `base` / `clip` / `swin` fill the frozen base parts a checkpoint lacks (see the module docstring).
    `preset` builds that size preset with random weights (then the checkpoint's weights, when given).
    `option_names` maps 'base' / 'clip' / 'swin' to the caller's names for them in error messages
    (the CLI's flags, a node's inputs; None = not offered).
    """
    option_names = dict(option_names or {})
    target_device = None if device is None else parse_device(device)
    target_dtype = None if dtype is None else parse_dtype(dtype)
    if preset is not None:
        model = _preset_model(preset, checkpoint, base, clip, swin)
    else:
        path = demo_checkpoint() if checkpoint is None else Path(checkpoint)
        model = _checkpoint_model(path, base, clip, swin, option_names)
    if target_device is None and target_dtype is None:
        return model
    if target_device is not None:
        check_model_fits(model, target_device, target_dtype)
    return model.to(device=target_device, dtype=target_dtype)
