"""Where the registry's files go on disk and whether they are there (size and sha256 checked where known).

A root is the folder an entry's `subfolder` is below: with `--comfyui DIR` it is `DIR/models/<folder>`
(the pack's own files: its `weights/` folder), with `--dest DIR` it is DIR itself for every entry.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import ConfigError
from .registry import METRICS, PACK, ModelEntry, ModelFile

CHUNK = 1 << 22


def comfyui_of_pack() -> Path | None:
    """The ComfyUI folder this pack is installed in (`ComfyUI/custom_nodes/<pack>`), if it is."""
    custom_nodes = paths.PACK_ROOT.parent
    comfyui = custom_nodes.parent
    if custom_nodes.name == "custom_nodes" and (comfyui / "models").is_dir():
        return comfyui
    return None


def entry_root(entry: ModelEntry, *, comfyui: str | Path | None = None, dest: str | Path | None = None) -> Path | None:
    """The root the entry's files go below (None when neither --comfyui nor --dest says where)."""
    if entry.folder == PACK:
        return paths.WEIGHTS_DIR
    if dest is not None:
        return Path(dest)
    if comfyui is None:
        return None
    if entry.folder == METRICS:
        raise ConfigError(f"{entry.name} is a metric network, not a ComfyUI model: give --dest DIR, the folder "
                          "`python -m twgtm.eval --weights-dir` reads")
    return Path(comfyui) / "models" / entry.folder


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileStatus:
    """One file on disk against the registry: ok, missing, or wrong (with why)."""

    path: Path
    state: str  # "ok", "unchecked" (present, nothing published to check), "missing", "partial", "wrong"
    detail: str = ""

    @property
    def present(self) -> bool:
        """Whether the file can be used as it is."""
        return self.state in ("ok", "unchecked")


def partial_files(path: Path) -> list[Path]:
    """The partial downloads of `path` left in its folder (resumed by the next fetch)."""
    return sorted(path.parent.glob(f".{path.name}.*.part")) if path.parent.is_dir() else []


def file_status(file: ModelFile, path: Path, *, check_hash: bool = True) -> FileStatus:
    """Whether `path` is the registry's `file`: its size, then (check_hash) its sha256, where published."""
    if not path.is_file():
        parts = partial_files(path)
        if parts:
            done = parts[-1].stat().st_size
            share = f" ({100 * done / file.size:.0f} %)" if file.size else ""
            return FileStatus(path, "partial", f"{done} bytes downloaded{share}: `models fetch` resumes it")
        return FileStatus(path, "missing")
    size = path.stat().st_size
    if file.size is not None and size != file.size:
        return FileStatus(path, "wrong", f"{size} bytes, expected {file.size}")
    if file.sha256 is not None and check_hash:
        digest = sha256_of(path)
        if digest != file.sha256:
            return FileStatus(path, "wrong", f"sha256 {digest}, expected {file.sha256}")
        return FileStatus(path, "ok", "size and sha256 checked")
    if file.size is not None:
        return FileStatus(path, "ok", "size checked" + ("" if file.sha256 is None else "; sha256 not checked"))
    return FileStatus(path, "unchecked", "present (no published size or sha256 to check)")


def entry_status(entry: ModelEntry, root: Path | None, *, check_hash: bool = True) -> list[FileStatus]:
    """The status of every file of an entry below `root` ([] when there is no root or nothing to check)."""
    if root is None or not entry.files:
        return []
    return [file_status(file, path, check_hash=check_hash) for file, path in entry.targets(root)]


def summary(statuses: list[FileStatus]) -> str:
    """One word for an entry's files: ok, missing, partial, wrong, 'n of m' present, or '-' (nothing checked)."""
    if not statuses:
        return "-"
    states = {s.state for s in statuses}
    if states <= {"ok", "unchecked"}:
        return "ok" if "ok" in states else "present"
    for state in ("wrong", "partial"):
        if state in states:
            return state
    present = sum(s.present for s in statuses)
    return "missing" if present == 0 else f"{present} of {len(statuses)} files"
