"""Resumable training checkpoints: accelerate's `save_state` / `load_state`, plus TWGTM files from its hooks.

    <output_dir>/checkpoints/step-000500/
        model.safetensors         every part of the model: a TWGTM checkpoint, so
                                  twgtm.weights.checkpoint.load_checkpoint samples from a mid-run checkpoint
        ema.safetensors           the stage's EMA weights (mid-stage, when EMA is on)
        srm_teacher.safetensors   the srm stage's teacher (mid-srm-stage)
        optimizer.bin             the optimiser state (accelerate: torch.save of tensors and numbers)
        scaler.pt                 the fp16 gradient scaler (accelerate; train.mixed_precision=fp16 only)
        random_states_<rank>.pkl  each process's RNG states and accelerate's step counter (accelerate)
        state.json                step, stage, latent scale, LR schedule, process count, config, and the
                                  sha256 of every other file in the folder
Under FSDP or DeepSpeed accelerate adds its own sharded model / optimiser files, which it reads back
itself; model.safetensors then holds the gathered full weights. A checkpoint at the end of a stage
holds no optimiser, EMA or teacher: the next stage starts afresh from the model.

Writing: every process calls `save_state` into `.tmp-step-NNNNNN`; then the main process writes
state.json, syncs every file to disk and renames the folder into place, so a run killed mid-save
leaves the previous checkpoint whole and the half-written one is never picked by `resume=latest`.
Past `checkpoint.keep` the oldest are deleted.

Reading: accelerate 1.15 reads optimizer.bin, scaler.pt and random_states_<rank>.pkl through
`accelerate.utils.load`, which is `torch.load(weights_only=True)` (tensors, numbers, numpy RNG
arrays; no code runs). It would read registered custom objects (`custom_checkpoint_<i>.pkl`) with
`weights_only=False`, so nothing is registered with `register_for_checkpointing`: the LR schedule
goes to state.json, the EMA and the teacher to safetensors, through accelerate's save / load
pre-hooks. Before `load_state` every file in the folder must be one that state.json lists, with
the same sha256, so no file that the training code did not write is read.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from twgtm.errors import CheckpointError
from twgtm.weights.checkpoint import load_checkpoint, save_checkpoint

from .ema import EMA
from .schedule import StageSchedule

log = logging.getLogger("twgtm")

PATTERN = re.compile(r"^step-(\d+)$")
STATE_FILE, MODEL_FILE, EMA_FILE = "state.json", "model.safetensors", "ema.safetensors"


def checkpoint_root(output_dir) -> Path:
    """The folder holding a run's checkpoints."""
    return Path(output_dir) / "checkpoints"


def list_checkpoints(output_dir) -> list[Path]:
    """Complete checkpoints under `output_dir`, oldest first."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and PATTERN.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(PATTERN.match(p.name).group(1)))


def resolve_resume(resume, output_dir) -> Path | None:
    """`resume` None -> None; "latest" -> the newest complete checkpoint (None if there is none); else a folder."""
    if resume in (None, ""):
        return None
    if str(resume) == "latest":
        found = list_checkpoints(output_dir)
        if not found:
            log.info("resume=latest: no checkpoint in %s yet, starting from step 0", checkpoint_root(output_dir))
            return None
        return found[-1]
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise CheckpointError(f"cannot resume from {path}: it is not a complete checkpoint folder (no state.json); "
                              f"give a folder like {checkpoint_root(output_dir)}/step-000500 or resume=latest")
    return path


def read_state(path: Path) -> dict:
    """The state.json of checkpoint folder `path`."""
    try:
        return json.loads((Path(path) / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}/state.json could not be read ({err}); resume from an older checkpoint") from err


def load_model_weights(path: Path, model) -> dict:
    """Load the model weights of checkpoint folder `path` into `model`; returns its state.json."""
    state = read_state(path)
    load_checkpoint(Path(path) / MODEL_FILE, model=model)
    scale = state.get("latent_scale")
    if scale is not None:
        set_latent_scale(model, float(scale))
    return state


def load_extra(path: Path, name: str) -> dict:
    """The tensors a stage saved as `<name>.safetensors` in checkpoint folder `path`."""
    file = Path(path) / f"{name}.safetensors"
    if not file.is_file():
        raise CheckpointError(f"{file} is missing: this checkpoint cannot resume its stage (it needs {name}); "
                              f"resume from another checkpoint or start the stage afresh with model.init")
    return load_file(str(file))


def set_latent_scale(model, scale: float) -> None:
    """Set the VAE latent scaling factor in the module and in the model config (saved with checkpoints)."""
    model.vae.register_to_config(scaling_factor=float(scale))
    model.config.vae["scaling_factor"] = float(scale)


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file in `folder` but state.json."""
    digests = {}
    for file in sorted(Path(folder).iterdir()):
        if file.is_file() and file.name != STATE_FILE:
            sha = hashlib.sha256()
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    sha.update(block)
            digests[file.name] = sha.hexdigest()
    return digests


def verify_files(folder: Path, state: dict) -> None:
    """Check that `folder` holds exactly the files its state.json lists, unchanged."""
    listed = state.get("files")
    if listed is None:
        raise CheckpointError(f"{folder} was written by an older version of the training code and cannot resume "
                              f"its stage; start from its weights instead: model.init={Path(folder) / MODEL_FILE}")
    found = file_digests(folder)
    missing, unknown = sorted(set(listed) - set(found)), sorted(set(found) - set(listed))
    changed = sorted(name for name in set(listed) & set(found) if listed[name] != found[name])
    if missing or unknown or changed:
        raise CheckpointError(f"checkpoint {folder} is not as it was written (missing: {missing}, not written by "
                              f"the training code: {unknown}, changed: {changed}); only files of a checkpoint are "
                              f"read back, so resume from another checkpoint (resume=<its folder>) or remove the "
                              f"files that do not belong")


@dataclass
class StageState:
    """What a stage adds to its mid-stage checkpoints beyond accelerate's own state."""

    schedule: StageSchedule
    ema: EMA | None = None
    modules: dict[str, nn.Module] = field(default_factory=dict)  # e.g. {"srm_teacher": the frozen teacher}


class GatheredModel:
    """The two things `save_checkpoint` reads from a model, with the state dict gathered from every process."""

    def __init__(self, config, tensors: dict):
        self.config, self.tensors = config, tensors

    def state_dict(self) -> dict:
        """The full weights."""
        return self.tensors


class RunCheckpoints:
    """Saves and loads one run's checkpoints through `accelerator.save_state` / `load_state` and its hooks."""

    def __init__(self, accelerator, model, output_dir, keep: int):
        self.accelerator, self.model, self.keep = accelerator, model, int(keep)
        self.root = checkpoint_root(output_dir)
        self.stage_state: StageState | None = None  # set by a stage while it trains
        accelerator.register_save_state_pre_hook(self._save_hook)
        accelerator.register_load_state_pre_hook(self._load_hook)

    def save(self, step: int, state: dict) -> Path:
        """Write checkpoint `step` atomically (every process calls this), then rotate; returns its folder."""
        acc, final = self.accelerator, self.root / f"step-{step:06d}"
        tmp = self.root / f".tmp-step-{step:06d}"
        try:
            if acc.is_main_process:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
            acc.wait_for_everyone()
            acc.save_state(str(tmp), safe_serialization=True)
            acc.wait_for_everyone()
            if acc.is_main_process:
                schedule = self.stage_state.schedule.state_dict() if self.stage_state is not None else None
                record = {**state, "step": int(step), "lr_schedule": schedule, "processes": acc.num_processes,
                          "files": file_digests(tmp)}
                (tmp / STATE_FILE).write_text(json.dumps(record, indent=2, default=str))
                for file in tmp.iterdir():  # make the contents durable before the rename publishes them
                    with open(file, "rb") as handle:
                        os.fsync(handle.fileno())
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp, final)
                for old in list_checkpoints(self.root.parent)[:-max(1, self.keep)]:
                    shutil.rmtree(old, ignore_errors=True)
                log.info("saved checkpoint %s", final)
        except OSError as err:
            raise CheckpointError(f"could not write checkpoint {final} ({err}); check that output_dir is writable "
                                  f"and its disk has room") from err
        acc.wait_for_everyone()
        return final

    def load(self, folder: Path, stage_state: StageState) -> None:
        """Restore the optimiser, RNG states, LR schedule, EMA and teacher of a mid-stage checkpoint."""
        verify_files(folder, read_state(folder))
        self.stage_state = stage_state
        try:
            self.accelerator.load_state(str(folder), load_kwargs={"weights_only": True})  # optimizer.bin
        except (ValueError, RuntimeError, KeyError, OSError) as err:
            raise CheckpointError(f"checkpoint {folder} does not fit this run ({err}); resume with the config it "
                                  f"was written with, or start afresh from its weights: "
                                  f"model.init={Path(folder) / MODEL_FILE}") from err
        log.info("resumed the stage's optimiser, LR schedule and averages from %s", folder)

    # ----- accelerate hooks ----------------------------------------------------------------------
    def _full_weights(self, models: list) -> dict:
        """The model's state dict with the prepared modules' weights as accelerate gathers them (FSDP-safe)."""
        tensors = dict(self.model.state_dict())
        for prepared in models:
            gathered = self.accelerator.get_state_dict(prepared)  # a collective under FSDP / DeepSpeed ZeRO-3
            foreign = sorted(set(gathered) - set(tensors))
            if foreign:
                raise CheckpointError(f"a trained module's weights {foreign[:3]} are not the model's: a stage "
                                      f"wrapped a module whose parameter names differ from TWGTM's")
            tensors.update(gathered)
        return tensors

    def _save_hook(self, models: list, weights: list, output_dir: str) -> None:
        """Write the TWGTM files instead of accelerate's model_<i>.safetensors (runs on every process)."""
        tensors = self._full_weights(models)
        weights.clear()
        if not self.accelerator.is_main_process:
            return
        out = Path(output_dir)
        save_checkpoint(GatheredModel(self.model.config, tensors), out / MODEL_FILE)
        if self.stage_state is None:
            return
        ema = self.stage_state.ema
        if ema is not None:
            ema_state = ema.state_dict()
            save_file({k: v.contiguous() for k, v in ema_state["shadow"].items()}, str(out / EMA_FILE),
                      metadata={"updates": str(ema_state["updates"]), "decay": str(ema_state["decay"])})
        for name, module in self.stage_state.modules.items():
            save_file({k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()},
                      str(out / f"{name}.safetensors"))

    def _load_hook(self, models: list, input_dir: str) -> None:
        """Read the stage's own files; the model weights were loaded from model.safetensors when the run began."""
        models.clear()
        folder, stage_state = Path(input_dir), self.stage_state
        if stage_state is None:
            return
        schedule = read_state(folder).get("lr_schedule")
        if schedule is None:
            raise CheckpointError(f"{folder} was saved at the end of a stage and holds no LR schedule; resume "
                                  f"from a checkpoint saved inside the stage")
        stage_state.schedule.load_state_dict(schedule)
        if stage_state.ema is not None:
            file = folder / EMA_FILE
            if not file.is_file():
                raise CheckpointError(f"{file} is missing: this checkpoint has no EMA weights to resume; resume "
                                      f"with the train.ema_decay it was written with")
            with safe_open(str(file), framework="pt") as handle:
                updates = int((handle.metadata() or {}).get("updates", "0"))
            stage_state.ema.load_state_dict({"shadow": load_file(str(file)), "updates": updates}, str(file))
        for name, module in stage_state.modules.items():
            module.load_state_dict(load_extra(folder, name))
