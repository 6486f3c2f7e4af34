"""What every stage loop shares: the run's state, the optimiser and its schedule, resuming, one
optimiser step under `accelerator.accumulate`, the progress bar, periodic checkpoints, validation."""
from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from twgtm.model.network import TWGTM

from ..checkpointing import RunCheckpoints, StageState
from ..config import TrainingConfig
from ..schedule import Stage, StageSchedule
from ..tb_logging import TensorBoardLogger
from ..validate import save_grid, validation_grid

log = logging.getLogger("twgtm")


@dataclass
class RunContext:
    """The state the stages of one run share; `step` is the global step counter."""

    config: TrainingConfig
    accelerator: Accelerator
    model: TWGTM
    train_set: Dataset
    val_set: Dataset | None
    logger: TensorBoardLogger
    checkpoints: RunCheckpoints
    output_dir: Path
    show_progress: bool
    resume_from: Path | None
    step: int = 0


class StageLoop(ABC):
    """One stage's training loop: subclasses write `train()` with the helpers here."""

    def __init__(self, run: RunContext, stage: Stage):
        self.run, self.stage = run, stage
        self.config, self.accelerator, self.model = run.config, run.accelerator, run.model
        self.device = self.accelerator.device

    @property
    def step(self) -> int:
        """The global step."""
        return self.run.step

    @step.setter
    def step(self, value: int) -> None:
        self.run.step = int(value)

    def accumulation_steps(self) -> int:
        """Micro-batches per optimiser step (1 unless a stage accumulates)."""
        return 1

    @abstractmethod
    def train(self) -> None:
        """Run the stage from the current step to its end, then save."""

    # ----- setting up ----------------------------------------------------------------------------
    def make_optimizer(self, params) -> tuple[torch.optim.Optimizer, StageSchedule]:
        """AdamW at the stage's learning rate (else `train.lr`) and its warm-up / decay schedule."""
        train, settings = self.config.train, self.stage.settings
        optimizer = torch.optim.AdamW(params, lr=float(settings.lr or train.lr), weight_decay=train.weight_decay)
        schedule = StageSchedule(optimizer, train.warmup_steps, self.stage.steps, train.lr_schedule,
                                 settings.max_minutes)
        return optimizer, schedule

    def prepare(self, module, optimizer):
        """The module and optimiser wrapped by accelerate, with the stage's gradient accumulation."""
        self.accelerator.gradient_accumulation_steps = self.accumulation_steps()
        return self.accelerator.prepare(module, optimizer)

    def resume(self, state: StageState) -> None:
        """Put `state` in this stage's checkpoints; a run resumed inside this stage loads it (and the optimiser)."""
        self.run.checkpoints.stage_state = state
        folder = self.run.resume_from
        if folder is not None and self.stage.start < self.step < self.stage.end:
            self.run.checkpoints.load(folder, state)

    def progress_bar(self):
        """The stage's progress bar (main process, unless turned off)."""
        return tqdm(total=self.stage.steps, initial=self.step - self.stage.start, desc=self.stage.name,
                    disable=not (self.accelerator.is_main_process and self.run.show_progress), dynamic_ncols=True)

    # ----- one step ------------------------------------------------------------------------------
    def optimizer_step(self, params, optimizer, schedule: StageSchedule, ema, started: float, bar,
                       losses: dict) -> bool:
        """Inside `accelerator.accumulate`: when gradients sync, clip, step, schedule, average and count the
        step (progress bar; TensorBoard `losses` by name, 'loss' first); a stage out of time ends here.
        Returns whether a step was counted."""
        acc, clip = self.accelerator, self.config.train.max_grad_norm
        if acc.sync_gradients and clip:
            acc.clip_grad_norm_(params, float(clip))
        optimizer.step()  # accelerate skips it, and zero_grad, until the last micro-batch of the step
        optimizer.zero_grad(set_to_none=True)
        if not acc.sync_gradients:
            return False
        schedule.step(time.perf_counter() - started)
        if ema is not None:
            ema.update(self.model)
        self.step += 1
        lr = schedule.get_last_lr()[0]
        bar.update(1)
        bar.set_postfix(loss=f"{losses['loss']:.4f}", lr=f"{lr:.2e}")
        if self.step % self.config.log_every == 0:
            name = self.stage.name
            self.run.logger.scalars({**{f"{name}/{k}": v for k, v in losses.items()}, f"{name}/lr": lr}, self.step)
        if schedule.out_of_time:
            log.info("stage %s: max_minutes reached at step %d; moving on", self.stage.name, self.step)
            self.step = self.stage.end
        return True

    # ----- checkpoints and validation -------------------------------------------------------------
    def save(self) -> Path:
        """A checkpoint at the current step (every process calls this)."""
        state = {"stage": self.stage.name, "latent_scale": self.model.latent_scale, "config": self.config.to_dict()}
        return self.run.checkpoints.save(self.step, state)

    def periodic_checkpoint(self) -> None:
        """Save every `checkpoint.every` steps inside the stage (its end saves anyway)."""
        every = self.config.checkpoint.every
        if every > 0 and self.step % every == 0 and self.step < self.stage.end:
            self.save()

    def finish(self) -> None:
        """Release the stage's prepared objects and save the model as the stage left it."""
        self.accelerator.free_memory()
        self.run.checkpoints.stage_state = None
        self.save()

    def validate_if_due(self, ema) -> None:
        """A validation grid every `validate.every` steps and at the stage's end (main process, EMA weights)."""
        spec, run = self.config.validate, self.run
        due = self.step == self.stage.end or (spec.every > 0 and self.step % spec.every == 0)
        if not (due and self.accelerator.is_main_process and run.val_set is not None and spec.count > 0):
            return
        if ema is not None:
            ema.swap(self.model)
        try:
            grid = validation_grid(self.model, run.val_set, spec.count, spec.steps, spec.guidance, self.config.seed)
        finally:
            if ema is not None:
                ema.swap(self.model)
        path = save_grid(grid, run.output_dir / "validation" / f"step-{self.step:06d}.png")
        run.logger.image(f"validation/{self.stage.name}", grid, self.step)
        log.info("validation grid: %s", path)
