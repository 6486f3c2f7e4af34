"""Files and folders: model-folder names that stay inside the folders, input paths that exist, outputs that
can be written (checked before anything loads, nothing left behind)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..errors import InputError


# ----- files and folders --------------------------------------------------------------------------
def check_model_name(name, label: str) -> str:
    """A file or folder name picked from ComfyUI's model folders: relative, with no '..' (it must stay inside)."""
    if not isinstance(name, str):
        raise InputError(f"{label} must be a file name from the list, got {name!r} ({type(name).__name__})")
    if not name.strip():
        raise InputError(f"{label} is empty; pick a name from the list (an empty list: put the files in the model "
                         "folder, then press 'r' in ComfyUI to refresh)")
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if "\x00" in name or posix.is_absolute() or windows.is_absolute() or windows.drive or name.startswith(("/", "\\")):
        raise InputError(f"{label} {name!r} is an absolute path; pick a file of the model folder's list (put the "
                         "file in that folder, or add its folder to extra_model_paths.yaml)")
    if ".." in posix.parts or ".." in windows.parts:
        raise InputError(f"{label} {name!r} leads out of the model folder ('..'); pick a file of the model folder's "
                         "list (put the file in that folder, or add its folder to extra_model_paths.yaml)")
    return name


def check_existing_path(path, label: str, what: str, kind: str = "any", *, missing_ok: bool = False) -> Path | None:
    """An input path that exists: a file (`kind` 'file'), a folder ('folder') or either ('any').

    `missing_ok`: a path that does not exist is None (the caller lists it with the other missing files).
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(f"{label}: give the path of the {what}, got {path!r}")
    path = Path(path).expanduser()
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as err:  # e.g. a name too long for the file system
        raise InputError(f"{label} {path}: {what} cannot be looked up ({err.strerror or err}); "
                         "check the path") from None
    if not exists and missing_ok:
        return None
    if not exists:
        noun = {"file": f"{what} file", "folder": f"{what} folder"}.get(kind, what)
        raise InputError(f"{label} {path}: {noun} not found (in {path.parent.absolute()}); check the path")
    if kind == "file" and is_dir:
        raise InputError(f"{label} {path}: the {what} file is a folder; give the file inside it")
    if kind == "folder" and not is_dir:
        raise InputError(f"{label} {path}: the {what} must be a folder, not a file; give the folder that holds it")
    return path


def _nearest_existing(folder: Path) -> Path:
    """`folder` or its nearest ancestor that exists."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate
    return Path(folder.anchor or ".")


def check_writable(path, option: str = "--out", *, folder: bool = False) -> Path:
    """Refuse an output file (or, with `folder`, an output folder) that cannot be written; returns the path.

    Nothing is left behind: a folder that does not exist yet is not created, its nearest existing
    ancestor is tried with an anonymous temporary file (the real test of permissions, read-only
    disks and a root user alike).
    """
    path = Path(path).expanduser()
    try:
        if folder and path.exists() and not path.is_dir():
            raise InputError(f"{option} {path} is a file, not a folder; give a folder for the outputs")
        if not folder and path.is_dir():
            raise InputError(f"{option} {path} is a folder; give a file path inside it, e.g. {path / 'out.png'}")
        existing = _nearest_existing(path if folder else path.absolute().parent)
        if not existing.is_dir():
            raise InputError(f"{option} {path} cannot be written: {existing} is a file, not a folder; choose a path "
                             "in a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
        if not folder and path.exists():
            with open(path, "ab"):
                pass
    except OSError as err:
        raise InputError(f"{option} {path} cannot be written ({err.strerror or err}); choose a path in a folder you "
                         "may write to") from None
    return path


def check_image_path(path, option: str = "--out") -> Path:
    """Refuse an image output path whose suffix names no format Pillow writes, or that cannot be written."""
    from PIL import Image

    path = Path(path)
    writable = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}
    if path.suffix.lower() not in writable:
        raise InputError(f"{option} {path}: the suffix {path.suffix or '(none)'!r} names no image format; end the "
                         "file name in .png (or .jpg, .webp, .tif)")
    return check_writable(path, option)
