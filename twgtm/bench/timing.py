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

from .memory import PeakMemory, rss_follows_tensors


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
    """The repeats of one contender: seconds of each run; peak memory of one more run (`memory_pass`)."""

    name: str
    seconds: list = field(default_factory=list)
    peak_extra_bytes: int | None = None
    peak_bytes: int | None = None

    @property
    def median(self) -> float:
        """Median seconds."""
        return statistics.median(self.seconds)

    def as_dict(self) -> dict:
        """JSON-ready summary (peaks only for contenders that had a memory pass)."""
        d = {"median_s": self.median, "min_s": min(self.seconds), "max_s": max(self.seconds), "repeats": len(self.seconds)}
        if self.peak_bytes is not None:
            d.update(peak_bytes=self.peak_bytes, peak_extra_bytes=self.peak_extra_bytes)
        return d


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of running `fn` once, between device synchronisations."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def peak_memory(fn: Callable[[], object], device: torch.device) -> PeakMemory:
    """Run `fn` once and measure its peak memory (see `memory`); untimed."""
    synchronize(device)
    with rss_follows_tensors() if device.type == "cpu" else contextlib.nullcontext():
        with PeakMemory(device) as peak:
            fn()
            synchronize(device)
    return peak


def memory_pass(contenders: list[Contender], timings: dict[str, Timing], device: torch.device) -> None:
    """One more, untimed run of each contender, recording its peak memory in `timings`."""
    for c in contenders:
        with c.setup():
            peak = peak_memory(c.run, device)
        t = timings.setdefault(c.name, Timing(c.name))
        t.peak_bytes, t.peak_extra_bytes = peak.peak, peak.extra


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
                seconds = timed(c.run, device)
            results[c.name].seconds.append(seconds)
            if log is not None:
                log(f"  {c.name}: {seconds * 1e3:.1f} ms (repeat {r + 1}/{repeats})")
    return results
