"""Each project's picture preparation, in 8-bit Pillow images as their inference code does it, and the way back.

CatVTON (its app and pipeline): the person and the mask are centre-cropped to the working aspect
ratio and resized with Lanczos; the garment is resized with Lanczos to fit inside the working size and
centred on white; the mask is softened by a Gaussian blur of radius 9 (the app's) and binarized at 0.5
by the pipeline; pixels are `u / 127.5 - 1`.
TryOffAnyone (its inference script): the person is resized to the working size with Pillow's default
filter (bicubic) and read through diffusers' image processor, `u / 255 * 2 - 1`; a given mask is
resized as that processor does it (Lanczos) and binarized at 0.5.

The way back puts a working-size result into the person's frame: CatVTON's into its crop box (the rest
of the person is the input's), TryOffAnyone's resized to the person's size.
Tensors: pixels (3,H,W) in [-1, 1], masks (1,H,W) in {0, 1}; sizes are (H, W).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter

from ..pixels import from_uint8, mask_to_uint8, to_uint8

CATVTON_MASK_BLUR = 9  # the radius of the app's `mask_processor.blur(mask, blur_factor=9)`


# ----- tensors <-> 8-bit Pillow images ----------------------------------------------------------
def pil_rgb(pixels: torch.Tensor) -> Image.Image:
    """One image (3,H,W) in [-1, 1] -> an 8-bit RGB Pillow image (rounded)."""
    return Image.fromarray(to_uint8(pixels.detach().float().cpu()).permute(1, 2, 0).numpy(), "RGB")  # (H,W,3)


def pil_mask(mask: torch.Tensor) -> Image.Image:
    """One mask (1,H,W), binarized at 0.5 -> an 'L' image of 0 and 255."""
    binary = (mask.detach().float().cpu()[0] >= 0.5).float()  # (H,W)
    return Image.fromarray(mask_to_uint8(binary).numpy(), "L")


def catvton_pixels(image: Image.Image) -> torch.Tensor:
    """CatVTON's `prepare_image`: (3,H,W) float32 = u / 127.5 - 1."""
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).float() / 127.5 - 1.0


def processor_pixels(image: Image.Image) -> torch.Tensor:
    """diffusers' VaeImageProcessor (TryOffAnyone): (3,H,W) float32 = (u / 255) * 2 - 1."""
    unit = torch.from_numpy(np.array(image.convert("RGB")).astype(np.float32) / 255.0).permute(2, 0, 1)
    return 2.0 * unit - 1.0


def binary_mask(image: Image.Image) -> torch.Tensor:
    """An 'L' mask -> (1,H,W) float32 {0, 1}: u / 255, then < 0.5 -> 0 and >= 0.5 -> 1 (both projects)."""
    values = torch.from_numpy(np.array(image.convert("L")).astype(np.float32) / 255.0)[None]
    return (values >= 0.5).float()


def pixels_from_pil(image: Image.Image) -> torch.Tensor:
    """An 8-bit RGB image -> (3,H,W) in [-1, 1] (our own scaling, for results)."""
    return from_uint8(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()


# ----- CatVTON ----------------------------------------------------------------------------------
def aspect_crop_box(width: int, height: int, target: tuple[int, int]) -> tuple[int, int, int, int]:
    """The centred box (left, top, right, bottom) of the target (H, W) aspect ratio in a width×height image."""
    th, tw = target
    if width / height < tw / th:
        crop_w, crop_h = width, width * th // tw
    else:
        crop_w, crop_h = height * tw // th, height
    return (width - crop_w) // 2, (height - crop_h) // 2, (width + crop_w) // 2, (height + crop_h) // 2


def crop_resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Centre-crop to the (H, W) aspect ratio, then Lanczos-resize to (H, W) (CatVTON's person and mask)."""
    box = aspect_crop_box(*image.size, size)
    return image.crop(box).resize((size[1], size[0]), Image.LANCZOS)


def fit_on_white(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Lanczos-resize to fit inside (H, W), centred on white (CatVTON's garment)."""
    width, height = image.size
    th, tw = size
    if width / height < tw / th:
        new_w, new_h = width * th // height, th
    else:
        new_w, new_h = tw, height * tw // width
    page = Image.new("RGB", (tw, th), (255, 255, 255))
    page.paste(image.convert("RGB").resize((new_w, new_h), Image.LANCZOS), ((tw - new_w) // 2, (th - new_h) // 2))
    return page


def soften(mask: Image.Image, radius: int = CATVTON_MASK_BLUR) -> Image.Image:
    """The app's Gaussian blur of the mask (radius 0: unchanged, as CatVTON's inference script)."""
    return mask.filter(ImageFilter.GaussianBlur(radius)) if radius else mask


@dataclass
class CropPlacement:
    """Where a working-size CatVTON result goes back into the person's image."""

    box: tuple[int, int, int, int]  # (left, top, right, bottom) in the person's pixels
    person: Image.Image  # the person as given (8-bit)

    def image(self, result: Image.Image) -> Image.Image:
        """The person with `result` Lanczos-resized into the crop box."""
        left, top, right, bottom = self.box
        out = self.person.copy()
        out.paste(result.resize((right - left, bottom - top), Image.LANCZOS), (left, top))
        return out

    def mask(self, mask: Image.Image) -> Image.Image:
        """A working-size mask (nearest) inside the crop box, 0 elsewhere."""
        left, top, right, bottom = self.box
        out = Image.new("L", self.person.size, 0)
        out.paste(mask.resize((right - left, bottom - top), Image.NEAREST), (left, top))
        return out


def catvton_repaint(person: Image.Image, mask: Image.Image, result: Image.Image) -> Image.Image:
    """CatVTON's `--repaint`: the person outside the mask, blended through a Gaussian blur of radius h // 50 (odd)."""
    radius = result.size[1] // 50
    radius += 1 - radius % 2
    weight = np.array(mask.filter(ImageFilter.GaussianBlur(radius))) / 255.0  # (H,W) float64
    blended = np.array(person) * (1 - weight[..., None]) + np.array(result) * weight[..., None]
    return Image.fromarray(blended.astype(np.uint8))  # truncated, as CatVTON's astype


# ----- TryOffAnyone -----------------------------------------------------------------------------
def plain_resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Pillow's default resize (bicubic for RGB and L) to (H, W): TryOffAnyone's `image.resize((w, h))`."""
    return image.resize((size[1], size[0]))


def processor_mask_resize(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """diffusers' VaeImageProcessor resize of a mask to (H, W): Lanczos (a no-op at the same size)."""
    return mask.convert("L").resize((size[1], size[0]), Image.LANCZOS)
