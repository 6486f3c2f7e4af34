"""The one validation layer: every value a user hands TWGTM (a node input, a CLI flag, a Python argument)
is checked here before any work starts, and each refusal names the input, what was wrong, what was
expected and what to do.

Output files: a path that cannot be written is refused before sampling, not after minutes of it.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError

__all__ = ["check_writable", "check_image_path", "check_cli_arguments"]

# CLI commands whose --out is a folder; every other --out is an image file.
FOLDER_OUTPUT_COMMANDS = ("demo",)
# CLI commands that write --out as PNG whatever its suffix (the suffix is replaced: a documented coercion).
PNG_OUTPUT_COMMANDS = ("tryon", "tryoff", "roundtrip")


def _nearest_existing(folder: Path) -> Path:
    """`folder` or its nearest ancestor that exists."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate
    return Path(folder.anchor or ".")


def check_writable(path: str | os.PathLike, option: str = "--out", *, folder: bool = False) -> Path:
    """Refuse an output file (or, with `folder`, an output folder) that cannot be written; returns the path.

    Nothing is left behind: a folder that does not exist yet is not created, its nearest existing
    ancestor is tried with an anonymous temporary file (the real test of permissions, read-only
    disks and a root user alike).
    """
    path = Path(path).expanduser()
    if folder and path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file, not a folder; give a folder for the outputs")
    if not folder and path.is_dir():
        raise InputError(f"{option} {path} is a folder; give a file path inside it, e.g. {path / 'out.png'}")
    target = path if folder else path.absolute().parent
    existing = _nearest_existing(target)
    if not existing.is_dir():
        raise InputError(f"{option} {path} cannot be written: {existing} is a file, not a folder; choose a path in "
                         "a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
        if not folder and path.exists():
            with open(path, "ab"):
                pass
    except OSError as err:
        where = path if not folder and path.exists() else existing
        raise InputError(f"{option} {path} cannot be written ({where}: {err.strerror or err}); choose a path in a "
                         "folder you may write to") from None
    return path


def check_image_path(path: str | os.PathLike, option: str = "--out") -> Path:
    """Refuse an image output path whose suffix names no format Pillow writes, or that cannot be written."""
    from PIL import Image

    path = Path(path)
    writable = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}
    if path.suffix.lower() not in writable:
        raise InputError(f"{option} {path}: the suffix {path.suffix or '(none)'!r} names no image format; end the "
                         "file name in .png (or .jpg, .webp, .tif)")
    return check_writable(path, option)


def check_cli_arguments(args) -> None:
    """Check a parsed `python -m twgtm` command line before anything loads (one call from the CLI's main)."""
    command = getattr(args, "command", None)
    out = getattr(args, "out", None)
    if out is not None:
        if command in FOLDER_OUTPUT_COMMANDS:
            check_writable(out, "--out", folder=True)
        elif command in PNG_OUTPUT_COMMANDS:
            check_writable(Path(out).with_suffix(".png"), "--out")
        else:
            check_image_path(out, "--out")
