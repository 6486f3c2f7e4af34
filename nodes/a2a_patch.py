"""Any2AnyTryon on the user's own core Flux MODEL: a post-input patch that rewrites `img_ids`.

Core Flux appends reference latents as clean tokens at every call (the clean-condition reset) and,
with the 'index' reference method, numbers them (k, y, x) from x = 0. Any2AnyTryon needs the garment
(or the single condition) to continue after the target in x, which no core method expresses, so the
patch replaces the ids before the rotary embedding with the task's ids (twgtm.families.a2a).
Everything else (fp8, GGUF, offloading, LoRAs) stays core's.
"""
from __future__ import annotations

from comfy_api.latest import io

from ..twgtm.errors import InputError
from ..twgtm.families.a2a import TASKS, get_task, rewrite_index_ids

CATEGORY = "TWGTM/Any2AnyTryon"
TASK_NAMES = list(TASKS)


class AdaptivePositionIds:
    """The post_input patch: ComfyUI calls it with img, txt, img_ids, txt_ids before the blocks."""

    def __init__(self, task: str):
        self.task = get_task(task)

    def __call__(self, args: dict) -> dict:
        """Return the inputs with img_ids set to the task's adaptive ids."""
        return {**args, "img_ids": rewrite_index_ids(args["img_ids"], self.task)}

    def to(self, *args, **kwargs) -> "AdaptivePositionIds":
        """Patches are moved with the model; this one holds no tensors."""
        return self


def flux_of(model):
    """The core Flux module inside a MODEL; InputError for other models and for Flux without guidance."""
    diffusion = getattr(getattr(model, "model", None), "diffusion_model", None)
    params = getattr(diffusion, "params", None)
    if params is None or not hasattr(params, "guidance_embed") or not hasattr(diffusion, "double_blocks"):
        raise InputError(f"Any2AnyTryon needs a FLUX.1-dev MODEL (UNETLoader with flux1-dev), got "
                         f"{type(diffusion).__name__}; load FLUX.1-dev and its Any2AnyTryon LoRA")
    if not params.guidance_embed:
        raise InputError("this Flux has no guidance embedding (FLUX.1-schnell?); Any2AnyTryon's LoRAs are for "
                         "FLUX.1-dev: load flux1-dev.safetensors in UNETLoader")
    return diffusion


class TWGTMA2APatchFlux(io.ComfyNode):
    """Adaptive position ids for one task on a core Flux model."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMA2APatchFlux",
            display_name="Any2AnyTryon Patch Flux",
            category=CATEGORY,
            description=(
                "Patches a core FLUX.1-dev MODEL (UNETLoader, fp8 or GGUF, after LoraLoaderModelOnly with an "
                "Any2AnyTryon LoRA) with Any2AnyTryon's adaptive position ids for one task. Feed it the "
                "conditioning of 'Any2AnyTryon Conditioning' and sample with KSampler (cfg 1, euler, simple)."
            ),
            inputs=[
                io.Model.Input("model", tooltip="A core FLUX.1-dev model, with the Any2AnyTryon LoRA applied."),
                io.Combo.Input("task", options=TASK_NAMES, default="tryon",
                               tooltip="tryon: model image + garment; modelfree: garment only; reconstruct: the "
                                       "model's garment laid flat; layered: an extra garment over the clothes."),
            ],
            outputs=[io.Model.Output("patched_model", display_name="model", tooltip="The patched model (a clone).")],
        )

    @classmethod
    def execute(cls, model, task: str = "tryon") -> io.NodeOutput:
        """Clone the model and add the post-input patch."""
        flux_of(model)
        patched = model.clone()
        patched.set_model_post_input_patch(AdaptivePositionIds(task))
        return io.NodeOutput(patched)
