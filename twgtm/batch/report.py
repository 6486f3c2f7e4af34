"""What a batch job tells its user: the summary (summary.json), the final table and the dry-run listing."""
from __future__ import annotations

from dataclasses import fields


def _gib(n: int) -> str:
    return f"{n / 2 ** 30:.2f} GiB"


def summarize(plan, stats: list, seconds: float, processes: int, options) -> dict:
    """The job's counts and speeds: done (written now), skipped (already there), failed, images/s, peak memory."""
    failed = len(plan.failures) + sum(len(s.failures) for s in stats)
    done = sum(s.done for s in stats)
    per_process = [{"process": s.process, "done": s.done, "failed": len(s.failures), "batches": len(s.batches),
                    "seconds": round(s.seconds, 3), "load_seconds": round(s.load_seconds, 3),
                    "images_per_s": round(s.done / s.seconds, 4) if s.seconds > 0 else 0.0,
                    "peak_memory_bytes": s.peak_bytes} for s in stats]
    running = max((s.seconds for s in stats), default=0.0)
    return {"items": plan.items, "done": done, "skipped": plan.skipped, "failed": failed,
            "processes": processes, "batch_size": options.batch_size, "wall_seconds": round(seconds, 3),
            "images_per_s": round(done / running, 4) if running > 0 else 0.0,
            "peak_memory_bytes": max((s.peak_bytes for s in stats), default=0), "per_process": per_process,
            "dry_run": options.dry_run}


def table(summary: dict) -> str:
    """The final table: one line per process and the total."""
    head = f"{'process':<9}{'done':>8}{'skipped':>9}{'failed':>8}{'images/s':>10}{'peak memory':>14}"
    lines = [head, "-" * len(head)]
    if summary["processes"] > 1:
        for p in summary["per_process"]:
            lines.append(f"{p['process']:<9}{p['done']:>8}{'':>9}{p['failed']:>8}{p['images_per_s']:>10.3f}"
                         f"{_gib(p['peak_memory_bytes']):>14}")
    lines.append(f"{'all':<9}{summary['done']:>8}{summary['skipped']:>9}{summary['failed']:>8}"
                 f"{summary['images_per_s']:>10.3f}{_gib(summary['peak_memory_bytes']):>14}")
    return "\n".join(lines)


def _settings_text(settings) -> str:
    default = type(settings)()
    changed = [f"{f.name}={getattr(settings, f.name)}" for f in fields(settings)
               if getattr(settings, f.name) != getattr(default, f.name)]
    return " ".join(changed) or "defaults"


def dry_run_text(plan, stats: list, store, family: str) -> str:
    """What a run would do: each batch with its process, task, sizes, settings and items; then the failures."""
    owner = {index: s.process for s in stats for index in s.batches}
    lines = [f"{plan.items} items: {len(plan.todo)} to run in {len(plan.batches)} batches, {plan.skipped} already "
             f"done, {len(plan.failures)} failing"]
    for batch in plan.batches:
        sizes = " ".join(f"{role} {h}x{w}" for role, (h, w) in batch.sizes)
        lines.append(f"batch {batch.index} (process {owner.get(batch.index, 0)}): {batch.task}, {sizes}, "
                     f"{_settings_text(batch.settings)}")
        for item in batch.items:
            outputs = ", ".join(p.name for p in store.outputs(item, family).values())
            state = f"-> {outputs}" if item.id in plan.todo else "(done: run for its batch, not written)"
            lines.append(f"  {item.id}  seed {item.seed}  {state}")
    for failure in sorted(plan.failures, key=lambda f: f.row):
        lines.append(f"fails: {failure.id or '?'} (line {failure.row}): {failure.reason}")
    return "\n".join(lines)
