"""Timing: device synchronisation, one timed call, and round-robin repeats of several contenders.

Contenders are measured in one process, interleaved: repeat r runs every contender once, in an
order rotated by r, so that a slow spell of a shared machine hits all of them alike. The figure
reported is the median.
"""
from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .memory import PeakMemory


def synchronize(device: torch.device) -> None:
    """Wait for queued work on `device` (CUDA); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Contender:
    """One thing to time: `run()` is timed; `setup()` (a context manager factory) wraps it untimed."""

    name: str
    run: Callable[[], object]
    setup: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext


@dataclass
class Timing:
    """The repeats of one contender: seconds of each run and the peak memory above its start."""

    name: str
    seconds: list = field(default_factory=list)
    peak_extra_bytes: int = 0
    peak_bytes: int = 0

    @property
    def median(self) -> float:
        """Median seconds."""
        return statistics.median(self.seconds)

    def as_dict(self) -> dict:
        """JSON-ready summary."""
        return {"median_s": self.median, "min_s": min(self.seconds), "max_s": max(self.seconds),
                "repeats": len(self.seconds), "peak_extra_bytes": self.peak_extra_bytes, "peak_bytes": self.peak_bytes}


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, PeakMemory]:
    """Run `fn` once between device synchronisations; (seconds, its PeakMemory)."""
    synchronize(device)
    with PeakMemory(device) as peak:
        start = time.perf_counter()
        fn()
        synchronize(device)
        seconds = time.perf_counter() - start
    return seconds, peak


def round_robin(contenders: list[Contender], device: torch.device, repeats: int, warmup: int = 1,
                log: Callable[[str], None] | None = None) -> dict[str, Timing]:
    """Time every contender `repeats` times, interleaved and rotated; `warmup` untimed rounds first."""
    results = {c.name: Timing(c.name) for c in contenders}
    for _ in range(max(0, warmup)):
        for c in contenders:
            with c.setup():
                c.run()
    synchronize(device)
    n = len(contenders)
    for r in range(max(1, repeats)):
        for c in contenders[r % n:] + contenders[:r % n]:
            with c.setup():
                seconds, peak = timed(c.run, device)
            t = results[c.name]
            t.seconds.append(seconds)
            t.peak_extra_bytes = max(t.peak_extra_bytes, peak.extra)
            t.peak_bytes = max(t.peak_bytes, peak.peak)
            if log is not None:
                log(f"  {c.name}: {seconds * 1e3:.1f} ms (repeat {r + 1}/{repeats})")
    return results
