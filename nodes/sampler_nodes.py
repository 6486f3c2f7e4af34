"""The one-node samplers: TWGTM Try-On, Try-Off and Round Trip, taking the model and images directly."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from .convert import image_to_pixels, mask_input
from .io_types import (CATEGORY, MASK_MODES, garment_inputs, mask_adjust_inputs, mask_adjustments, model_input,
                       reference_input, resolve_prompt, sampling_inputs, working_size, working_size_inputs)
from .preview import previewer_for
from .runtime import StepProgress, image_output, loaded_pipeline, log_run, mask_output


def repaint_inputs() -> list[io.Input]:
    """Repaint switch and its blur radius."""
    return [
        io.Boolean.Input("repaint", default=False,
                         tooltip="Paste the original person back outside the mask (through a soft edge): only the garment region changes."),
        io.Int.Input("repaint_blur", default=-1, min=-1, max=256, step=1,
                     tooltip="Soft-edge radius of repaint in pixels; -1 = automatic (1/64 of the image height), 0 = hard edge."),
    ]


def mask_mode_input() -> io.Input:
    """Where the flat garment is generated in try-off."""
    return io.Combo.Input("mask_mode", options=MASK_MODES, default="bbox",
                          tooltip="Try-off target region: bbox = box of the predicted garment mask (best in the paper), "
                                  "full = the whole image.")


def sampler_kwargs(pipe, scheduler: str, steps: int, guidance: float, seed: int, passes: int = 1, images=(),
                   working_width: int = 0, working_height: int = 0) -> dict:
    """The pipeline's sampling keywords: a progress bar / cancel point / live preview as callback, the working size.

    `images`: the run's input pixels, for the preview of models whose VAE has no published RGB factors.
    """
    progress = StepProgress(steps, passes, previewer_for(pipe, list(images))).start()
    return dict(scheduler=scheduler, steps=int(steps), guidance=float(guidance), seed=int(seed), callback=progress,
                size=working_size(pipe, working_width, working_height))


def blur_radius(repaint_blur: int) -> int | None:
    """-1 (automatic) -> None."""
    return None if repaint_blur is None or int(repaint_blur) < 0 else int(repaint_blur)


class TWGTMTryOn(io.ComfyNode):
    """Virtual try-on: dress the person in the flat garment inside the mask."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMTryOn",
            display_name="TWGTM Try-On",
            category=CATEGORY,
            description=(
                "Dresses each person in the garment inside the mask (white = region to redraw). Any image size (the "
                "mask is resized to the person); batches: every person is processed, a single garment or mask is used "
                "for all of them. Shows a live preview while sampling (ComfyUI's --preview-method)."
            ),
            inputs=[
                model_input(),
                io.Image.Input("person", tooltip="Person image(s) to dress."),
                io.Image.Input("garment", tooltip="Flat garment image: one for all persons, or one per person."),
                io.Mask.Input("mask", tooltip="Region to redraw on the person (white = garment area); one or one per "
                                              "person, H x W or B x H x W, resized to the person."),
                *garment_inputs(),
                *sampling_inputs(),
                *repaint_inputs(),
                *mask_adjust_inputs("mask"),
                *working_size_inputs(),
                reference_input(),
            ],
            outputs=[
                io.Image.Output("image", display_name="image", tooltip="The dressed person(s), the person's size."),
                io.Mask.Output("used_mask", display_name="mask", tooltip="The try-on mask that was used (binarized)."),
            ],
        )

    @classmethod
    def execute(cls, model, person, garment, mask, category: str = "upper", scheduler: str = "ddim", steps: int = 30,
                guidance: float = 2.5, seed: int = 0, repaint: bool = False, repaint_blur: int = -1,
                prompt: str = "", working_width: int = 0, working_height: int = 0, reference=None,
                **mask_options) -> io.NodeOutput:
        """Run the pipeline's try-on on the whole batch."""
        person_px = image_to_pixels(person, name="person")  # (B,3,H,W)
        batch = person_px.shape[0]
        garment_px = image_to_pixels(garment, batch, name="garment")
        mask_t = mask_input(mask, batch, person_px.shape[-2:], image="person", nonempty=True,
                            **mask_adjustments(mask_options))
        pipe = loaded_pipeline(model)
        kwargs = sampler_kwargs(pipe, scheduler, steps, guidance, seed, images=[person_px, garment_px],
                                working_width=working_width, working_height=working_height)
        result = pipe.tryon(person_px, garment_px, mask_t, prompt=resolve_prompt(category, prompt), repaint=bool(repaint),
                            repaint_blur=blur_radius(repaint_blur), reference=reference, **kwargs)
        log_run("TWGTM Try-On", pipe, batch, kwargs["callback"])
        return io.NodeOutput(image_output(result.images), mask_output(result.masks))


class TWGTMTryOff(io.ComfyNode):
    """Virtual try-off: recover the flat garment a person wears."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMTryOff",
            display_name="TWGTM Try-Off",
            category=CATEGORY,
            description=(
                "Takes the garment of the chosen category off each person and draws it flat, at the person's image "
                "size. The target region is the box of the predicted garment mask (bbox), the whole image (full), or "
                "a mask you give. Shows a live preview while sampling."
            ),
            inputs=[
                model_input(),
                io.Image.Input("person", tooltip="Dressed person image(s)."),
                *garment_inputs(),
                mask_mode_input(),
                *sampling_inputs(),
                io.Mask.Input("mask", optional=True,
                              tooltip="Optional target region for the flat garment (overrides mask_mode), resized to the person."),
                *mask_adjust_inputs("mask"),
                *working_size_inputs(),
                reference_input(),
            ],
            outputs=[
                io.Image.Output("garment", display_name="garment", tooltip="The flat garment(s), the person's size."),
                io.Mask.Output("used_mask", display_name="mask", tooltip="The region the garment was generated in."),
                io.Mask.Output("garment_mask", display_name="garment_mask",
                               tooltip="The SRM-predicted garment probability (zeros for models without an SRM)."),
            ],
        )

    @classmethod
    def execute(cls, model, person, category: str = "upper", mask_mode: str = "bbox", scheduler: str = "ddim",
                steps: int = 30, guidance: float = 2.5, seed: int = 0, mask=None, prompt: str = "",
                working_width: int = 0, working_height: int = 0, reference=None, **mask_options) -> io.NodeOutput:
        """Run the pipeline's try-off on the whole batch."""
        person_px = image_to_pixels(person, name="person")  # (B,3,H,W)
        batch = person_px.shape[0]
        mask_t = None if mask is None else mask_input(mask, batch, person_px.shape[-2:], image="person",
                                                      **mask_adjustments(mask_options))
        pipe = loaded_pipeline(model)
        kwargs = sampler_kwargs(pipe, scheduler, steps, guidance, seed, images=[person_px],
                                working_width=working_width, working_height=working_height)
        result = pipe.tryoff(person_px, prompt=resolve_prompt(category, prompt), mask_mode=mask_mode, mask=mask_t,
                             reference=reference, **kwargs)
        garment_mask = result.garment_masks if result.garment_masks is not None else torch.zeros_like(result.masks)
        log_run("TWGTM Try-Off", pipe, batch, kwargs["callback"])
        return io.NodeOutput(image_output(result.images), mask_output(result.masks), mask_output(garment_mask))


class TWGTMRoundTrip(io.ComfyNode):
    """Round trip: take person A's garment off, then dress person B in it."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMRoundTrip",
            display_name="TWGTM Round Trip",
            category=CATEGORY,
            description=(
                "Try-off then try-on in one node: recovers the flat garment worn by person A and dresses person B "
                "in it (B defaults to A, a consistency check). Without mask_b, B's body region of the category is used."
            ),
            inputs=[
                model_input(),
                io.Image.Input("person_a", tooltip="Person(s) whose garment is taken."),
                *garment_inputs(),
                mask_mode_input(),
                *sampling_inputs(),
                repaint_inputs()[0],
                io.Image.Input("person_b", optional=True, tooltip="Person(s) to dress; one or one per person A. Default: person A."),
                io.Mask.Input("mask_b", optional=True,
                              tooltip="Try-on region on person B (white = garment area), resized to B. Default: the "
                                      "category's body box."),
                *mask_adjust_inputs("mask_b"),
                *working_size_inputs(),
            ],
            outputs=[
                io.Image.Output("image", display_name="image", tooltip="Person B dressed in A's garment, B's size."),
                io.Image.Output("garment", display_name="garment", tooltip="The flat garment taken off person A."),
                io.Mask.Output("used_mask", display_name="mask", tooltip="The try-on mask used on person B."),
            ],
        )

    @classmethod
    def execute(cls, model, person_a, category: str = "upper", mask_mode: str = "bbox", scheduler: str = "ddim",
                steps: int = 30, guidance: float = 2.5, seed: int = 0, repaint: bool = False,
                person_b=None, mask_b=None, prompt: str = "", working_width: int = 0, working_height: int = 0,
                **mask_options) -> io.NodeOutput:
        """Run the pipeline's round trip on the whole batch."""
        a = image_to_pixels(person_a, name="person_a")  # (B,3,H,W)
        batch = a.shape[0]
        b = None if person_b is None else image_to_pixels(person_b, batch, name="person_b")
        size_b = (a if b is None else b).shape[-2:]
        mask = None if mask_b is None else mask_input(mask_b, batch, size_b, image="person_b" if b is not None else "person_a",
                                                      nonempty=True, **mask_adjustments(mask_options, "mask_b"))
        pipe = loaded_pipeline(model)
        kwargs = sampler_kwargs(pipe, scheduler, steps, guidance, seed, passes=2, images=[a] if b is None else [a, b],
                                working_width=working_width, working_height=working_height)
        result = pipe.roundtrip(a, b, mask_b=mask, mask_mode=mask_mode, prompt=resolve_prompt(category, prompt),
                                repaint=bool(repaint), **kwargs)
        log_run("TWGTM Round Trip", pipe, batch, kwargs["callback"])
        return io.NodeOutput(image_output(result.images), image_output(result.garments.images),
                             mask_output(result.dressed.masks))


SAMPLER_NODES = [TWGTMTryOn, TWGTMTryOff, TWGTMRoundTrip]
