"""Pairing prediction and ground-truth folders by file name, and loading their images."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch

from ..errors import DataError, InputError
from ..pixels import load_image, open_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
_MAX_LISTED = 20
FOLDER_HINT = "check the prediction and ground-truth folders"


def list_images(folder: str | Path) -> dict[str, Path]:
    """Map file stem -> path for the images directly inside ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"'{folder}' is not a folder; give a folder of images ({', '.join(IMAGE_SUFFIXES)}).")
    images: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in images:
                raise DataError(f"'{folder}' holds two images named '{path.stem}' "
                                f"({images[path.stem].name}, {path.name}); keep one.")
            images[path.stem] = path
    if not images:
        raise DataError(f"'{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    return images


def _listing(names: list[str]) -> str:
    """At most _MAX_LISTED names, comma separated."""
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", ... ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")


def pair_folders(pred_dir: str | Path, gt_dir: str | Path) -> list[tuple[Path, Path]]:
    """(pred, gt) paths matched by file name without extension; unmatched names raise DataError."""
    preds, gts = list_images(pred_dir), list_images(gt_dir)
    only_pred, only_gt = sorted(set(preds) - set(gts)), sorted(set(gts) - set(preds))
    if only_pred or only_gt:
        parts = []
        if only_pred:
            parts.append(f"{len(only_pred)} in {pred_dir} without a ground truth: {_listing(only_pred)}")
        if only_gt:
            parts.append(f"{len(only_gt)} in {gt_dir} without a prediction: {_listing(only_gt)}")
        raise DataError("images are paired by file name (extension ignored) and some do not match; "
                        + "; ".join(parts) + ".")
    return [(preds[name], gts[name]) for name in sorted(preds)]


def parse_size(text: str | None) -> tuple[int, int] | None:
    """Parse 'HxW' (e.g. '1024x768') into (H, W); None stays None."""
    if text is None:
        return None
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InputError(f"size '{text}' is not HxW, e.g. 1024x768 or 512x384.") from None
    if height < 1 or width < 1:
        raise InputError(f"size '{text}' must be positive.")
    return height, width


def read_image(path: str | Path, size: tuple[int, int] | None = None) -> torch.Tensor:
    """An image file of a scored folder as 3×H×W in [-1, 1] (bicubic to `size` = (H, W) if given); DataError names it."""
    return load_image(path, "image", size=size, error=DataError, hint=FOLDER_HINT, quiet=True)[0]  # (3, H, W)


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) of an image file."""
    image = open_image(path, "image", mode=None, error=DataError, hint=FOLDER_HINT, quiet=True)
    return image.size[1], image.size[0]


def iter_pairs(pairs: list[tuple[Path, Path]], size: tuple[int, int] | None) -> tuple[Iterator, Iterator]:
    """Two lazy streams of 3×H×W tensors: predictions and targets; without ``size`` preds take their gt's size."""
    def preds() -> Iterator[torch.Tensor]:
        for pred_path, gt_path in pairs:
            yield read_image(pred_path, size or image_size(gt_path))

    def targets() -> Iterator[torch.Tensor]:
        for _, gt_path in pairs:
            yield read_image(gt_path, size)

    return preds(), targets()
