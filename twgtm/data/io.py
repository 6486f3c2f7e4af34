"""Data set files: required files and folders, pairs files, label maps, and images and masks read through
`twgtm.pixels` (with DataError naming the file)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from ..pixels import load_mask, open_image, pil_to_mask

logger = logging.getLogger("twgtm")

DATA_HINT = "check the data set root and its pairs file"


def require_file(path: Path, what: str, hint: str = "") -> Path:
    """Return `path` if it is a file, else raise DataError naming it, what it should hold and what to do."""
    path = Path(path)
    if not path.is_file():
        message = f"Missing file {path}: expected {what}."
        if hint:
            message += f" {hint}"
        raise DataError(message)
    return path


def require_dir(path: Path, what: str, hint: str = "") -> Path:
    """Return `path` if it is a folder, else raise DataError naming it, what it should hold and what to do."""
    path = Path(path)
    if not path.is_dir():
        message = f"Missing folder {path}: expected {what}."
        if hint:
            message += f" {hint}"
        raise DataError(message)
    return path


def first_existing(candidates: Sequence[Path]) -> Path | None:
    """Return the first of `candidates` that is a file, or None."""
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def mask_to_tensor(mask: np.ndarray | Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """Resize a mask (bool, 0..1 float or 0..255 image) to size (H, W), binarize at 0.5: 1×H×W float {0, 1}."""
    height, width = size
    if isinstance(mask, Image.Image):
        array = pil_to_mask(mask)[0, 0].numpy()  # (H, W) in [0, 1]
    else:
        array = np.asarray(mask, dtype=np.float32)
        if array.max(initial=0.0) > 1.0:
            array = array / 255.0
    if array.shape != (height, width):
        resized = Image.fromarray(array.astype(np.float32)).resize((width, height), Image.BILINEAR)
        array = np.asarray(resized, dtype=np.float32)
    binary = (array >= 0.5).astype(np.float32)  # (H, W)
    return torch.from_numpy(binary)[None]  # (1, H, W)


def read_image(path: Path, what: str = "image"):
    """Open a data set image as RGB (grey expanded, RGBA on white); DataError for a missing or corrupt file."""
    return open_image(path, what, error=DataError, hint=DATA_HINT, quiet=True)


def read_mask(path: Path) -> np.ndarray:
    """Read a mask file (white = 1) as an H×W float array in [0, 1]."""
    mask = load_mask(path, "mask", binarize=False, error=DataError, hint=DATA_HINT, quiet=True)  # (1,1,H,W)
    return mask[0, 0].numpy()


def read_label_map(path: Path) -> np.ndarray:
    """Read a parse / label map PNG as an H×W integer array of label ids (palette indices kept as is)."""
    image = open_image(path, "label map", mode=None, error=DataError, hint=DATA_HINT, quiet=True)
    if image.mode in ("P", "L", "I", "I;16"):
        return np.asarray(image).astype(np.int64)
    if image.mode in ("RGB", "RGBA"):
        # Some copies store labels replicated in all channels: take the first.
        return np.asarray(image)[..., 0].astype(np.int64)
    return np.asarray(image.convert("L")).astype(np.int64)


def read_pairs(path: Path) -> list[list[str]]:
    """Read a pairs file: one pair per line, columns split on whitespace (blank lines skipped)."""
    path = require_file(path, "a pairs file with lines '<person image> <garment image>'",
                        "Use the pairs files shipped with the data set, or write one.")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        columns = line.split()
        if not columns:
            continue
        if len(columns) < 2:
            raise DataError(f"Line {number} of pairs file {path} has {len(columns)} column(s): expected "
                            "'<person image> <garment image>'. Fix or remove that line.")
        rows.append(columns)
    if not rows:
        raise DataError(f"Pairs file {path} is empty: expected lines '<person image> <garment image>'.")
    return rows
