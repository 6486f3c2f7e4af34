"""Layout and size rules of Any2AnyTryon's panel canvas: panels side by side, all of the target's height.

- Sizes are multiples of 16 px (one FLUX token = a 2x2 patch of the 8x VAE latent); there is no
  fixed canvas: the target size is given, or taken from the first input image.
- Try-on / layered: the model image is letterboxed (aspect kept, white padding) to the target size,
  so that it is pixel-aligned with it; the output is cropped to the letterbox box and resized back
  to the model image's own size.
- The garment (and the model image when it is the only condition) is resized to the target height,
  keeping its aspect, and centre-cropped to a multiple of 16 in width.
Pixels are (B, 3, H, W) in [-1, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...errors import InputError
from .tasks import Task

TOKEN_PX = 16  # pixels per side of one FLUX token
MIN_SIDE = 256  # below this the LoRAs were never trained; smaller requests are errors
MAX_SIDE = 2048  # above this no FLUX.1-dev canvas fits a 24 GB GPU even with offloading
DEFAULT_LONG_SIDE = 1024  # a size taken from an input image is scaled down to this long side
DEFAULT_SHORT_SIDE = 384  # ... and up to this short side when both sides are smaller
WHITE = 1.0  # letterbox padding, in [-1, 1]


def snap(n: int) -> int:
    """The largest multiple of 16 not above n."""
    return int(n) - int(n) % TOKEN_PX


def default_size(height: int, width: int) -> tuple[int, int]:
    """Target size from an input image's size: long side at most 1024, short side at least 384, x16."""
    h, w = float(height), float(width)
    if h > DEFAULT_LONG_SIDE or w > DEFAULT_LONG_SIDE:
        scale = DEFAULT_LONG_SIDE / max(h, w)
        h, w = h * scale, w * scale
    if h < DEFAULT_SHORT_SIDE and w < DEFAULT_SHORT_SIDE:
        scale = DEFAULT_SHORT_SIDE / min(h, w)
        h, w = h * scale, w * scale
    return snap(int(h)), snap(int(w))


def check_size(height: int, width: int, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """Snap (H, W) to multiples of 16 and check each side against [min_side, max_side]."""
    h, w = snap(height), snap(width)
    if min(h, w) < min_side or max(h, w) > max_side:
        raise InputError(f"target size {height}x{width} (snapped to {h}x{w}) is outside {min_side}..{max_side} px "
                         f"per side; give a size such as 512x384 or 1024x768 (height x width, multiples of 16)")
    return h, w


def resize_bicubic(pixels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bicubic, antialiased resize of (B,3,H,W) pixels, clamped to [-1, 1]."""
    if tuple(pixels.shape[-2:]) == (height, width):
        return pixels
    out = F.interpolate(pixels.float(), size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    return out.clamp(-1.0, 1.0).to(pixels.dtype)


@dataclass(frozen=True)
class Box:
    """Where the letterboxed image sits inside its panel (pixels)."""

    left: int
    top: int
    width: int
    height: int


def letterbox(pixels: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, Box]:
    """Resize keeping the aspect to fit (height, width), centred on white; (B,3,height,width) and its box."""
    src_h, src_w = pixels.shape[-2:]
    if src_w / src_h > width / height:
        new_w, new_h = width, int(width / (src_w / src_h))
    else:
        new_h, new_w = height, int(height * (src_w / src_h))
    new_h, new_w = max(1, new_h), max(1, new_w)
    inner = resize_bicubic(pixels, new_h, new_w)  # (B,3,new_h,new_w)
    out = torch.full((pixels.shape[0], 3, height, width), WHITE, dtype=pixels.dtype, device=pixels.device)
    left, top = (width - new_w) // 2, (height - new_h) // 2
    out[..., top:top + new_h, left:left + new_w] = inner
    return out, Box(left, top, new_w, new_h)


def fit_height(pixels: torch.Tensor, height: int, what: str) -> torch.Tensor:
    """Resize to `height` keeping the aspect, then centre-crop the width to a multiple of 16."""
    src_h, src_w = pixels.shape[-2:]
    new_w = int(src_w * height / src_h)
    cropped_w = snap(new_w)
    if cropped_w < TOKEN_PX:
        raise InputError(f"{what} is {src_w}x{src_h} px (width x height): at the target height {height} it would be "
                         f"{new_w} px wide, under one 16 px token; give a wider {what} image")
    resized = resize_bicubic(pixels, height, new_w)  # (B,3,height,new_w)
    left = (new_w - cropped_w) // 2
    return resized[..., left:left + cropped_w]  # (B,3,height,cropped_w)


@dataclass(frozen=True)
class CropBack:
    """How a decoded target becomes the output: the letterbox box resized to the model image's size."""

    target_size: tuple[int, int]
    box: Box | None = None
    source_size: tuple[int, int] | None = None

    def apply(self, pixels: torch.Tensor) -> torch.Tensor:
        """Target pixels (B,3,H,W) -> output pixels; unchanged when nothing was letterboxed."""
        if tuple(pixels.shape[-2:]) != tuple(self.target_size):
            raise InputError(f"crop back: the decoded image is {pixels.shape[-2]}x{pixels.shape[-1]} but the "
                             f"canvas target is {self.target_size[0]}x{self.target_size[1]}; decode the sampler's "
                             "latent of this canvas")
        if self.box is None or self.source_size is None:
            return pixels
        b = self.box
        return resize_bicubic(pixels[..., b.top:b.top + b.height, b.left:b.left + b.width], *self.source_size)


def split_strip(latent: torch.Tensor, widths: list[int]) -> list[torch.Tensor]:
    """A latent of the condition strip (B,C,h,sum w_i/8) -> one latent per panel of pixel width w_i."""
    return list(torch.split(latent, [w // 8 for w in widths], dim=-1))


@dataclass
class PanelCanvas:
    """The panels of one task, left to right after the (blank) target, and how to crop the result back."""

    task: Task
    target_size: tuple[int, int]  # (H, W) of the target panel
    conditions: list[torch.Tensor]  # (B,3,H,w_i) per condition, in task order
    box: Box | None = None  # letterbox box of the model image (aligned tasks)
    source_size: tuple[int, int] | None = None  # (H, W) of the model image before letterboxing

    @property
    def batch(self) -> int:
        """Images per call."""
        return self.conditions[0].shape[0]

    @property
    def widths(self) -> list[int]:
        """Pixel widths of target then conditions."""
        return [self.target_size[1]] + [c.shape[-1] for c in self.conditions]

    @property
    def size(self) -> tuple[int, int]:
        """(H, total W) of the whole canvas in pixels."""
        return self.target_size[0], sum(self.widths)

    def grids(self) -> list[tuple[int, int]]:
        """Token grid (rows, cols) of target then conditions."""
        rows = self.target_size[0] // TOKEN_PX
        return [(rows, w // TOKEN_PX) for w in self.widths]

    def token_count(self) -> int:
        """Image tokens of the whole canvas (target + conditions): the sampling shift is computed from it."""
        return sum(r * c for r, c in self.grids())

    def strip(self) -> torch.Tensor:
        """The condition panels side by side: (B,3,H,sum w_i)."""
        return torch.cat(self.conditions, dim=-1)

    def crop_plan(self) -> CropBack:
        """The crop-back of this canvas, without its pixels."""
        return CropBack(self.target_size, self.box, self.source_size)

    def crop_back(self, pixels: torch.Tensor) -> torch.Tensor:
        """Target pixels (B,3,H,W) -> the output: the letterbox box resized to the model image's size."""
        return self.crop_plan().apply(pixels)


def _batched(pixels: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[1] != 3:
        shape = tuple(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise InputError(f"{what}: expected pixels of shape (B, 3, H, W) in [-1, 1], got {shape}")
    return pixels


def plan_panels(task: Task, model: torch.Tensor | None = None, garment: torch.Tensor | None = None,
                size: tuple[int, int] | None = None, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE) -> PanelCanvas:
    """Lay out the condition panels of `task` for a target of `size` (H, W) (default: from the first input)."""
    given = {"model": model, "garment": garment}
    for part in task.conditions:
        if given[part] is None:
            name = "model image" if part == "model" else "garment image"
            raise InputError(f"task {task.name!r} needs a {name}; give --{part} (CLI) or connect the "
                             f"'{part}' input (ComfyUI)")
    for part, value in given.items():
        if value is not None and not task.needs(part):
            raise InputError(f"task {task.name!r} takes no {part} image ({task.description}); leave it out or "
                             f"use the task 'tryon'")
    inputs = [_batched(given[p], p) for p in task.conditions]
    batches = {x.shape[0] for x in inputs}
    if len(batches) > 1:
        sizes = [x.shape[0] for x in inputs]
        if 1 not in sizes:
            raise InputError(f"batch sizes {sizes} of {', '.join(task.conditions)} differ; give one image or as many")
        n = max(sizes)
        inputs = [x.expand(n, -1, -1, -1) if x.shape[0] == 1 else x for x in inputs]
    first = inputs[0]
    height, width = size if size is not None else default_size(*first.shape[-2:])
    height, width = check_size(height, width, min_side, max_side)
    panels, box, source = [], None, None
    for part, pixels in zip(task.conditions, inputs):
        if part == "model" and task.aligned:
            source = tuple(pixels.shape[-2:])
            panel, box = letterbox(pixels, height, width)
        else:
            panel = fit_height(pixels, height, "model image" if part == "model" else "garment image")
        panels.append(panel)
    return PanelCanvas(task, (height, width), panels, box, source)
