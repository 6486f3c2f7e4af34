"""TryOffAnyone try-off as its inference script runs it: plain-resized person, garment mask, two-half DDIM.

Per item: the person is resized to the working size with Pillow's default filter; the garment mask is
the given one resized as diffusers' image processor does it (Lanczos) and binarized, or the automatic
one computed on the resized person (the script parses that image); `InpaintSampler` samples
`[person with the garment erased; person]`. The 8-bit result lies in the resized person's frame and is
resized back to the person's size. (The script then removes the background with a downloaded
segmentation model, which this package does not do: the garment comes out on the model's own background.)
"""
from __future__ import annotations

from typing import Callable

import torch
from PIL import Image

from ..errors import InputError
from ..sampling.inputs import broadcast, check_person
from . import preprocess as pp
from .results import ProfileTryOffResult, profile_sampling_size
from .sd_inpaint_sampler import HalfCanvas, InpaintSampler, SamplingRequest

MaskSource = Callable[[torch.Tensor], torch.Tensor]  # person (B,3,H,W) in [-1,1] -> mask (B,1,H,W)


def tryoffanyone_tryoff(sampler: InpaintSampler, person: torch.Tensor, mask: torch.Tensor | MaskSource,
                        request: SamplingRequest, *, size=None) -> ProfileTryOffResult:
    """Take the garment inside `mask` (1|B,1,H,W, or a mask source) off `person` (B,3,H,W); (B,3,H,W) out."""
    b = check_person(person)
    if not callable(mask):
        mask = broadcast(mask, b, "mask", 1).float()
        if mask.shape[-2:] != person.shape[-2:]:
            raise InputError(f"the try-off mask is {tuple(mask.shape[-2:])} but the person is "
                             f"{tuple(person.shape[-2:])}; resize the mask to the person image's size")
    size = profile_sampling_size(sampler.model.config, size, tuple(person.shape[-2:]))
    height, width = person.shape[-2:]
    persons, masks = [], []
    for i in range(b):
        person_w = pp.plain_resize(pp.pil_rgb(person[i]), size)
        pixels = pp.processor_pixels(person_w)  # (3,h,w)
        if callable(mask):
            mask_w = pp.pil_mask(mask(pixels[None])[0])  # parsed on the resized person, as the script does
        else:
            mask_w = pp.processor_mask_resize(pp.pil_mask(mask[i]), size)
        binary = pp.binary_mask(mask_w)
        if not binary.any():
            raise InputError(f"the try-off garment mask of item {i} is empty at the working size {size[0]}x{size[1]}: "
                             "TryOffAnyone redraws the garment region, so give a mask that covers the garment")
        persons.append(pixels)
        masks.append(binary)
    person_w, mask_w = torch.stack(persons), torch.stack(masks)  # (B,3,h,w), (B,1,h,w)
    working = sampler.sample(HalfCanvas(person_w, mask_w, person_w), request)  # (B,3,h,w) uint8
    images, used = [], []
    for i in range(b):
        result = Image.fromarray(working[i].permute(1, 2, 0).numpy(), "RGB")
        images.append(pp.pixels_from_pil(result.resize((width, height))))
        used.append(pp.binary_mask(pp.pil_mask(mask_w[i]).resize((width, height), Image.NEAREST)))
    return ProfileTryOffResult(images=torch.stack(images).to(person.device), masks=torch.stack(used).to(person.device),
                               garment_masks=None, working=working, working_masks=mask_w)
