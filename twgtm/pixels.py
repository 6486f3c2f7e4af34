"""Image and mask files: Pillow reading and writing (letterboxing lives in twgtm.sampling.letterbox).

Pixels are B×3×H×W in [-1, 1]; masks B×1×H×W in {0, 1} (1 = generate). Files are read with Pillow
(torchvision's image codecs do not work on CPU-only installs).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from .errors import InputError

log = logging.getLogger("twgtm")


# ----- files -------------------------------------------------------------------------------------
def _open(path: str | os.PathLike, what: str):
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file not found: {path} (folder {path.parent.resolve()}); check the path")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"{what} file {path} is not a readable image ({err}); give a PNG or JPEG") from err
    return img


def load_image(path: str | os.PathLike, what: str = "image") -> torch.Tensor:
    """Read an image file as (1,3,H,W) in [-1,1]; grey is expanded and RGBA composited on white (logged)."""
    from PIL import Image

    img = _open(path, what)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
        log.info("%s %s has transparency: composited on white", what, path)
    elif img.mode in ("L", "1", "I", "I;16", "F"):
        img = img.convert("L").convert("RGB")
        log.info("%s %s is greyscale: converted to RGB", what, path)
    elif img.mode != "RGB":
        log.info("%s %s has mode %s: converted to RGB", what, path, img.mode)
        img = img.convert("RGB")
    arr = torch.from_numpy(np.asarray(img, dtype=np.float32).copy())  # (H,W,3) in [0,255]
    return (arr.permute(2, 0, 1)[None] / 127.5 - 1.0).contiguous()  # (1,3,H,W)


def load_mask(path: str | os.PathLike, what: str = "mask") -> torch.Tensor:
    """Read a mask file as (1,1,H,W) in {0,1} (white = generate); colour masks are converted to grey."""
    img = _open(path, what)
    if img.mode not in ("L", "1"):
        log.info("%s %s has mode %s: converted to greyscale", what, path, img.mode)
    arr = torch.from_numpy(np.asarray(img.convert("L"), dtype=np.float32).copy()) / 255.0  # (H,W)
    return (arr >= 0.5).float()[None, None]  # (1,1,H,W)


def save_image(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write one image (3,H,W) in [-1,1] or one mask (1,H,W) in [0,1] as a PNG."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = image.detach().float().cpu()
    if x.ndim == 4:
        x = x[0]
    if x.shape[0] == 3:
        arr = ((x.clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(1, 2, 0).numpy()  # (H,W,3)
        Image.fromarray(arr, "RGB").save(path)
    else:
        arr = (x[0].clamp(0, 1) * 255.0).round().byte().numpy()  # (H,W)
        Image.fromarray(arr, "L").save(path)
    return path
