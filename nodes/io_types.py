"""The pack's own socket types and the inputs every sampling node shares."""
from __future__ import annotations

from comfy_api.latest import io

from ..twgtm.sampling.schedulers import MAX_STEPS, SCHEDULERS
from ..twgtm.vocab import GARMENT_CATEGORIES as CATEGORIES, TRYOFF_MASK_MODES

CATEGORY = "TWGTM"
# nodes.runtime.LoadedTWGTM: the ComfyUI ModelPatcher of a TWGTM model and the one pipeline built for it.
TWGTMModel = io.Custom("TWGTM_MODEL")
# twgtm.sampling.reference.EncodedReference: SAM/SRM features of a reference image.
TWGTMReference = io.Custom("TWGTM_REFERENCE")
# nodes.conditioning_nodes.Conditioning: the task and its canvas inputs.
TWGTMConditioning = io.Custom("TWGTM_CONDITIONING")

# Combo options: the lists of twgtm.vocab.
GARMENT_CATEGORIES = list(CATEGORIES)  # upper, lower, dress
MASK_MODES = list(TRYOFF_MASK_MODES)  # bbox, full

__all__ = ["CATEGORY", "TWGTMModel", "TWGTMReference", "TWGTMConditioning", "GARMENT_CATEGORIES", "MASK_MODES",
           "SEED_MAX", "model_input", "garment_inputs", "sampling_inputs", "working_size_inputs", "working_size",
           "mask_adjust_inputs", "mask_adjustments", "reference_input", "resolve_prompt"]

SEED_MAX = 0xFFFFFFFFFFFFFFFF  # core KSampler's seed range: 0 .. 2^64 - 1
MAX_SIDE = 8192


def model_input() -> io.Input:
    """The TWGTM_MODEL input."""
    return TWGTMModel.Input("model", tooltip="The TWGTM model from 'TWGTM Model Loader'.")


def garment_inputs() -> list[io.Input]:
    """The garment category and the optional free-text prompt that overrides it."""
    return [
        io.Combo.Input("category", options=GARMENT_CATEGORIES, default="upper",
                       tooltip="Which garment: upper (tops), lower (trousers, skirts) or dress. Sets the model's prompt."),
        io.String.Input("prompt", default="", optional=True,
                        tooltip="Optional free-text garment prompt (e.g. 'striped tee'); when not empty it replaces the category."),
    ]


def sampling_inputs() -> list[io.Input]:
    """Scheduler, steps, guidance and seed."""
    return [
        io.Combo.Input("scheduler", options=list(SCHEDULERS), default="ddim",
                       tooltip="Diffusion sampler: ddim (the papers' choice), dpmpp_2m, euler or unipc."),
        io.Int.Input("steps", default=30, min=1, max=MAX_STEPS, step=1,
                     tooltip="Denoising steps; 20-50 is typical, fewer is faster and rougher."),
        io.Float.Input("guidance", default=2.5, min=1.0, max=20.0, step=0.1, round=0.01,
                       tooltip="Classifier-free guidance scale; 1 turns guidance off (twice as fast), 2-3 is typical."),
        io.Int.Input("seed", default=0, min=0, max=SEED_MAX, step=1, control_after_generate=True,
                     tooltip="Random seed (0 to 2^64 - 1, as KSampler); item i of a batch uses seed + i, so a batch equals "
                             "single runs."),
    ]


def working_size_inputs() -> list[io.Input]:
    """The working resolution: the person is letterboxed to this box, sampled, and resized back."""
    return [
        io.Int.Input("working_width", default=0, min=0, max=MAX_SIDE, step=8,
                     tooltip="Width the model works at, in pixels; 0 = the model's own (96 for the demo model, 384 for "
                             "SD1.5 size). The output keeps the person's size."),
        io.Int.Input("working_height", default=0, min=0, max=MAX_SIDE, step=8,
                     tooltip="Height the model works at, in pixels; 0 = the model's own (128 for the demo model, 512 "
                             "for SD1.5 size). Larger is sharper, slower and needs more memory."),
    ]


def working_size(pipeline, working_width: int = 0, working_height: int = 0) -> tuple[int, int] | None:
    """The pipeline's `size` for the node's working resolution (0 = the model's own side)."""
    if not working_width and not working_height:
        return None
    default = pipeline.working_size() or (int(working_height or working_width), int(working_width or working_height))
    return int(working_height or default[0]), int(working_width or default[1])


def mask_adjust_inputs(name: str = "mask") -> list[io.Input]:
    """Resize, grow/shrink and feather switches of the MASK input `name` (see twgtm.mask_edit)."""
    return [
        io.Boolean.Input(f"{name}_resize", default=True,
                         tooltip=f"Resize '{name}' to the image when their sizes differ (nearest for a black-and-white "
                                 "mask, bilinear for a soft one), as core nodes do; off: a size mismatch is an error."),
        io.Int.Input(f"{name}_grow", default=0, min=-MAX_SIDE, max=MAX_SIDE, step=1,
                     tooltip=f"Grow '{name}' by this many pixels (negative: shrink), like GrowMask."),
        io.Int.Input(f"{name}_feather", default=0, min=0, max=MAX_SIDE, step=1,
                     tooltip=f"Soft edge of '{name}' in pixels (a blur). The model redraws where the mask is at least "
                             "0.5; with repaint the result is blended back through this soft edge."),
    ]


def mask_adjustments(values: dict, name: str = "mask") -> dict:
    """convert.mask_input's keywords from a node's `<name>_resize / _grow / _feather` values."""
    return dict(resize=bool(values.get(f"{name}_resize", True)), grow=int(values.get(f"{name}_grow", 0)),
                feather=int(values.get(f"{name}_feather", 0)), name=name)


def reference_input() -> io.Input:
    """The optional TWGTM_REFERENCE from 'TWGTM SAM Encode'."""
    return TWGTMReference.Input("reference", optional=True,
                                tooltip="Optional features from 'TWGTM SAM Encode' of this job's reference image (the garment "
                                        "for try-on, the person for try-off), same category and working size: the "
                                        "encoders are then not run again.")


def resolve_prompt(category: str, prompt: str | None) -> str:
    """The prompt text when given, else the category."""
    text = (prompt or "").strip()
    return text or category
