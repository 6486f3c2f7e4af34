"""CatVTON try-on as its app and pipeline run it: crop-resized person and mask, garment on white, two-half DDIM.

Per item: the person and its mask are centre-cropped to the working aspect ratio and Lanczos-resized
(or the automatic mask is computed on the cropped person), the mask is blurred (radius 9, the app's)
and binarized, the garment is fitted on white; `InpaintSampler` samples `[person; garment]`. The result
(working size, 8-bit) goes back into the person's crop box; `repaint` blends the person back outside
the mask as CatVTON's `--repaint` does.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from ..sampling.inputs import broadcast, check_person
from . import preprocess as pp
from .results import ProfileTryOnResult, profile_sampling_size
from .sd_inpaint_sampler import HalfCanvas, InpaintSampler, SamplingRequest

MaskSource = Callable[[torch.Tensor], torch.Tensor]  # person (B,3,H,W) in [-1,1] -> mask (B,1,H,W)


def _item_mask(mask, i: int, person_w: Image.Image, size) -> Image.Image:
    """Item i's mask at the working size, before the blur: the given one crop-resized, or the automatic one."""
    if callable(mask):
        return pp.pil_mask(mask(pp.catvton_pixels(person_w)[None])[0])  # on the cropped person, as CatVTON's masker
    return pp.crop_resize(pp.pil_mask(mask[i]), size)


def catvton_tryon(sampler: InpaintSampler, person: torch.Tensor, garment: torch.Tensor, mask: torch.Tensor | MaskSource,
                  request: SamplingRequest, *, size=None, repaint: bool = False,
                  mask_blur: int = pp.CATVTON_MASK_BLUR) -> ProfileTryOnResult:
    """Dress `person` (B,3,H,W) in `garment` (1|B,3,h,w) inside `mask` (1|B,1,H,W, or a mask source); (B,3,H,W) out."""
    b = check_person(person)
    garment = broadcast(garment, b, "garment", 3)
    if not callable(mask):
        mask = broadcast(mask, b, "mask", 1).float()
        if mask.shape[-2:] != person.shape[-2:]:
            raise InputError(f"the try-on mask is {tuple(mask.shape[-2:])} but the person is "
                             f"{tuple(person.shape[-2:])}; resize the mask to the person image's size")
    size = profile_sampling_size(sampler.model.config, size, tuple(person.shape[-2:]))
    persons, garments, masks, masks_l, places = [], [], [], [], []
    for i in range(b):
        person_pil = pp.pil_rgb(person[i])
        person_w = pp.crop_resize(person_pil, size)
        mask_w = pp.soften(_item_mask(mask, i, person_w, size), mask_blur)
        binary = pp.binary_mask(mask_w)  # (1,h,w)
        if not binary.any():
            raise InputError(f"the try-on mask of item {i} is empty at the working size {size[0]}x{size[1]} (after "
                             "CatVTON's crop and blur): draw a larger mask, or check the automatic one")
        persons.append(pp.catvton_pixels(person_w))
        garments.append(pp.catvton_pixels(pp.fit_on_white(pp.pil_rgb(garment[i]), size)))
        masks.append(binary)
        masks_l.append(pp.pil_mask(binary))
        places.append(pp.CropPlacement(pp.aspect_crop_box(*person_pil.size, size), person_pil))
    canvas = HalfCanvas(torch.stack(persons), torch.stack(masks), torch.stack(garments))  # (B,3,h,w) each
    working = sampler.sample(canvas, request)  # (B,3,h,w) uint8
    images, used = [], []
    for i in range(b):
        result = Image.fromarray(working[i].permute(1, 2, 0).numpy(), "RGB")
        if repaint:
            result = pp.catvton_repaint(pp.crop_resize(places[i].person, size), masks_l[i], result)
            working[i] = torch.from_numpy(np.array(result)).permute(2, 0, 1)
        images.append(pp.pixels_from_pil(places[i].image(result)))
        used.append(pp.binary_mask(places[i].mask(masks_l[i])))
    return ProfileTryOnResult(images=torch.stack(images).to(person.device), masks=torch.stack(used).to(person.device),
                              working=working, working_masks=canvas.mask)
