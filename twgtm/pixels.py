"""Image and mask helpers for the sampler: Pillow file I/O, letterboxing, blur and box masks.

Pixels are B×3×H×W in [-1, 1]; masks B×1×H×W in {0, 1} (1 = generate). Files are read with Pillow
(torchvision's image codecs do not work on CPU-only installs).
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

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


# ----- letterbox ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Letterbox:
    """Where a source image sits inside a padded canvas: content box and both sizes."""

    source: tuple[int, int]  # (h, w) of the input
    canvas: tuple[int, int]  # (H, W) of the padded working image
    top: int
    left: int
    height: int  # content size inside the canvas
    width: int


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is >= n."""
    return int(math.ceil(n / multiple) * multiple)


def plan_letterbox(source: tuple[int, int], box: tuple[int, int] | None, multiple: int) -> Letterbox:
    """Fit `source` (h,w) into `box` (or keep its size when None), on a canvas rounded up to `multiple`."""
    h, w = int(source[0]), int(source[1])
    if h < 1 or w < 1:
        raise InputError(f"image size must be positive, got {h}×{w}")
    if box is None:
        bh, bw, scale = h, w, 1.0
    else:
        bh, bw = int(box[0]), int(box[1])
        if bh < 1 or bw < 1:
            raise InputError(f"working size must be positive, got {bh}×{bw}")
        scale = min(bh / h, bw / w)
    ch, cw = round_up(bh, multiple), round_up(bw, multiple)
    height, width = min(ch, max(1, round(h * scale))), min(cw, max(1, round(w * scale)))
    return Letterbox((h, w), (ch, cw), (ch - height) // 2, (cw - width) // 2, height, width)


def resize(x: torch.Tensor, size: tuple[int, int], mask: bool = False) -> torch.Tensor:
    """Resize (B,C,h,w) -> (B,C,H,W): bilinear (antialiased) for images; masks binarized at 0.5."""
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    out = F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=True).to(x.dtype)
    return (out >= 0.5).to(x.dtype) if mask else out


def letterbox(x: torch.Tensor, plan: Letterbox, fill: float, mask: bool = False) -> torch.Tensor:
    """Place (B,C,h,w) into the canvas (B,C,H,W): resize to the content box, pad with `fill`."""
    content = resize(x, (plan.height, plan.width), mask=mask)
    out = torch.full((x.shape[0], x.shape[1], *plan.canvas), float(fill), dtype=x.dtype, device=x.device)
    out[:, :, plan.top:plan.top + plan.height, plan.left:plan.left + plan.width] = content
    return out


def fit_into(x: torch.Tensor, canvas: tuple[int, int], fill: float) -> torch.Tensor:
    """Letterbox (B,C,h,w) into exactly `canvas` (H,W), keeping its aspect ratio (for garments)."""
    plan = plan_letterbox(tuple(x.shape[-2:]), canvas, 1)
    plan = Letterbox(plan.source, tuple(canvas), (canvas[0] - plan.height) // 2, (canvas[1] - plan.width) // 2,
                     plan.height, plan.width)
    return letterbox(x, plan, fill)


def unletterbox(x: torch.Tensor, plan: Letterbox, mask: bool = False) -> torch.Tensor:
    """Crop the content box out of (B,C,H,W) and resize it back to the source size (B,C,h,w)."""
    content = x[:, :, plan.top:plan.top + plan.height, plan.left:plan.left + plan.width]
    return resize(content, plan.source, mask=mask)


# Body-region boxes (fractions of height, width: top, bottom, left, right) per garment category,
# the default try-on mask of a round trip's second person when none is given.
CATEGORY_BOXES = {
    "upper": (0.12, 0.62, 0.10, 0.90),
    "lower": (0.45, 0.97, 0.15, 0.85),
    "dress": (0.12, 0.92, 0.10, 0.90),
}


def category_box(category: str, size: tuple[int, int], batch: int = 1) -> torch.Tensor:
    """A filled box (B,1,H,W) over the body region where a garment of `category` is worn."""
    top, bottom, left, right = CATEGORY_BOXES.get(str(category).strip().lower(), CATEGORY_BOXES["upper"])
    h, w = size
    out = torch.zeros(batch, 1, h, w)
    out[:, :, int(top * h):max(int(top * h) + 1, int(bottom * h)), int(left * w):max(int(left * w) + 1, int(right * w))] = 1
    return out
