"""The two-node path: TWGTM Conditioner (task + canvas inputs -> TWGTM_CONDITIONING) and TWGTM Sampler.

The conditioning carries the checked canvas inputs, the working resolution and, when 'TWGTM SAM
Encode' is connected, its reference features; the sampler hands them to the pipeline, which
computes the SAM/SRM features itself when none were given: the same numbers as the one-node
samplers.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from comfy_api.latest import io

from ..twgtm import EncodedReference, InputError
from ..twgtm.vocab import CANVAS_TASKS, parse_mask_mode, parse_task
from .convert import image_to_pixels, mask_input
from .io_types import (CATEGORY, MASK_MODES, TWGTMConditioning, garment_inputs, mask_adjust_inputs, mask_adjustments,
                       model_input, reference_input, resolve_prompt, sampling_inputs, working_size_inputs)
from .runtime import image_output, loaded_pipeline, log_run, mask_output
from .sampler_nodes import blur_radius, repaint_inputs, sampler_kwargs

TASKS = list(CANVAS_TASKS)


@dataclass
class Conditioning:
    """A try-on or try-off job: person (B,3,H,W) in [-1,1], garment (B,3,h,w) or None, mask (B,1,H,W) or None."""

    task: str
    person: torch.Tensor
    garment: torch.Tensor | None
    mask: torch.Tensor | None
    prompt: str
    mask_mode: str
    reference: EncodedReference | None = None  # SAM/SRM features of the reference half, from 'TWGTM SAM Encode'
    working_width: int = 0  # 0 = the model's own
    working_height: int = 0


def build_conditioning(task: str, person, garment=None, mask=None, prompt: str = "upper", mask_mode: str = "bbox",
                       reference: EncodedReference | None = None, working_width: int = 0, working_height: int = 0,
                       mask_options: dict | None = None) -> Conditioning:
    """Convert and check the inputs of one task (ComfyUI IMAGE/MASK in, TWGTM tensors out)."""
    task, mask_mode = parse_task(task, CANVAS_TASKS), parse_mask_mode(mask_mode)
    person_px = image_to_pixels(person, name="person")  # (B,3,H,W)
    batch, size = person_px.shape[0], tuple(person_px.shape[-2:])
    if task == "tryon" and (garment is None or mask is None):
        raise InputError("try-on needs a garment image and a mask (white = region to redraw on the person); "
                         "connect both to the TWGTM Conditioner")
    if reference is not None and not isinstance(reference, EncodedReference):
        raise InputError(f"input 'reference': expected the output of 'TWGTM SAM Encode', got {type(reference).__name__}")
    garment_px = None if garment is None else image_to_pixels(garment, batch, name="garment")
    mask_t = None if mask is None else mask_input(mask, batch, size, image="person", nonempty=task == "tryon",
                                                  **mask_adjustments(mask_options or {}))  # (B,1,H,W)
    return Conditioning(task, person_px, garment_px, mask_t, prompt, mask_mode, reference, int(working_width),
                        int(working_height))


class TWGTMConditioner(io.ComfyNode):
    """Bundles a try-on or try-off job (the dual-space canvas inputs) for the TWGTM Sampler."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMConditioner",
            display_name="TWGTM Conditioner",
            category=f"{CATEGORY}/advanced",
            description=(
                "Checks and bundles the inputs of a try-on ([person | garment] canvas, person mask) or a try-off "
                "([garment | person] canvas, target region) for 'TWGTM Sampler', with the working resolution. Connect "
                "'TWGTM SAM Encode' of the reference image (the garment for try-on, the person for try-off) to reuse "
                "its features; otherwise the sampler computes them."
            ),
            inputs=[
                io.Combo.Input("task", options=TASKS, default="tryon",
                               tooltip="tryon: dress the person in the garment; tryoff: recover the garment the person wears."),
                io.Image.Input("person", tooltip="Person image(s); every item of the batch is processed."),
                *garment_inputs(),
                io.Combo.Input("mask_mode", options=MASK_MODES, default="bbox",
                               tooltip="Try-off only: bbox = box of the predicted garment mask, full = whole image (ignored when a mask is given)."),
                io.Image.Input("garment", optional=True, tooltip="Try-on: the flat garment (one for all persons or one per person)."),
                io.Mask.Input("mask", optional=True,
                              tooltip="Try-on: region to redraw on the person (required). Try-off: optional target region. "
                                      "Resized to the person."),
                *mask_adjust_inputs("mask"),
                *working_size_inputs(),
                reference_input(),
            ],
            outputs=[TWGTMConditioning.Output("conditioning", display_name="conditioning",
                                              tooltip="The job for 'TWGTM Sampler'.")],
        )

    @classmethod
    def execute(cls, task: str, person, category: str = "upper", mask_mode: str = "bbox", prompt: str = "",
                garment=None, mask=None, reference=None, working_width: int = 0, working_height: int = 0,
                **mask_options) -> io.NodeOutput:
        """Convert and validate."""
        return io.NodeOutput(build_conditioning(task, person, garment, mask, resolve_prompt(category, prompt), mask_mode,
                                                reference, working_width, working_height, mask_options))


class TWGTMSampler(io.ComfyNode):
    """Runs a TWGTM_CONDITIONING job through the TWGTM pipeline."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMSampler",
            display_name="TWGTM Sampler",
            category=f"{CATEGORY}/advanced",
            description="Samples the try-on or try-off job of a 'TWGTM Conditioner' with the TWGTM model.",
            inputs=[
                model_input(),
                TWGTMConditioning.Input("conditioning", tooltip="The job from 'TWGTM Conditioner'."),
                *sampling_inputs(),
                *repaint_inputs(),
            ],
            outputs=[
                io.Image.Output("image", display_name="image", tooltip="Dressed person (try-on) or flat garment (try-off)."),
                io.Mask.Output("mask", display_name="mask", tooltip="The mask the image was generated in."),
            ],
        )

    @classmethod
    def execute(cls, model, conditioning: Conditioning, scheduler: str = "ddim", steps: int = 30, guidance: float = 2.5,
                seed: int = 0, repaint: bool = False, repaint_blur: int = -1) -> io.NodeOutput:
        """Try-on or try-off on the whole batch."""
        if not isinstance(conditioning, Conditioning):
            raise InputError(f"input 'conditioning': expected the output of 'TWGTM Conditioner', got "
                             f"{type(conditioning).__name__}")
        pipe = loaded_pipeline(model)
        job = conditioning
        images = [job.person] if job.garment is None else [job.person, job.garment]
        kwargs = sampler_kwargs(pipe, scheduler, steps, guidance, seed, images=images,
                                working_width=job.working_width, working_height=job.working_height)
        if job.task == "tryon":
            result = pipe.tryon(job.person, job.garment, job.mask, prompt=job.prompt, repaint=bool(repaint),
                                repaint_blur=blur_radius(repaint_blur), reference=job.reference, **kwargs)
        else:
            result = pipe.tryoff(job.person, prompt=job.prompt, mask_mode=job.mask_mode, mask=job.mask,
                                 reference=job.reference, **kwargs)
        log_run(f"TWGTM Sampler ({job.task})", pipe, job.person.shape[0], kwargs["callback"])
        return io.NodeOutput(image_output(result.images), mask_output(result.masks))


CONDITIONING_NODES = [TWGTMConditioner, TWGTMSampler]
