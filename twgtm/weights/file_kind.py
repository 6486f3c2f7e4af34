"""What a weights file really is, from its first bytes (nothing is unpickled): for the error of a file safetensors
cannot read, and for the check of a download before it is renamed into place.

A .safetensors file starts with an 8-byte little-endian header length N and then N bytes of JSON
(`{"tensor": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}`), followed by the tensor
bytes. A file whose start fits that layout but ends early is cut short (download it again); one
that starts otherwise is another format altogether, and the remedy depends on which: a PyTorch
pickle needs converting, a web page or a Git LFS pointer means the real file was never fetched.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import CheckpointError

__all__ = ["file_kind", "safetensors_problem", "unreadable_safetensors"]

HEADER_LIMIT = 100 * 1024 * 1024  # safetensors' own limit on the JSON header
# first bytes -> (what the file is, what to do)
SIGNATURES = (
    (b"PK\x03\x04", "a zip archive: PyTorch's torch.save format (a pickle inside a zip)",
     "convert it to .safetensors with a trusted script (TWGTM never unpickles files)"),
    *((b"\x80" + bytes([protocol]), "a Python pickle (an old torch.save / .ckpt / .bin file)",
       "convert it to .safetensors with a trusted script (TWGTM never unpickles files)") for protocol in range(2, 6)),
    (b"GGUF", "a GGUF file (a quantized llama.cpp / ComfyUI-GGUF model)", "give the .safetensors release of the model"),
    (b"version https://git-lfs", "a Git LFS pointer, not the file itself (the repository was cloned without "
     "`git lfs`)", "run `git lfs pull` in that repository, or download the file itself"),
    (b"\x89HDF", "an HDF5 file (Keras .h5)", "give the .safetensors release of the model"),
    (b"\x89PNG", "a PNG image", "check that the option names the weights file, not an image"),
    (b"\xff\xd8\xff", "a JPEG image", "check that the option names the weights file, not an image"),
)
WHOLE = "a whole safetensors file"
WEB_PAGE = ("a web page (HTML): the download saved a login, error or 'file not found' page instead of the file",
            "download the file again (log in first where the site asks, and check the link)")


def _looks_like_html(head: bytes) -> bool:
    text = head.lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml", b"<!--"))


def file_kind(path: str | os.PathLike) -> tuple[str, str, bool]:
    """(what the file is, what to do, whether it is a safetensors file at all), from its first bytes; WHOLE (and
    no remedy) for a safetensors file whose header parses and whose file holds every byte it describes."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if size == 0:
        return "an empty file (0 bytes)", "download or copy it again", False
    if _looks_like_html(head):
        return (*WEB_PAGE, False)
    header_length = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
    if len(head) >= 9 and 2 <= header_length <= HEADER_LIMIT and head[8:9] == b"{":
        if size < 8 + header_length:
            return (f"a safetensors file cut short: its header alone needs {8 + header_length:,} bytes but the file "
                    f"has {size:,}", "download or copy it again", True)
        with open(path, "rb") as handle:
            handle.seek(8)
            try:
                header = json.loads(handle.read(header_length))
                ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                return "a safetensors file whose header is damaged", "download or copy it again", True
        needed = 8 + header_length + max(ends, default=0)
        if size < needed:
            return (f"a safetensors file cut short: its header describes {needed:,} bytes but the file has {size:,}",
                    "download or copy it again (the copy stopped part-way)", True)
        return WHOLE, "", True
    for signature, kind, remedy in SIGNATURES:
        if head.startswith(signature):
            return kind, remedy, False
    if size < 8:
        return f"a file of only {size} byte(s)", "download or copy it again", False
    if not head.strip(b"\x00"):
        return ("zero bytes only (a download or copy that made the file but never wrote it)",
                "download or copy it again", False)
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head[:512])
    if printable >= 0.95 * min(len(head), 512):
        return ("a text file, starting " + repr(head[:40].decode("ascii", "replace")),
                "give the .safetensors weights file itself", False)
    return "not in any format TWGTM knows", "give a .safetensors weights file", False


def safetensors_problem(path: str | os.PathLike) -> str | None:
    """None for a whole safetensors file; else what the file is (a pickle, a web page, a file cut short...)."""
    kind, _remedy, _is_safetensors = file_kind(path)
    return None if kind == WHOLE else kind


def unreadable_safetensors(path: str | os.PathLike, err: Exception, what: str = "weights file") -> CheckpointError:
    """The error for a file safetensors could not read: cut short / damaged, or not a safetensors file at all."""
    path = Path(path)
    try:
        kind, remedy, is_safetensors = file_kind(path)
    except OSError as read_error:
        return CheckpointError(f"{what} {path} (folder {path.parent}) cannot be read ({read_error}); check its "
                               "permissions and the disk")
    if kind == WHOLE:  # its layout holds, yet safetensors refused it
        kind = "a safetensors file that this safetensors version cannot read"
        remedy = "download or copy it again, or update the safetensors package"
    if is_safetensors:
        return CheckpointError(f"{what} {path.name} (folder {path.parent}) is {kind} ({err}); {remedy}")
    return CheckpointError(f"{what} {path.name} (folder {path.parent}) is not a safetensors file at all: it is "
                           f"{kind}; {remedy}")
