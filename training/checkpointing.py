"""Resumable training checkpoints, written atomically and kept to a limit.

    <output_dir>/checkpoints/step-000500/
        model.safetensors      every part (a TWGTM checkpoint: loads with twgtm.weights.checkpoint)
        ema.safetensors        the stage's EMA weights (when EMA is on)
        <name>.safetensors     other tensors a stage needs to resume (the srm stage's teacher)
        optimizer.pt           optimiser and LR-scheduler state (tensors and numbers only)
        state.json             step, stage, config

A checkpoint is written into a temporary folder and renamed into place, so a run killed during a
save leaves the previous checkpoint whole and the half-written one is never picked as `latest`.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from twgtm.weights.checkpoint import load_checkpoint, save_checkpoint
from twgtm.errors import CheckpointError

log = logging.getLogger("twgtm")

PATTERN = re.compile(r"^step-(\d+)$")


def checkpoint_root(output_dir) -> Path:
    return Path(output_dir) / "checkpoints"


def list_checkpoints(output_dir) -> list[Path]:
    """Complete checkpoints under `output_dir`, oldest first."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and PATTERN.match(p.name) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(PATTERN.match(p.name).group(1)))


def resolve_resume(resume, output_dir) -> Path | None:
    """`resume` None -> None; "latest" -> the newest complete checkpoint (None if there is none); else a folder."""
    if resume in (None, "", False):
        return None
    if str(resume) == "latest":
        found = list_checkpoints(output_dir)
        if not found:
            log.info("resume=latest: no checkpoint in %s yet, starting from step 0", checkpoint_root(output_dir))
            return None
        return found[-1]
    path = Path(resume)
    if not (path / "state.json").is_file():
        raise CheckpointError(f"cannot resume from {path}: it is not a complete checkpoint folder (no state.json); "
                              f"give a folder like {checkpoint_root(output_dir)}/step-000500 or resume=latest")
    return path


def save_training_checkpoint(output_dir, step: int, model, state: dict, optimizer=None, lr_scheduler=None,
                             ema=None, keep: int = 3, extra: dict | None = None) -> Path:
    """Write checkpoint `step` atomically, then delete all but the newest `keep`."""
    root = checkpoint_root(output_dir)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_checkpoint(model, tmp / "model.safetensors")
    if ema is not None:
        ema_state = ema.state_dict()
        save_file({k: v.contiguous() for k, v in ema_state["shadow"].items()}, str(tmp / "ema.safetensors"),
                  metadata={"updates": str(ema_state["updates"]), "decay": str(ema_state["decay"])})
    for name, tensors in (extra or {}).items():
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / f"{name}.safetensors"))
    if optimizer is not None:
        torch.save({"optimizer": optimizer.state_dict(),
                    "lr_scheduler": lr_scheduler.state_dict() if lr_scheduler is not None else None},
                   tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({**state, "step": int(step)}, indent=2, default=str))
    for file in tmp.iterdir():  # make the contents durable before the rename publishes them
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(output_dir)[:-max(1, int(keep))]:
        shutil.rmtree(old, ignore_errors=True)
    log.info("saved checkpoint %s", final)
    return final


def read_state(path: Path) -> dict:
    try:
        return json.loads((Path(path) / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}/state.json could not be read ({err}); resume from an older checkpoint") from err


def load_model_weights(path: Path, model) -> dict:
    """Load the model weights of checkpoint folder `path` into `model`; returns its state.json."""
    state = read_state(path)
    load_checkpoint(Path(path) / "model.safetensors", model=model)
    scale = state.get("latent_scale")
    if scale is not None:
        set_latent_scale(model, float(scale))
    return state


def load_stage_state(path: Path, optimizer, lr_scheduler, ema) -> None:
    """Restore the optimiser, LR scheduler and EMA of the stage that checkpoint `path` was saved in."""
    path = Path(path)
    if optimizer is not None:
        file = path / "optimizer.pt"
        if not file.is_file():
            raise CheckpointError(f"{file} is missing: this checkpoint cannot resume its stage's optimiser")
        saved = torch.load(file, map_location="cpu", weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        if lr_scheduler is not None and saved.get("lr_scheduler") is not None:
            lr_scheduler.load_state_dict(saved["lr_scheduler"])
    if ema is not None:
        file = path / "ema.safetensors"
        if not file.is_file():
            raise CheckpointError(f"{file} is missing: this checkpoint has no EMA weights to resume")
        from safetensors import safe_open

        with safe_open(str(file), framework="pt") as handle:
            updates = int((handle.metadata() or {}).get("updates", "0"))
        ema.load_state_dict({"shadow": load_file(str(file)), "updates": updates})


def load_extra(path: Path, name: str) -> dict:
    """The tensors a stage saved as `<name>.safetensors` in checkpoint folder `path`."""
    file = Path(path) / f"{name}.safetensors"
    if not file.is_file():
        raise CheckpointError(f"{file} is missing: this checkpoint cannot resume its stage (it needs {name})")
    return load_file(str(file))


def set_latent_scale(model, scale: float) -> None:
    """Set the VAE latent scaling factor in the module and in the model config (saved with checkpoints)."""
    model.vae.register_to_config(scaling_factor=float(scale))
    model.config.vae["scaling_factor"] = float(scale)
