"""One sampling call over its batch: the out-of-memory ladder, the host's memory hooks, the parts sent back after.

`BatchRunner.run(one_pass, ...)` calls `one_pass(items, plan)` on slices of the batch as the
`oom.RunPlan` of each attempt says (CFG halves batched or not, chunk size, VAE tiling), through
`oom.run_with_fallback`: each attempt first asks the host's `MemoryHooks` to free its estimated
activation bytes (`memory_plan.estimate_run`), and the last failure says what would fit.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from .memory_plan import estimate_run, fit_advice
from .oom import MemoryHooks, RunPlan, run_with_fallback
from .placement import Placement
from .speed import SpeedSettings


def concat_results(parts: list):
    """The results (TryOnResult / TryOffResult dataclasses, a profile's too) of a batch run in chunks, in order."""
    if len(parts) == 1:
        return parts[0]
    fields = {f.name: [getattr(p, f.name) for p in parts] for f in dataclasses.fields(parts[0])}
    return type(parts[0])(**{k: None if v[0] is None else torch.cat(v) for k, v in fields.items()})


class BatchRunner:
    """Runs a call's passes down the out-of-memory ladder with the installed hooks and placement.

    `rows_batched`: the model always runs its CFG rows as one UNet batch (a CatVTON / TryOffAnyone
    profile, as published), so its ladder starts at the batch in chunks.
    """

    def __init__(self, model, speed: SpeedSettings, placement: Placement, rows_batched: bool = False):
        self.model = model
        self.speed = speed
        self.placement = placement
        self.hooks: MemoryHooks | None = None
        self.rows_batched = rows_batched

    def first_plan(self, b: int, guidance: float, cfg_batched: bool | None) -> RunPlan:
        """The plan of a call's first attempt: the configured CFG batching and VAE tiling, the whole batch."""
        if self.rows_batched:
            cfg_batched = False
        elif cfg_batched is None:
            cfg_batched = self.speed.options.get("cfg_batched", True)
        return RunPlan(bool(cfg_batched) and float(guidance) != 1.0, b, bool(self.speed.options.get("vae_tiling")))

    def memory_run(self, guidance: float, plan: RunPlan) -> dict:
        """estimate_run's keywords for this model and a plan."""
        cfg = float(guidance) > 1.0 if self.rows_batched else float(guidance) != 1.0
        return dict(dtype=next(self.model.parameters()).dtype, vae_dtype=self.model.vae.dtype, cfg=cfg,
                    cfg_batched=plan.cfg_batched or self.rows_batched, vae_tiling=plan.vae_tiling,
                    device_type=self.placement.device.type)

    def run(self, one_pass: Callable, b: int, half: tuple[int, int], guidance: float, cfg_batched: bool | None,
            concat: Callable = concat_results):
        """`one_pass(items, plan)` over the batch of `b` items on a `half` (H,W) canvas, with the ladder."""
        first = self.first_plan(b, guidance, cfg_batched)
        config = self.model.config

        def attempt(plan: RunPlan):
            restore = {}
            if plan.vae_tiling and not self.speed.options.get("vae_tiling"):
                restore = dict(vae_tiling=False, vae_slicing=bool(self.speed.options.get("vae_slicing")))
                self.speed.configure(vae_tiling=True, vae_slicing=True)
            try:
                step = max(1, min(plan.chunk, b))
                return concat([one_pass(slice(i, min(i + step, b)), plan) for i in range(0, b, step)])
            finally:
                if restore:
                    self.speed.configure(**restore)

        def estimate(plan: RunPlan) -> int:
            return estimate_run(config, half, min(plan.chunk, b), **self.memory_run(guidance, plan))["activation_bytes"]

        def what_fits(free_bytes: int | None) -> str:
            return fit_advice(config, half, free_bytes, self.memory_run(guidance, first),
                              self.memory_run(guidance, RunPlan(False, 1, True)))

        try:
            return run_with_fallback(attempt, first, b, self.placement.device, hooks=self.hooks, estimate=estimate,
                                     what_fits=what_fits)
        finally:
            self.placement.finish()


__all__ = ["BatchRunner", "concat_results"]
