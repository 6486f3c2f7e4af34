"""One batch job over one or many processes: plan on the main process, share the batches, run, report.

1. The main process reads the rows, checks them (files, tasks, outputs), forms the batches
   (`plan.plan_batches`), hashes inputs and model files and keeps the batches with an item still to
   write; the plan is broadcast to every process.
2. Each process takes its share of those batches (accelerate's `split_between_processes`), loads the
   model once (`runner.load_for_job`) and runs its batches; an item's images and sidecar are written
   as soon as its batch is done, so a killed process loses at most the batch in flight.
3. A row that fails (unreadable image, empty mask, ...) is recorded and the job goes on; a batch that
   raises is retried item by item so that one bad item does not take its batch with it.
4. After a barrier the main process writes failures.csv and summary.json and prints the table.
"""
from __future__ import annotations

import datetime
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import TWGTMError
from .manifest import Failure, Item, Row, RowDefaults, RowError, make_items
from .plan import Batch, plan_batches
from .runner import Loaded, ModelSpec, batch_limit, load_for_job, model_identity, model_name, model_tasks, \
    resolve_masks, run_items
from .store import FileHashes, OutputStore, item_fingerprint

log = logging.getLogger("twgtm")

PROCESS_GROUP_TIMEOUT = datetime.timedelta(hours=12)  # a barrier waits for the slowest process's last batch


@dataclass
class JobOptions:
    """How the job runs (the batch command's own flags)."""

    out: Path
    batch_size: int = 1
    device: str | None = None  # None: the process's device as accelerate assigns it
    dry_run: bool = False
    progress: bool = True


@dataclass
class JobPlan:
    """What the main process found: the batches to run and what each item is made from."""

    batches: list[Batch]  # batches with at least one item to write, in job order
    todo: set[str]  # ids of the items to write
    made_from: dict[str, tuple[dict, str]]  # id -> (settings record, fingerprint) of the batches' items
    failures: list[Failure]  # rows that cannot run
    items: int  # rows in the job
    skipped: int  # items whose outputs are already there


@dataclass
class ProcessStats:
    """One process's share of the work."""

    process: int
    done: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0  # running its batches (after the model load)
    load_seconds: float = 0.0
    peak_bytes: int = 0
    batches: list[int] = field(default_factory=list)  # indices of the batches it took


def process_state(device: str | None):
    """accelerate's PartialState (the process group on CPU too: gloo) and this process's device."""
    from accelerate import PartialState

    cpu = (device or "").startswith("cpu") or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") \
        or not torch.cuda.is_available()
    state = PartialState(cpu=cpu, timeout=PROCESS_GROUP_TIMEOUT)
    if device is None:
        return state, state.device
    from ..vocab import parse_device

    if state.num_processes > 1 and str(device) in ("cuda", "cuda:0"):
        log.warning("--device %s in each of %d processes: they share one GPU (leave --device out to give each "
                    "process its own)", device, state.num_processes)
    return state, parse_device(device)


def plan_job(rows: list[Row], row_failures: list[Failure], defaults: RowDefaults, base: Path, spec: ModelSpec,
             options: JobOptions, store: OutputStore) -> JobPlan:
    """The main process's plan: checked items in batches, the batches with work left, and each item's fingerprint."""
    items, failures = make_items(rows, defaults, base)
    size = min(options.batch_size, batch_limit(spec) or options.batch_size)
    if size < options.batch_size:
        log.info("%s runs one item per call (its noise stream is per call): --batch-size %d is used as 1",
                 model_name(spec), options.batch_size)
    batches, bad = plan_batches(items, size, model_tasks(spec), model_name(spec),
                                lambda item: store.files_of(item, spec.family))
    hashes = FileHashes(store.state / "file-hashes.json")
    identity = model_identity(spec, hashes)
    pending, todo, made_from, skipped = [], set(), {}, 0
    for batch in batches:
        prints = {item.id: item_fingerprint(item, identity, hashes) for item in batch.items}
        left = [item.id for item in batch.items if not store.is_done(item, prints[item.id][1], spec.family)]
        skipped += len(batch.items) - len(left)
        if left:
            pending.append(batch)
            todo.update(left)
            made_from.update(prints)
    if not options.dry_run:
        hashes.save(store.write_bytes)
    return JobPlan(pending, todo, made_from, row_failures + failures + bad, len(rows) + len(row_failures), skipped)


def load_item(item: Item) -> Loaded:
    """An item's images and mask files, read (masks at their image's size); RowError when one cannot be used."""
    from ..masks import resize_mask
    from ..pixels import load_image, load_mask

    try:
        images = {role: load_image(path, role, quiet=True) for role, path in item.images.items()}  # (1,3,H,W)
        masks = {}
        for role, path in item.masks.items():
            if path == "auto":
                masks[role] = path
                continue
            mask = load_mask(path, role.replace("_", " "), quiet=True)  # (1,1,h,w)
            image = images["target" if role == "target_mask" and "target" in images else "person"]
            if mask.shape[-2:] != image.shape[-2:]:
                log.debug("item %s: %s %s resized to its image's size", item.id, role, path)
                mask = resize_mask(mask, tuple(image.shape[-2:]))  # (1,1,H,W)
            masks[role] = mask
    except TWGTMError as err:
        raise RowError(str(err)) from None
    return Loaded(item, images, masks)


def _peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    from ..bench.memory import rss_peak_bytes

    return rss_peak_bytes()


class Worker:
    """Runs one process's batches and writes their items."""

    def __init__(self, plan: JobPlan, spec: ModelSpec, store: OutputStore, process: int, device: torch.device):
        self.plan, self.spec, self.store, self.device = plan, spec, store, device
        self.stats = ProcessStats(process)
        self.model = None

    def load(self) -> None:
        """Load the model (once per process)."""
        start = time.perf_counter()
        self.model = load_for_job(self.spec, self.device)
        self.stats.load_seconds = time.perf_counter() - start

    def _fail(self, item: Item, err: Exception) -> None:
        reason = str(err) if isinstance(err, TWGTMError) else f"{type(err).__name__}: {err}"
        if not isinstance(err, TWGTMError):
            log.warning("item %s failed", item.id, exc_info=err)
        self.stats.failures.append(Failure(item.id, item.task, item.row, reason))

    def _run(self, batch: Batch, loaded: list[Loaded], callback) -> list[tuple[Loaded, dict]]:
        """(item, outputs) of a batch; when it raises, each item alone (those still to write)."""
        try:
            return list(zip(loaded, run_items(self.model, batch.task, batch.settings, loaded, callback)))
        except Exception as err:  # noqa: BLE001 - one bad item must not stop the job
            if len(loaded) == 1:
                self._fail(loaded[0].item, err)
                return []
            log.warning("batch %d (%s) failed (%s): running its items one by one", batch.index,
                        ", ".join(batch.ids), err)
        results = []
        for one in loaded:
            if one.item.id not in self.plan.todo:
                continue
            try:
                results.append((one, run_items(self.model, batch.task, batch.settings, [one], callback)[0]))
            except Exception as err:  # noqa: BLE001
                self._fail(one.item, err)
        return results

    def run_batch(self, batch: Batch, callback=None) -> int:
        """Run one batch and write its items still to write; the number of items it settled (written or failed)."""
        loaded = []
        for item in batch.items:
            try:
                loaded.append(resolve_masks(self.model, load_item(item)))
            except Exception as err:  # noqa: BLE001
                if item.id in self.plan.todo:
                    self._fail(item, err)
        start = time.perf_counter()
        results = self._run(batch, loaded, callback) if loaded else []
        seconds = time.perf_counter() - start
        for one, outputs in results:
            if one.item.id in self.plan.todo:
                self._write(one.item, outputs, batch, seconds / max(len(loaded), 1))
        return sum(item.id in self.plan.todo for item in batch.items)

    def _write(self, item: Item, outputs: dict, batch: Batch, seconds: float) -> None:
        from ..pixels import mask_to_pil, pixels_to_pil

        made_from, fingerprint = self.plan.made_from[item.id]
        images = {kind: (pixels_to_pil(x) if x.shape[0] == 3 else mask_to_pil(x)) for kind, x in outputs.items()}
        record = {"id": item.id, "line": item.row, **made_from, "fingerprint": fingerprint,
                  "paths": {role: str(path) for role, path in {**item.images, **item.masks}.items()},
                  "duration_s": round(seconds, 4), "batch": {"index": batch.index, "items": batch.ids},
                  "process": self.stats.process, "device": str(self.device),
                  "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        self.store.write_item(item, images, record, self.spec.family)
        self.stats.done += 1

    def run(self, batches: list[Batch], progress: bool, processes: int) -> ProcessStats:
        """Run the process's batches under a tqdm bar (items, items/s, ETA)."""
        from tqdm import tqdm

        total = sum(item.id in self.plan.todo for batch in batches for item in batch.items)
        name = "batch" if processes == 1 else f"process {self.stats.process}"
        start = time.perf_counter()
        with tqdm(total=total, unit="img", desc=name, position=self.stats.process, disable=not progress,
                  dynamic_ncols=True) as bar:
            def callback(step, steps, latents):
                bar.set_postfix_str(f"step {step}/{steps}", refresh=False)

            for batch in batches:
                self.stats.batches.append(batch.index)
                bar.update(self.run_batch(batch, callback))
        self.stats.seconds = time.perf_counter() - start
        self.stats.peak_bytes = _peak_bytes(self.device)
        return self.stats


def run_job(read_rows, defaults: RowDefaults, base: Path, spec: ModelSpec, options: JobOptions) -> tuple[dict, str | None]:
    """Run the job's share of this process (dry_run: only plan it); (summary, text to show: main process only).

    `read_rows()` gives (rows, failures) and runs on the main process only. The text is the final
    table, or the dry run's listing; every process gets the same summary.
    """
    from accelerate.utils import broadcast_object_list, gather_object

    from .report import dry_run_text, summarize, table

    state, device = process_state(options.device)
    store = OutputStore(options.out)
    message = [None]
    if state.is_main_process:
        try:
            if not options.dry_run:
                store.prepare()
            rows, row_failures = read_rows()
            message = [plan_job(rows, row_failures, defaults, base, spec, options, store)]
        except TWGTMError as err:  # every process stops with the main process's message
            message = [err]
    broadcast_object_list(message)
    plan = message[0]
    if isinstance(plan, TWGTMError):
        raise plan
    start = time.perf_counter()
    with state.split_between_processes(plan.batches) as mine:
        worker = Worker(plan, spec, store, state.process_index, device)
        if options.dry_run:
            worker.stats.batches = [batch.index for batch in mine]
        elif len(mine):
            worker.load()
            worker.run(list(mine), options.progress, state.num_processes)
    stats = gather_object([worker.stats])
    state.wait_for_everyone()
    summary = summarize(plan, stats, time.perf_counter() - start, state.num_processes, options)
    if not state.is_main_process:
        return summary, None
    if options.dry_run:
        return summary, dry_run_text(plan, stats, store, spec.family)
    failures = store.write_failures(plan.failures + [f for s in stats for f in s.failures])
    store.write_summary(summary)
    return summary, f"{table(summary)}\nwrote {summary['done']} item(s) to {store.root}; failures: {failures}"
