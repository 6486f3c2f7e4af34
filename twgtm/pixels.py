"""Pixel I/O: image and mask files, PIL <-> tensor, value scaling (letterboxing lives in twgtm.sampling.letterbox).

Pixels are B×3×H×W in [-1, 1]; masks B×1×H×W in {0, 1} (1 = generate). Every conversion between
[-1, 1], [0, 1] and uint8 is written here once (`to_unit`, `from_unit`, `to_uint8`, `from_uint8`,
`mask_to_uint8`, `mask_from_uint8`). Files are read with Pillow (torchvision's image codecs do not
work on CPU-only installs): `open_image` is the one reader, so a phone photo's EXIF orientation is
applied (as ComfyUI's image loader does), grey images are expanded, RGBA is composited on white,
CMYK and 16-bit files are converted, an image above Pillow's pixel limit (a decompression bomb) is
refused before it is decoded, and a missing, empty or corrupt file gets one clear error everywhere.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .errors import InputError, TWGTMError

log = logging.getLogger("twgtm")

GREY_MODES = ("L", "1", "I", "I;16", "F")
WIDE_GREY_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # more than 8 bits per pixel
TRANSPARENT_MODES = ("RGBA", "LA", "PA")


# ----- value scaling -----------------------------------------------------------------------------
def to_unit(pixels: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped (any shape)."""
    return ((pixels + 1.0) * 0.5).clamp(0.0, 1.0)


def from_unit(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1] (any shape)."""
    return images * 2.0 - 1.0


def to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> uint8 0..255, clamped and rounded (any shape)."""
    return ((pixels.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


def from_uint8(values: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 0..255 -> float32 in [-1, 1] (any shape)."""
    return torch.as_tensor(values).float() / 127.5 - 1.0


def mask_to_uint8(mask: torch.Tensor) -> torch.Tensor:
    """A mask in [0, 1] -> uint8 0..255, clamped and rounded (any shape)."""
    return (mask.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def mask_from_uint8(values: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 0..255 -> float32 mask values in [0, 1] (any shape)."""
    return torch.as_tensor(values).float() / 255.0


# ----- arrays and PIL images <-> tensors ---------------------------------------------------------
def array_to_pixels(array: np.ndarray) -> torch.Tensor:
    """An H×W×3 uint8 array -> (1,3,H,W) float in [-1, 1]."""
    if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise InputError(f"expected an H×W×3 uint8 RGB array, got shape {array.shape} dtype {array.dtype}")
    return from_uint8(torch.from_numpy(np.array(array)).permute(2, 0, 1)[None]).contiguous()  # (1,3,H,W)


def array_to_mask(array: np.ndarray) -> torch.Tensor:
    """An H×W mask array (bool, 0..1 float, or 0..255 uint8) -> (1,1,H,W) float32."""
    if array.ndim != 2:
        raise InputError(f"expected an H×W mask array, got shape {array.shape}")
    if array.dtype == np.uint8:
        return mask_from_uint8(torch.from_numpy(np.array(array)))[None, None]
    return torch.from_numpy(np.asarray(array, dtype=np.float32).copy())[None, None]  # (1,1,H,W)


def pil_to_pixels(image, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A Pillow image (converted to RGB) -> (1,3,H,W) float in [-1, 1], resized (bicubic) to `size` = (H, W)."""
    from PIL import Image

    if size is not None and image.size != (int(size[1]), int(size[0])):
        image = image.resize((int(size[1]), int(size[0])), Image.BICUBIC)
    return array_to_pixels(np.asarray(image.convert("RGB")))


def pil_to_mask(image) -> torch.Tensor:
    """A Pillow image (converted to grey) -> (1,1,H,W) float in [0, 1], not binarized."""
    return array_to_mask(np.asarray(image.convert("L")))


def _one(x: torch.Tensor, channels: int, what: str) -> torch.Tensor:
    """(C,H,W) from (C,H,W) or (1,C,H,W), on the CPU, detached, float."""
    x = x.detach().float().cpu()
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3 or x.shape[0] != channels:
        raise InputError(f"{what} must be one {channels}×H×W tensor (or 1×{channels}×H×W), got {tuple(x.shape)}")
    return x


def pixels_to_pil(pixels: torch.Tensor):
    """One image (3,H,W) or (1,3,H,W) in [-1, 1] -> an RGB Pillow image."""
    from PIL import Image

    return Image.fromarray(to_uint8(_one(pixels, 3, "an image")).permute(1, 2, 0).numpy(), "RGB")  # (H,W,3)


def mask_to_pil(mask: torch.Tensor):
    """One mask (1,H,W) or (1,1,H,W) in [0, 1] -> a grey ('L') Pillow image."""
    from PIL import Image

    return Image.fromarray(mask_to_uint8(_one(mask, 1, "a mask"))[0].numpy(), "L")  # (H,W)


# ----- files -------------------------------------------------------------------------------------
PIXEL_LIMIT_HINT = ("scale the image down (an image this large is far beyond any working size), or raise the limit "
                    "with PIL.Image.MAX_IMAGE_PIXELS if you trust the file")
EXIF_ORIENTATION = 0x0112  # the EXIF tag a camera sets instead of rotating the pixels


def pixel_limit() -> int | None:
    """The most pixels an image may have: Pillow's decompression-bomb limit (None: no limit)."""
    from PIL import Image

    return Image.MAX_IMAGE_PIXELS


def check_pixel_count(height: int, width: int, what: str, error: type[TWGTMError] = InputError) -> None:
    """Refuse an image of more pixels than Pillow's limit, naming `what`, its size and the limit."""
    limit = pixel_limit()
    if limit is not None and int(height) * int(width) > limit:
        raise error(f"{what} is {int(width)}×{int(height)} = {int(height) * int(width):,} pixels, more than the "
                    f"{limit:,} that Pillow allows (its guard against decompression bombs); {PIXEL_LIMIT_HINT}")


def _upright(img, what: str, path: Path, level: int):
    """`img` turned as its EXIF orientation says (phone photos store portraits sideways with this tag)."""
    from PIL import ImageOps

    orientation = img.getexif().get(EXIF_ORIENTATION, 1)
    if orientation not in range(2, 9):  # 1 = upright; other values are not orientations
        return img
    turned = ImageOps.exif_transpose(img)
    log.log(level, "%s %s has EXIF orientation %s: turned upright to %dx%d", what, path, orientation,
            turned.width, turned.height)
    return turned


def _grey_to_8bit(img):
    """A 16-bit, 32-bit integer or float grey image as 8-bit 'L' (Pillow's own conversion clips instead)."""
    from PIL import Image

    values = np.asarray(img).astype(np.float64)  # (H,W)
    if img.mode == "F":
        scale = 255.0 if values.max(initial=0.0) <= 1.0 else 1.0  # floats in [0, 1], or already 0..255
    else:
        scale = 1.0 / 257.0 if img.mode.startswith("I;16") or values.max(initial=0.0) > 255 else 1.0  # 0..65535
    return Image.fromarray(np.clip(np.round(values * scale), 0, 255).astype(np.uint8), "L")


def open_image(path: str | os.PathLike, what: str = "image", *, mode: str | None = "RGB",
               error: type[TWGTMError] = InputError, hint: str = "check the path", quiet: bool = False):
    """Read an image file with Pillow, as `mode` ('RGB', 'L', or None = as stored); `error` names the file.

    The EXIF orientation is applied first, so a portrait phone photo comes out upright; then for RGB
    grey is expanded, transparency composited on white (a product photo's background), CMYK and
    other modes converted; 16-bit and float grey are scaled to 8 bits. Each conversion is logged
    (at debug level with `quiet`, as data sets read thousands of files).
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        where = "is a folder, not an image file" if path.is_dir() else "not found"
        raise error(f"{what} file {where}: {path} (folder {path.parent.resolve()}); {hint}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, with our message
            img = Image.open(path)
        check_pixel_count(img.height, img.width, f"{what} file {path}", error)
        img.load()
    except Image.DecompressionBombError as err:  # a frame past the header's size, or a raised limit
        raise error(f"{what} file {path} is refused as a decompression bomb ({err}); {PIXEL_LIMIT_HINT}") from err
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise error(f"{what} file {path} is not a readable image ({err}); give a PNG or JPEG, "
                    "or copy the file again if it was cut short") from err
    if img.width < 1 or img.height < 1:
        raise error(f"{what} file {path} holds an empty {img.width}×{img.height} image; give a real image")
    level = logging.DEBUG if quiet else logging.INFO
    img = _upright(img, what, path, level)
    try:
        return _converted(img, mode, what, path, level)
    except (OSError, ValueError) as err:
        raise error(f"{what} file {path} has colour mode {img.mode}, which cannot be converted to {mode} ({err}); "
                    "save it as an RGB PNG or JPEG") from err


def _converted(img, mode: str | None, what: str, path: Path, level: int):
    """`img` as `mode` (see open_image), each conversion logged at `level`."""
    from PIL import Image

    if mode is not None and img.mode in WIDE_GREY_MODES:
        img = _grey_to_8bit(img)
        log.log(level, "%s %s has more than 8 bits per pixel: scaled to 8 bits", what, path)
    if mode == "RGB":
        if img.mode in TRANSPARENT_MODES or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba).convert("RGB")
            log.log(level, "%s %s has transparency: composited on white", what, path)
        elif img.mode in GREY_MODES:
            img = img.convert("L").convert("RGB")
            log.log(level, "%s %s is greyscale: converted to RGB", what, path)
        elif img.mode != "RGB":
            log.log(level, "%s %s has mode %s: converted to RGB", what, path, img.mode)
            img = img.convert("RGB")
    elif mode is not None and img.mode != mode:
        if mode == "L" and img.mode != "1":
            log.log(level, "%s %s has mode %s: converted to greyscale", what, path, img.mode)
        img = img.convert(mode)
    return img


def load_image(path: str | os.PathLike, what: str = "image", *, size: tuple[int, int] | None = None,
               error: type[TWGTMError] = InputError, hint: str = "check the path", quiet: bool = False) -> torch.Tensor:
    """Read an image file as (1,3,H,W) in [-1, 1], resized (bicubic) to `size` = (H, W) when given.

    Grey images are expanded to RGB, RGBA is composited on white, 16-bit grey is scaled.

    Args:
        path: the image file (PNG, JPEG, WebP, ...).
        what: how errors name the image ('person', 'garment', ...).
        size: (H, W) to resize to, or None for the file's size.
        error, hint, quiet: the error class, the advice in its message, and whether to log conversions.

    Returns:
        torch.Tensor: (1,3,H,W) float pixels in [-1, 1].
    """
    return pil_to_pixels(open_image(path, what, error=error, hint=hint, quiet=quiet), size)  # (1,3,H,W)


def load_mask(path: str | os.PathLike, what: str = "mask", *, binarize: bool = True,
              error: type[TWGTMError] = InputError, hint: str = "check the path", quiet: bool = False) -> torch.Tensor:
    """Read a mask file as (1,1,H,W): {0, 1} at 0.5 (white = generate), or the grey values in [0, 1].

    Args:
        path: the mask image file (any mode; read as grey).
        what: how errors name the mask.
        binarize: threshold at 0.5 (True) or keep the grey values.
        error, hint, quiet: as `load_image`.

    Returns:
        torch.Tensor: (1,1,H,W) float mask, 1 = the region to generate.
    """
    mask = pil_to_mask(open_image(path, what, mode="L", error=error, hint=hint, quiet=quiet))  # (1,1,H,W)
    return (mask >= 0.5).float() if binarize else mask


def save_image(image, path: str | os.PathLike) -> Path:
    """Write one image (3,H,W) in [-1,1], one mask (1,H,W) in [0,1] (a batch of one is fine) or a Pillow image.

    Args:
        image: the tensor (or Pillow image) to write; save a batch's items one by one.
        path: the file to write (its suffix picks the format; folders are created).

    Returns:
        Path: the file written.
    """
    path = Path(path)
    if isinstance(image, torch.Tensor):
        x = image[0] if image.ndim == 4 and image.shape[0] == 1 else image
        if x.ndim != 3 or x.shape[0] not in (1, 3):
            raise InputError(f"save_image writes one image (3×H×W in [-1, 1]) or one mask (1×H×W in [0, 1]), "
                             f"got shape {tuple(image.shape)}; save the items of a batch one by one")
        picture = pixels_to_pil(x) if x.shape[0] == 3 else mask_to_pil(x)
    else:
        picture = image
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        picture.save(path)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot write {path} ({err}); choose a writable path (a file ending in .png, in a "
                         "folder you may write to)") from err
    return path
