"""Memory: measured peaks (CPU RSS, CUDA allocator), and measured try-ons against the activation formula.

Measured peaks (one untimed run per contender, after the timed ones). On CUDA:
`torch.cuda.reset_peak_memory_stats` before, `max_memory_allocated` after (the caching
allocator's allocated bytes, not its reserve). On the CPU: the process's resident-set high-water
mark `VmHWM` from `/proc/self/status`, reset before the run by writing "5" to
`/proc/self/clear_refs` (Linux); where that is refused, the figure is the high-water mark of the
whole process and `resettable` says so. So that RSS follows the live tensors, glibc's malloc is
told (mallopt) to serve every block over 128 KiB by mmap and to give it back on free, and is
trimmed before the run; otherwise freed memory stays resident and is reused unseen.

Estimated peaks come from the sampler's own meta-device replay (`twgtm.sampling.memory_replay`,
re-exported here for the benchmark: `estimate_tryon_peak`, `LiveBytes`, ...). A CUDA run of the
benchmark also measures the peak of a whole try-on call at the same size (`--peak-tryon`), which
checks the estimate on the GPU.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from pathlib import Path

import torch

from ..sampling.memory_replay import (LiveBytes, estimate_tryon_peak, fused_attention_standin, measure_live_peak,
                                      tensor_bytes)

__all__ = ["rss_bytes", "rss_peak_bytes", "reset_rss_peak", "rss_follows_tensors", "PeakMemory", "check_formula",
           "LiveBytes", "estimate_tryon_peak", "fused_attention_standin", "measure_live_peak", "tensor_bytes"]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int:
    """Current resident set size of this process (0 where /proc is missing)."""
    kib = _status_kib("VmRSS")
    return 0 if kib is None else kib * 1024


def rss_peak_bytes() -> int:
    """Resident-set high-water mark of this process since start or the last `reset_rss_peak`."""
    kib = _status_kib("VmHWM")
    return 0 if kib is None else kib * 1024


def reset_rss_peak() -> bool:
    """Reset the RSS high-water mark to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


_M_MMAP_THRESHOLD = -3


@contextlib.contextmanager
def rss_follows_tensors():
    """glibc only: big blocks mmapped and returned on free, heap trimmed; restored to 32 MiB after."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024) == 1
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        libc, ok = None, False
    try:
        yield ok
    finally:
        if ok:
            libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)


class PeakMemory:
    """Context manager: `peak` bytes reached inside the block and `extra` = peak minus the bytes at entry."""

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.start = self.peak = self.extra = 0
        self.resettable = True

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        elif self.device.type == "cpu":
            self.resettable = reset_rss_peak()
            self.start = rss_bytes()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device)
        elif self.device.type == "cpu":
            self.peak = max(rss_peak_bytes(), rss_bytes())
        self.extra = max(0, self.peak - self.start)


def check_formula(pipe, sizes, batches, *, steps: int = 1, guidance: float = 2.5, seed: int = 0) -> list[dict]:
    """Measured activation peaks of whole try-ons against the formula of twgtm.sampling.memory_plan.

    For each person size (H, W) in `sizes`, batch in `batches` and CFG batched / sequential: one
    warm-up call of the same shape (oneDNN and the CUDA allocator set up their buffers per shape),
    then one measured call (`PeakMemory`: CUDA allocator peak, or the process RSS on the CPU with
    freed blocks returned), beside `estimate_run` for the same canvas on the same device type.
    """
    from ..sampling.memory_plan import estimate_run
    from ..sampling.working_size import letterbox_plan

    device = pipe.device
    g = torch.Generator().manual_seed(seed)
    rows = []
    for h, w in sizes:
        for batch in batches:
            person = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
            garment = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
            mask = torch.zeros(batch, 1, h, w)
            mask[:, :, h // 5: h * 3 // 4, w // 6: w * 5 // 6] = 1
            half = letterbox_plan(person, pipe.config, (h, w)).canvas
            for batched in (True, False):
                kw = dict(steps=steps, guidance=guidance, size=(h, w), seed=seed, cfg_batched=batched)
                # The warm-up runs under the same allocator settings: blocks it freed under glibc's default
                # (dynamic) mmap threshold would stay in the heap and inflate the measured RSS (about 2x here).
                with rss_follows_tensors() if device.type == "cpu" else contextlib.nullcontext():
                    pipe.tryon(person, garment, mask, **kw)  # warm-up of this shape
                    with PeakMemory(device) as peak:
                        pipe.tryon(person, garment, mask, **kw)
                estimate = estimate_run(pipe.config, half, batch, dtype=pipe.dtype, vae_dtype=pipe.model.vae.dtype,
                                        cfg=guidance != 1.0, cfg_batched=batched, device_type=device.type)
                rows.append({"person": [h, w], "canvas": list(estimate["canvas"]), "batch": batch, "cfg_batched": batched,
                             "measured_extra_bytes": peak.extra, "estimated_bytes": estimate["activation_bytes"],
                             "phases_bytes": estimate["phases_bytes"],
                             "relative_error": (estimate["activation_bytes"] - peak.extra) / max(1, peak.extra)})
    return rows
