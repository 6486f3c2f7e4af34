"""Task preparation: try-on, try-off and round-trip canvases and masks at the working size, and back.

Each task checks its inputs, letterboxes the person to the working canvas (white padding, the mask's
padding kept), builds the two-image canvas and says which image the reference encoders see; after
sampling it crops and resizes the target half back to the person's size. Try-on can repaint (paste
the person back outside the mask); try-off generates inside a given mask, the whole half ('full')
or the box of the SRM-predicted garment mask ('bbox').
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from .. import canvas as cv
from ..errors import ConfigError, InputError
from ..masks import blur_mask, category_box, garment_mask_from_probability
from ..model.config import TWGTMConfig
from ..model.network import ReferenceFeatures
from ..model.prompts import CATEGORY_PROMPTS
from ..vocab import TRYOFF_MASK_MODES, parse_mask_mode
from .inputs import broadcast, check_person, per_item
from ..results import RoundTripResult, TryOffResult, TryOnResult
from .letterbox import Letterbox, fit_into, letterbox, unletterbox
from .reference import garment_probability_on_canvas
from .working_size import letterbox_plan

log = logging.getLogger("twgtm")

__all__ = ["MASK_MODES", "TryOnResult", "TryOffResult", "RoundTripResult", "TryOnJob", "prepare_tryon", "finish_tryon",
           "TryOffJob", "prepare_tryoff", "tryoff_canvas", "finish_tryoff", "concat_tryon", "concat_tryoff", "category_masks"]

MASK_MODES = TRYOFF_MASK_MODES


def check_redraw_region(mask_w: torch.Tensor, config: TWGTMConfig, what: str) -> None:
    """Refuse a mask (B,1,Hc,Wc) at the working size whose region covers no latent cell: the model
    redraws in latent cells, so it would change nothing (a silent copy of the input)."""
    if mask_w.device.type == "meta":
        return
    factor = config.vae_scale_factor
    latent = cv.latent_mask(mask_w, (mask_w.shape[-2] // factor, mask_w.shape[-1] // factor))  # (B,1,h,w)
    small = [i for i in range(mask_w.shape[0]) if not bool(latent[i].any())]
    if small:
        raise InputError(f"the {what} of item(s) {small} covers less than one {factor}x{factor}-pixel latent cell at "
                         f"the working size {mask_w.shape[-2]}x{mask_w.shape[-1]}, so nothing would be redrawn; draw "
                         "a larger mask (or grow it) or raise the working size")


# ----- try-on --------------------------------------------------------------------------------------
def _select_canvas(canvas: cv.Canvas, items: slice) -> cv.Canvas:
    """The canvas of some items of a batch."""
    return cv.Canvas(image=canvas.image[items], mask=canvas.mask[items], masked=canvas.masked[items], axis=canvas.axis)


@dataclass
class TryOnJob:
    """A try-on ready to sample: the canvas, the garment the encoders see, and how to go back."""

    canvas: cv.Canvas  # [person | garment] at the working size, mask on the person half
    garment: torch.Tensor  # (B,3,Hc,Wc) the letterboxed garment: the reference half
    mask: torch.Tensor  # (B,1,H,W) the binarized try-on mask at the person's size
    prompts: list[str]
    plan: Letterbox
    soft_mask: torch.Tensor | None = None  # (B,1,H,W) the mask as given (soft edges kept), for repaint

    def select(self, items: slice) -> "TryOnJob":
        """The job of some items of the batch (a fallback chunk)."""
        soft = None if self.soft_mask is None else self.soft_mask[items]
        return TryOnJob(_select_canvas(self.canvas, items), self.garment[items], self.mask[items], self.prompts[items],
                        self.plan, soft)


def prepare_tryon(person: torch.Tensor, garment: torch.Tensor, mask: torch.Tensor, prompt, config: TWGTMConfig,
                  size=None) -> TryOnJob:
    """Check person (B,3,H,W), garment (1|B,3,h,w) and mask (1|B,1,H,W); build the canvas at the working size."""
    b = check_person(person)
    garment = broadcast(garment, b, "garment", 3)
    mask = broadcast(mask, b, "mask", 1).float()
    if mask.shape[-2:] != person.shape[-2:]:
        raise InputError(f"the try-on mask is {tuple(mask.shape[-2:])} but the person is {tuple(person.shape[-2:])}; "
                         "resize the mask to the person image's size")
    soft_mask = mask.clamp(0.0, 1.0)
    mask = (mask >= 0.5).float()
    empty = [i for i in range(b) if not mask[i].any()]
    if empty:
        raise InputError(f"the try-on mask of item(s) {empty} is empty (all 0): nothing would change; "
                         "paint the garment region white (1) or give an automatic mask")
    prompts = per_item(prompt, b, "prompt")
    plan = letterbox_plan(person, config, size)
    person_w = letterbox(person.float(), plan, fill=1.0)  # (B,3,Hc,Wc), white padding
    mask_w = letterbox(mask, plan, fill=0.0, mask=True)  # padding is kept, never generated
    check_redraw_region(mask_w, config, "try-on mask")
    garment_w = fit_into(garment.float(), plan.canvas, fill=1.0)  # (B,3,Hc,Wc), aspect kept
    canvas = cv.tryon_canvas(person_w, garment_w, mask_w, config.concat_axis)  # (B,3,Hc,2Wc) or (B,3,2Hc,Wc)
    return TryOnJob(canvas, garment_w, mask, prompts, plan, soft_mask)


def finish_tryon(job: TryOnJob, sampled: torch.Tensor, person: torch.Tensor, repaint: bool = False,
                 repaint_blur: int | None = None) -> TryOnResult:
    """The sampled person half (B,3,Hc,Wc) back at the person's size (B,3,H,W), repainted outside the mask if asked.

    Repaint blends through a blurred edge (radius `repaint_blur`, default 1/64 of the height) of the mask
    as given (a feathered mask keeps its soft edge), so the pixels outside the mask are exactly the input's.
    """
    out = unletterbox(sampled, job.plan).to(person.device)  # (B,3,H,W)
    mask = job.mask
    if repaint:
        radius = max(1, person.shape[-2] // 64) if repaint_blur is None else int(repaint_blur)
        soft = mask if job.soft_mask is None else job.soft_mask
        weight = blur_mask(soft, radius).to(out.device) * mask.to(out.device)  # 0 outside the mask, soft inside
        out = person.float() * (1.0 - weight) + out * weight
    return TryOnResult(images=out.clamp(-1, 1), masks=mask)


# ----- try-off -------------------------------------------------------------------------------------
@dataclass
class TryOffJob:
    """A try-off before its target region is known: the person the encoders see and the mask asked for."""

    person: torch.Tensor  # (B,3,Hc,Wc) the letterboxed person: the reference half
    given_mask: torch.Tensor | None  # (B,1,Hc,Wc) the caller's target region at the working size
    mask_mode: str
    prompts: list[str]
    plan: Letterbox

    @property
    def mode(self) -> str:
        """The encoder-cache tag of this try-off."""
        return f"tryoff:{'mask' if self.given_mask is not None else self.mask_mode}"

    def select(self, items: slice) -> "TryOffJob":
        """The job of some items of the batch (a fallback chunk)."""
        given = None if self.given_mask is None else self.given_mask[items]
        return TryOffJob(self.person[items], given, self.mask_mode, self.prompts[items], self.plan)


def prepare_tryoff(person: torch.Tensor, prompt, mask_mode: str, mask: torch.Tensor | None, config: TWGTMConfig,
                   size=None, has_srm: bool = True) -> TryOffJob:
    """Check person (B,3,H,W), mask mode and the optional target mask (1|B,1,H,W); letterbox them."""
    b = check_person(person)
    if mask is None:
        mask_mode = parse_mask_mode(mask_mode)
    if mask is None and mask_mode == "bbox" and not has_srm:
        raise ConfigError(f"mask_mode 'bbox' needs the SRM garment mask, which profile {config.profile!r} lacks; "
                          "use mask_mode='full' or give a mask")
    prompts = per_item(prompt, b, "prompt")
    plan = letterbox_plan(person, config, size)
    person_w = letterbox(person.float(), plan, fill=1.0)  # (B,3,Hc,Wc)
    given = None
    if mask is not None:
        mask = broadcast(mask, b, "mask", 1).float()
        if mask.shape[-2:] != person.shape[-2:]:
            raise InputError(f"the try-off mask is {tuple(mask.shape[-2:])} but the person is "
                             f"{tuple(person.shape[-2:])}; resize the mask to the person image's size")
        given = letterbox((mask >= 0.5).float(), plan, fill=0.0, mask=True)  # (B,1,Hc,Wc)
        check_redraw_region(given, config, "try-off mask")
    return TryOffJob(person_w, given, mask_mode, prompts, plan)


def _target_mask(job: TryOffJob, probs: torch.Tensor | None) -> torch.Tensor:
    """The region (B,1,Hc,Wc) the flat garment is generated in: given, full, or the predicted mask's box."""
    b = job.person.shape[0]
    if job.given_mask is not None:
        return job.given_mask
    if job.mask_mode == "full":
        return torch.ones(b, 1, *job.plan.canvas)
    target = garment_mask_from_probability(probs, 0.5, bbox=True)  # Mask2BBox of the predicted flat-garment mask
    for i in range(b):
        if not target[i].any():
            log.warning("item %d: the predicted garment mask is empty; using the full half instead", i)
            target[i] = 1
    return target


def tryoff_canvas(job: TryOffJob, feats: ReferenceFeatures, config: TWGTMConfig) -> tuple[cv.Canvas, torch.Tensor,
                                                                                           torch.Tensor | None]:
    """The try-off canvas [garment page | person], its target mask (B,1,Hc,Wc) and the garment probability.

    The target half starts as a white page, or as the person itself for profiles trained that way
    (TryOffAnyone: `config.inference.tryoff_target == "erased_person"`). The probability (B,1,Hc,Wc) is None
    for profiles without an SRM.
    """
    probs = None
    if feats.garment_mask_logits is not None:
        probs = garment_probability_on_canvas(feats.garment_mask_logits, job.plan)  # (B,1,Hc,Wc)
    target_mask = _target_mask(job, probs)
    target = job.person if config.inference.tryoff_target == "erased_person" else None
    canvas = cv.tryoff_canvas(job.person, target_mask, config.concat_axis, garment=target)  # (B,3,Hc,2Wc) or (B,3,2Hc,Wc)
    return canvas, target_mask, probs


def finish_tryoff(job: TryOffJob, sampled: torch.Tensor, person: torch.Tensor, target_mask: torch.Tensor,
                  probs: torch.Tensor | None) -> TryOffResult:
    """The sampled garment half (B,3,Hc,Wc), its mask and the probability back at the person's size (B,·,H,W)."""
    out = unletterbox(sampled, job.plan).to(person.device)  # (B,3,H,W)
    used = unletterbox(target_mask, job.plan, mask=True)  # (B,1,H,W)
    garment_masks = None if probs is None else unletterbox(probs, job.plan)
    return TryOffResult(images=out.clamp(-1, 1), masks=used, garment_masks=garment_masks)


def concat_tryon(parts: list[TryOnResult]) -> TryOnResult:
    """The results of a batch run in chunks, in order."""
    if len(parts) == 1:
        return parts[0]
    return TryOnResult(images=torch.cat([p.images for p in parts]), masks=torch.cat([p.masks for p in parts]))


def concat_tryoff(parts: list[TryOffResult]) -> TryOffResult:
    """The results of a batch run in chunks, in order."""
    if len(parts) == 1:
        return parts[0]
    garment_masks = None if parts[0].garment_masks is None else torch.cat([p.garment_masks for p in parts])
    return TryOffResult(images=torch.cat([p.images for p in parts]), masks=torch.cat([p.masks for p in parts]),
                        garment_masks=garment_masks)


# ----- round trip ----------------------------------------------------------------------------------
def category_masks(prompt, person: torch.Tensor) -> torch.Tensor:
    """The body-region box (B,1,H,W) of each item's garment category (free-text prompts: the upper box)."""
    b = person.shape[0]
    categories = [p if str(p).strip().lower() in CATEGORY_PROMPTS else "upper" for p in per_item(prompt, b, "prompt")]
    log.info("round trip: no mask_b given; using the %s body box(es) on person B", sorted(set(categories)))
    return torch.cat([category_box(c, tuple(person.shape[-2:])) for c in categories]).to(person.device)
