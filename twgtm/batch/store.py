"""The job's output folder: images written atomically, a sidecar JSON per item, and what is already done.

Layout of `--out DIR`: `<id>.png` (plus `<id>_mask.png` for try-off, `<id>_garment.png` for the round
trip), `<id>.json` (the sidecar), `failures.csv` and `summary.json` of the last run, and
`.twgtm-batch/` (temporary files and the file-hash cache).

Every file is written to `.twgtm-batch/tmp/` first, flushed to disk, then renamed into place, so a
file is whole or absent; an item's sidecar is written after its images. An item is done when its
sidecar holds the fingerprint of its current settings (inputs and model files by sha256, seed,
prompt, sampling settings) and every output it lists has the sha256 it records.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from ..errors import ConfigError
from .manifest import TASKS, Failure, Item

log = logging.getLogger("twgtm")

STATE_DIR = ".twgtm-batch"
SIDECAR_VERSION = 1


def sha256_file(path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical_json(value) -> str:
    """JSON with sorted keys and no spaces: the text a fingerprint hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class FileHashes:
    """sha256 of input and model files, cached by (path, size, modification time) in `cache`."""

    def __init__(self, cache: Path):
        self.cache = cache
        self.known: dict[str, list] = {}
        try:
            self.known = json.loads(cache.read_text())
        except (OSError, ValueError):
            pass  # no cache yet, or a damaged one: hash again
        self.changed = False

    def __call__(self, path) -> str:
        """The sha256 of `path` (from the cache when the file has not changed)."""
        path = Path(path).resolve()
        stat = path.stat()
        key, stamp = str(path), [stat.st_size, stat.st_mtime_ns]
        entry = self.known.get(key)
        if entry is not None and entry[:2] == stamp:
            return entry[2]
        value = sha256_file(path)
        self.known[key] = [*stamp, value]
        self.changed = True
        return value

    def save(self, write) -> None:
        """Write the cache back with `write(path, bytes)` when it changed."""
        if self.changed:
            write(self.cache, json.dumps(self.known).encode())
            self.changed = False


class OutputStore:
    """Paths, atomic writes, sidecars and the done check of one output folder."""

    def __init__(self, root):
        self.root = Path(root)
        self.state = self.root / STATE_DIR
        self.tmp = self.state / "tmp"

    # ----- paths ----------------------------------------------------------------------------------
    def outputs(self, item: Item, family: str = "twgtm") -> dict[str, Path]:
        """kind -> output file of an item: 'image' -> <id>.png, any other kind -> <id>_<kind>.png."""
        kinds = TASKS[family][item.task].outputs
        return {kind: self.root / (item.id + ("" if kind == "image" else f"_{kind}") + ".png") for kind in kinds}

    def sidecar(self, item: Item) -> Path:
        """The item's sidecar JSON."""
        return self.root / f"{item.id}.json"

    def files_of(self, item: Item, family: str = "twgtm") -> list[Path]:
        """Every file the item writes (its outputs and its sidecar)."""
        return [*self.outputs(item, family).values(), self.sidecar(item)]

    # ----- writing --------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the folder and remove temporary files a killed run left (before any process writes)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"--out {self.root} cannot be created or written ({err}); give a writable folder") from err

    def write_bytes(self, path: Path, data: bytes) -> None:
        """Write `data` to `path` atomically: a temporary file, flushed to disk, renamed into place."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        temp = self.tmp / f"{uuid.uuid4().hex}{path.suffix}"
        try:
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)

    def write_item(self, item: Item, images: dict, record: dict, family: str = "twgtm") -> dict[str, str]:
        """Write an item's images (kind -> Pillow image) as PNG, then its sidecar `record` (+ outputs and hashes)."""
        paths = self.outputs(item, family)
        hashes = {}
        for kind, path in paths.items():
            buffer = io.BytesIO()
            images[kind].save(buffer, format="PNG")
            data = buffer.getvalue()
            self.write_bytes(path, data)
            hashes[path.name] = hashlib.sha256(data).hexdigest()
        record = {**record, "outputs": {kind: path.name for kind, path in paths.items()}, "output_sha256": hashes}
        self.write_bytes(self.sidecar(item), (json.dumps(record, indent=1, default=str) + "\n").encode())
        return hashes

    # ----- what is done ---------------------------------------------------------------------------
    def read_sidecar(self, item: Item) -> dict | None:
        """The item's sidecar, or None when absent or unreadable."""
        try:
            return json.loads(self.sidecar(item).read_text())
        except (OSError, ValueError):
            return None

    def is_done(self, item: Item, fingerprint: str, family: str = "twgtm") -> bool:
        """Whether the item's outputs are there, whole, and made with these settings."""
        record = self.read_sidecar(item)
        if not record or record.get("fingerprint") != fingerprint:
            return False
        recorded = record.get("output_sha256", {})
        for path in self.outputs(item, family).values():
            try:
                if recorded.get(path.name) != sha256_file(path):
                    return False
            except OSError:
                return False
        return True

    # ----- the run's reports ----------------------------------------------------------------------
    def write_failures(self, failures: list[Failure]) -> Path:
        """failures.csv: id, task, line, reason of every item of this run that failed (a header alone if none)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["id", "task", "line", "reason"])
        for failure in sorted(failures, key=lambda f: (f.row, f.id)):
            writer.writerow([failure.id, failure.task, failure.row, failure.reason])
        path = self.root / "failures.csv"
        self.write_bytes(path, buffer.getvalue().encode())
        return path

    def write_summary(self, summary: dict) -> Path:
        """summary.json of this run."""
        path = self.root / "summary.json"
        self.write_bytes(path, (json.dumps(summary, indent=1) + "\n").encode())
        return path


def item_fingerprint(item: Item, model: dict, hashes: FileHashes) -> tuple[dict, str]:
    """(what an item is made from, its sha256): inputs by content, seed, prompt, category, settings, model."""
    from dataclasses import asdict

    inputs = {role: hashes(path) for role, path in {**item.images, **item.masks}.items() if path != "auto"}
    made_from = {"version": SIDECAR_VERSION, "task": item.task, "inputs": inputs,
                 "auto_masks": sorted(role for role, path in item.masks.items() if path == "auto"),
                 "seed": item.seed, "prompt": item.prompt, "category": item.category,
                 "settings": asdict(item.settings), "model": model}
    return made_from, hashlib.sha256(canonical_json(made_from).encode()).hexdigest()
