"""The stage plan (which stage runs over which global steps) and a stage's learning-rate schedule."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .config import TrainingConfig

STAGE_ORDER = ("vae", "stage1", "stage2", "srm")


@dataclass
class Stage:
    """One stage of the plan: its name, first global step, length and its config section."""

    name: str
    start: int  # global step at which it starts
    steps: int
    settings: object  # its section of the config: stages.vae | stages.stage1 | stages.stage2 | stages.srm

    @property
    def end(self) -> int:
        """The global step after its last one."""
        return self.start + self.steps

    @property
    def number(self) -> int:
        """vae 0, stage1 1, stage2 2, srm 3."""
        return STAGE_ORDER.index(self.name)


def stage_plan(config: TrainingConfig) -> list[Stage]:
    """The stages with their global step ranges; `train.max_steps` caps each one."""
    cap = config.train.max_steps
    plan, start = [], 0
    for name in STAGE_ORDER:
        settings = getattr(config.stages, name)
        steps = settings.steps if cap is None else min(settings.steps, cap)
        plan.append(Stage(name, start, steps, settings))
        start += steps
    return plan


class StageSchedule:
    """Learning rate of one stage: linear warm-up, then constant or cosine decay to 0.

    Progress is the larger of the steps done and, when the stage has `max_minutes`, the share of its
    time used, so a stage cut short by its time limit still ends its decay. The time used is part of
    the state, so a resumed stage continues the same curve.
    """

    def __init__(self, optimizer, warmup: int, total_steps: int, schedule: str, max_minutes=None):
        self.optimizer = optimizer
        self.base = [group.setdefault("initial_lr", group["lr"]) for group in optimizer.param_groups]
        self.warmup, self.total, self.schedule = int(warmup), max(1, int(total_steps)), schedule
        self.max_seconds = None if max_minutes is None else 60.0 * float(max_minutes)
        self.done, self.elapsed = 0, 0.0
        self._apply()

    @property
    def progress(self) -> float:
        """The share of the stage done, by steps or by time, whichever is further."""
        by_time = self.elapsed / self.max_seconds if self.max_seconds else 0.0
        return min(1.0, max(self.done / self.total, by_time))

    @property
    def out_of_time(self) -> bool:
        """Whether the stage has used its `max_minutes`."""
        return self.max_seconds is not None and self.elapsed >= self.max_seconds

    def factor(self) -> float:
        """The multiplier of the base learning rate now."""
        if self.done < self.warmup:
            return (self.done + 1) / self.warmup
        if self.schedule == "constant":
            return 1.0
        start = self.warmup / self.total
        return 0.5 * (1.0 + math.cos(math.pi * max(0.0, self.progress - start) / max(1e-8, 1.0 - start)))

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base):
            group["lr"] = base * self.factor()

    def step(self, seconds: float = 0.0) -> None:
        """Count one optimiser step that took `seconds`."""
        self.done += 1
        self.elapsed += float(seconds)
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rate of each parameter group."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """Steps done and seconds used (JSON numbers)."""
        return {"done": self.done, "elapsed": self.elapsed}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a saved `state_dict`."""
        self.done, self.elapsed = int(state["done"]), float(state["elapsed"])
        self._apply()
