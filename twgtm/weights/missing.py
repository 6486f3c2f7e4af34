"""One error for every model file a command or a node lacks, each with its folder and the fetch command.

The CLI, `load_model` and the ComfyUI loader nodes describe what they lack as `MissingFile`s; the message
lists them all at once, then the exact `python -m twgtm models fetch ...` command that gets the files the
registry knows and, for the CLI, the options that then point at them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError
from .registry import ModelEntry, fetch_command, licence_note

DEFAULT_DEST = "models"  # where the CLI's hint fetches to (relative to the working folder)


@dataclass(frozen=True)
class MissingFile:
    """One file an option or node input needs and does not find."""

    label: str  # how the caller names it: "--weights", "weights=", "base_model"
    entry: ModelEntry | None  # the registry entry that supplies it (None: no public download)
    given: str | None = None  # the path or name given (None: nothing was given)
    folder: str | None = None  # where it was looked for (nodes: the model folders; None: the given path's folder)
    what: str = ""  # what it is, when no entry says so

    def line(self) -> str:
        """'  - label (what): problem; where it goes'."""
        what = self.what or (self.entry.title if self.entry else "")
        head = f"  - {self.label}" + (f" ({what})" if what else "")
        if self.given is None:
            problem = "not given"
        else:
            place = self.folder if self.folder is not None else f"{Path(self.given).parent}{os.sep}"
            problem = f"'{self.given}' not found in {place}"
        return f"{head}: {problem}"


def describe(missing: list[MissingFile]) -> str:
    """The list of missing files, one per line."""
    count = f"{len(missing)} model files are" if len(missing) > 1 else "a model file is"
    return f"{count} missing:\n" + "\n".join(m.line() for m in missing)


def cli_error(missing: list[MissingFile], *, dest: str = DEFAULT_DEST) -> CheckpointError:
    """The CLI's / Python API's error: every missing file, the fetch command, and the options to give then."""
    entries = [m.entry for m in missing if m.entry is not None and m.entry.on_hub]
    lines = [describe(missing)]
    if entries:
        lines.append(f"Get them with:\n  {fetch_command(entries, dest=dest)}")
        then = " ".join(f"{m.label}{'' if m.label.endswith('=') else ' '}{_fetched_path(m.entry, dest)}"
                        for m in missing if m.entry is not None and m.entry.on_hub)
        lines.append(f"then give: {then}")
        note = licence_note(entries)
        if note:
            lines.append(f"(--accept-licence: read the licences first: {note})")
    return CheckpointError("\n".join(lines))


def _fetched_path(entry: ModelEntry, dest: str) -> str:
    """Where `models fetch --dest dest` puts an entry: its file, or its folder when it has several."""
    folder = entry.target_dir(dest)
    return str(folder / entry.files[0].local) if len(entry.files) == 1 else str(folder)
