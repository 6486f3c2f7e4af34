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
           "model_input", "garment_inputs", "sampling_inputs", "resolve_prompt"]


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
        io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFF, step=1, control_after_generate=True,
                     tooltip="Random seed; item i of a batch uses seed + i, so a batch equals single runs."),
    ]


def resolve_prompt(category: str, prompt: str | None) -> str:
    """The prompt text when given, else the category."""
    text = (prompt or "").strip()
    return text or category
