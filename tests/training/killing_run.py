"""`python -m tests.training.killing_run [training.run arguments]`: `python -m training.run`, in which one
process kills itself with SIGKILL at a chosen point, as an out-of-memory killer or a lost machine would.

TWGTM_TEST_KILL lists the kills, `attempt:rank:where:step` separated by commas: in launch number `attempt`
of the job (TWGTM_TEST_ATTEMPT), the process of global `rank` dies
- `step`: mid-way through optimiser step `step` (after its backward pass, before the weights change);
- `save`: inside accelerate's `save_state` of checkpoint `step`, after this process's part of the
  TWGTM files (rank 0: model.safetensors, ema.safetensors) and before accelerate's own files.
"""
from __future__ import annotations

import os
import signal
import sys

from training import checkpointing
from training.run import main
from training.stages.base import StageLoop


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def die_in_step(at: int) -> None:
    """This process dies mid-way through optimiser step `at`."""
    optimizer_step = StageLoop.optimizer_step

    def dying_step(self, *args, **kwargs):
        if self.step + 1 == at and self.accelerator.sync_gradients:
            _die()
        return optimizer_step(self, *args, **kwargs)

    StageLoop.optimizer_step = dying_step


def die_in_save(at: int) -> None:
    """This process dies inside `save_state` of checkpoint `at`, after its own TWGTM files."""
    save_hook = checkpointing.RunCheckpoints._save_hook

    def dying_save_hook(self, models, weights, output_dir):
        save_hook(self, models, weights, output_dir)
        if output_dir.endswith(f"step-{at:06d}"):
            _die()

    checkpointing.RunCheckpoints._save_hook = dying_save_hook


def install(spec: str, attempt: int, rank: int) -> None:
    """Patch the training code so that this process dies where `spec` says (nothing when it names others)."""
    points = {"step": die_in_step, "save": die_in_save}
    for entry in filter(None, spec.split(",")):
        when, who, where, step = entry.split(":")
        if where not in points:
            raise ValueError(f"TWGTM_TEST_KILL: unknown point {where!r} in {entry!r}; use step or save")
        if int(when) == attempt and int(who) == rank:
            points[where](int(step))


if __name__ == "__main__":
    install(os.environ.get("TWGTM_TEST_KILL", ""), int(os.environ.get("TWGTM_TEST_ATTEMPT", "0")),
            int(os.environ.get("RANK", "0")))
    sys.exit(main(sys.argv[1:]))
