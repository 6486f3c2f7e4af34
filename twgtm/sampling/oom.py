"""Out-of-memory fallback of one sampling call: a ladder of cheaper ways to run the same numbers.

A call first runs as configured. When the device runs out of memory (`torch.OutOfMemoryError`,
which `torch.cuda.OutOfMemoryError` is), it retries on the next rung, each keeping the previous
ones:
  1. the CFG halves one after the other instead of one UNet batch (half the UNet activations);
  2. the batch in chunks, halved until one item at a time (every item has its own seed, so the
     chunks give the batch's images);
  3. VAE tiling and slicing (the VAE holds one tile of one item at a time).
Each rung taken is logged once. Between attempts the hooks release the allocator's cache, outside
the `except` block, so that the failed attempt's tensors are already gone. When the last rung fails
too, `OutOfMemory` says what would fit: the working size at batch 1 and the batch at the asked size
whose estimated activations (twgtm.sampling.memory_plan) fit into the free memory.

`MemoryHooks` is how a host takes part: `reserve(nbytes, device)` before each attempt with its
estimated activation bytes (ComfyUI frees that much through its memory manager), `release(device)`
after an out-of-memory error, `free_bytes(device)` for the error message.
"""
from __future__ import annotations

import gc
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, TypeVar

import torch

from ..errors import OutOfMemory
from .memory_plan import format_bytes

log = logging.getLogger("twgtm")

__all__ = ["OOM_ERRORS", "RunPlan", "MemoryHooks", "rungs_after", "run_with_fallback"]

OOM_ERRORS = (torch.OutOfMemoryError,)
T = TypeVar("T")


@dataclass(frozen=True)
class RunPlan:
    """How one attempt runs: CFG batched or not, items per pass, VAE tiled or not."""

    cfg_batched: bool
    chunk: int
    vae_tiling: bool


def _meminfo_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (Linux), else None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class MemoryHooks:
    """A host's part in a call's memory; this default reserves nothing and empties PyTorch's cache after an OOM."""

    def reserve(self, nbytes: int, device: torch.device) -> None:
        """Called before each attempt with its estimated activation bytes; the default does nothing."""

    def release(self, device: torch.device) -> None:
        """After an out-of-memory error: collect garbage and return cached blocks to the device."""
        gc.collect()
        if torch.device(device).type == "cuda" and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def free_bytes(self, device: torch.device) -> int | None:
        """Bytes free on `device` (CUDA: the driver's count; CPU: MemAvailable), or None when unknown."""
        device = torch.device(device)
        if device.type == "cuda" and torch.cuda.is_available():
            return int(torch.cuda.mem_get_info(device)[0])
        if device.type == "cpu":
            return _meminfo_available()
        return None


def rungs_after(first: RunPlan, batch: int) -> list[tuple[str, RunPlan]]:
    """The fallback rungs after `first`, each with the words its log line uses."""
    rungs, plan = [], first
    if plan.cfg_batched:
        plan = replace(plan, cfg_batched=False)
        rungs.append(("the CFG halves one after the other", plan))
    chunk = min(plan.chunk, batch)
    while chunk > 1:
        chunk = math.ceil(chunk / 2)
        plan = replace(plan, chunk=chunk)
        rungs.append(("one item at a time" if chunk == 1 else f"the batch in chunks of {chunk}", plan))
    if not plan.vae_tiling:
        plan = replace(plan, vae_tiling=True)
        rungs.append(("VAE tiling", plan))
    return rungs


def run_with_fallback(attempt: Callable[[RunPlan], T], first: RunPlan, batch: int, device: torch.device, *,
                      hooks: MemoryHooks | None = None, estimate: Callable[[RunPlan], int] | None = None,
                      what_fits: Callable[[int | None], str] | None = None) -> T:
    """`attempt(plan)` on `first`, then down the ladder after each out-of-memory error; OutOfMemory after the last.

    `estimate(plan)`: the attempt's activation bytes, passed to `hooks.reserve` (only when hooks are
    given). `what_fits(free_bytes)`: the sentence of the final error that says what would fit.
    """
    releaser = hooks or MemoryHooks()
    plans = [("", first), *rungs_after(first, batch)]
    taken, last_error = [], ""
    for label, plan in plans:
        if label:
            log.warning("TWGTM: out of memory on %s (%s); retrying with %s", device, last_error, label)
            taken.append(label)
        if hooks is not None and estimate is not None:
            hooks.reserve(int(estimate(plan)), device)
        try:
            return attempt(plan)
        except OOM_ERRORS as exc:
            last_error = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        releaser.release(device)  # outside the except block: the failed attempt's frames are gone
    free = releaser.free_bytes(device)
    tried = ", ".join(taken) if taken else "nothing else to try"
    fits = what_fits(free) if what_fits is not None else ""
    free_text = f"{format_bytes(free)} are free on {device}" if free is not None else f"the free memory of {device} is unknown"
    raise OutOfMemory(f"out of memory on {device} ({last_error}) even after {tried}; {free_text}. {fits}".strip())
