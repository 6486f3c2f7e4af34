"""TWGTM checkpoints: safetensors only, with the config and a format version in the metadata.

A checkpoint may hold every part or only some (`parts` in the metadata): a file without the
frozen base parts (VAE, CLIP, Swin) stays small, and those parts come from their own files.
Nothing here ever unpickles a file.
"""
from __future__ import annotations

import dataclasses

import json
import logging
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..model.config import TWGTMConfig
from ..errors import CheckpointError
from .file_kind import unreadable_safetensors
from ..model.network import PARTS, TWGTM, part_of
from ..vocab import parse_device, parse_dtype

log = logging.getLogger("twgtm")

FORMAT = "twgtm"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_checkpoint(model: TWGTM, path: str | os.PathLike, parts: list[str] | None = None,
                    metadata: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write the model's weights (all parts, or only `parts`) atomically to a .safetensors file."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"checkpoints are .safetensors files; got {path.name!r}")
    parts = list(parts or PARTS)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise CheckpointError(f"unknown parts {unknown}; parts are {sorted(PARTS)}")
    tensors = {}
    for name, tensor in model.state_dict().items():
        if part_of(name) in parts:
            t = tensor.detach()
            if dtype is not None and t.is_floating_point():
                t = t.to(dtype)
            tensors[name] = t.cpu().contiguous()
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "config": model.config.to_json(),
            "parts": json.dumps(parts)}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.chmod(tmp, 0o666 & ~_umask())  # safetensors writes 0600; a model file is as readable as any other
    os.replace(tmp, path)  # atomic: a kill mid-write leaves the old file intact
    return path


def check_weights_file(path: str | os.PathLike, what: str = "checkpoint") -> Path:
    """A clear error for a missing file or a pickle-format file (never unpickled); returns the path."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{what} {path} is a folder, not a file; give the .safetensors file inside it")
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path} (folder {path.parent}); check the path")
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path.name} is a pickle-format file ({path.suffix}); TWGTM loads .safetensors only, never "
            "unpickling downloaded files. Convert it to safetensors first."
        )
    return path


def read_safetensors(path: str | os.PathLike, what: str = "weights file") -> dict:
    """All tensors of any .safetensors file, with clear errors for missing, pickle and corrupt files."""
    path = check_weights_file(path, what)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise unreadable_safetensors(path, err, what) from err


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a TWGTM checkpoint, with clear errors for missing, pickle, corrupt or foreign files."""
    path = check_weights_file(path)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise unreadable_safetensors(path, err, "checkpoint") from err
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path.name} is a safetensors file but not a TWGTM checkpoint (no 'format: twgtm' in its metadata); "
            "for CatVTON / TryOffAnyone weights choose their backbone profile (load_model(profile='catvton' | "
            "'tryoffanyone', weights=path, base=...), CLI --profile ... --weights ..., ComfyUI: the TWGTM Public "
            "Model Loader node)"
        )
    try:
        version = int(meta.get("format_version", "0"))
    except ValueError:
        raise CheckpointError(f"{path.name}: its metadata has format_version {meta.get('format_version')!r}, not a "
                              "number; the file was not written by save_checkpoint: export it again") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path.name} has format version {version}; this code reads up to {FORMAT_VERSION}: update the pack")
    return meta


def check_keys(expected: dict, state: dict, source: str, known: dict | None = None) -> None:
    """Raise one CheckpointError naming missing, unexpected and mis-shaped keys of `state` vs `expected`."""
    known = expected if known is None else known
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(known))
    misshaped = sorted(k for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or misshaped:
        def show(keys):
            return ", ".join(keys[:8]) + (f" ... ({len(keys)} in all)" if len(keys) > 8 else "")
        lines = [f"weights in {source} do not match the model:"]
        if missing:
            lines.append(f"  missing keys: {show(missing)}")
        if unexpected:
            lines.append(f"  unexpected keys: {show(unexpected)}")
        if misshaped:
            lines.append("  mis-shaped keys: " + show([f"{k} file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}" for k in misshaped]))
        lines.append("  the file is for another model or size preset; pick the matching checkpoint")
        raise CheckpointError("\n".join(lines))


def load_state(model: TWGTM, state: dict, source: str, parts: list[str] | None = None) -> None:
    """Load `state` into `model`, naming missing, unexpected and mis-shaped keys in one error."""
    full = model.state_dict()
    check_keys({k: v for k, v in full.items() if parts is None or part_of(k) in parts}, state, source, known=full)
    model.load_state_dict(state, strict=False)


def _damaged(path: Path, what: str, err) -> CheckpointError:
    return CheckpointError(f"{path.name} (folder {path.parent}): its metadata's {what} is damaged ({err}); "
                           "the file was not written by save_checkpoint or was edited: export it again")


def checkpoint_parts(meta: dict, path: str | os.PathLike) -> list[str]:
    """The parts a checkpoint says it holds (all of them when its metadata does not say)."""
    try:
        parts = json.loads(meta.get("parts") or json.dumps(list(PARTS)))
    except ValueError as err:
        raise _damaged(Path(path), "'parts' list", err) from None
    if not isinstance(parts, list) or not set(parts) <= set(PARTS):
        raise _damaged(Path(path), "'parts' list", f"{parts!r} is not a list of {sorted(PARTS)}")
    return parts


def checkpoint_config(meta: dict, path: str | os.PathLike) -> TWGTMConfig:
    """The model config stored in a checkpoint's metadata."""
    try:
        return TWGTMConfig.from_dict(json.loads(meta["config"]))
    except (KeyError, ValueError, TypeError) as err:
        raise _damaged(Path(path), "model config", repr(err)) from None


def _build(config: TWGTMConfig, path: Path) -> TWGTM:
    """The model of a checkpoint's config; an error naming the file when the config does not build one."""
    try:
        return TWGTM(config)
    except (TypeError, ValueError, KeyError, AttributeError, RuntimeError) as err:
        raise _damaged(path, "model config", f"it does not build a model: {err!r}") from err


def load_checkpoint(path: str | os.PathLike, *, device=None, dtype: torch.dtype | None = None,
                    model: TWGTM | None = None) -> TWGTM:
    """Build the model from the file's config and load its weights (all parts it says it holds).

    Into a given `model` (training's `model.init`), the file's VAE latent scale comes with the VAE
    weights: it belongs to them (training calibrates it for that encoder) but lives in the config;
    likewise the UNet's prediction type, noise schedule and working size (the canvas size it was
    trained at) come with the UNet weights.
    """
    path = Path(path)
    meta = read_metadata(path)
    config = checkpoint_config(meta, path)
    parts = checkpoint_parts(meta, path)
    if model is None:
        model = _build(config, path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise unreadable_safetensors(path, err, "checkpoint") from err
    load_state(model, state, f"{path.name} (folder {path.parent})", parts)
    scale = config.vae.get("scaling_factor")
    if "vae" in parts and scale is not None and float(scale) != model.latent_scale:
        log.info("%s: VAE latent scale %.6g (was %.6g)", path.name, float(scale), model.latent_scale)
        model.vae.register_to_config(scaling_factor=float(scale))
        model.config.vae["scaling_factor"] = float(scale)
    if "unet" in parts:
        model.config.prediction_type = config.prediction_type
        model.config.zero_terminal_snr = config.zero_terminal_snr
        model.config.inference = dataclasses.replace(model.config.inference,
                                                     working_size=config.inference.working_size)
    missing_parts = [p for p in PARTS if p not in parts]
    if missing_parts:
        log.info("%s holds parts %s; %s keep their current weights", path.name, parts, missing_parts)
    return model.to(device=parse_device(device or "cpu"), dtype=None if dtype is None else parse_dtype(dtype)) \
        if (device or dtype) else model
