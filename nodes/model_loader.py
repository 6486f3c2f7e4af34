"""TWGTM Model Loader: a checkpoint from `models/twgtm/` (plus optional base parts) -> TWGTM_MODEL."""
from __future__ import annotations

import json
import logging

import torch

import comfy.model_management as mm
import folder_paths
from comfy_api.latest import io

from ..twgtm.weights.base_parts import load_unet_vae
from ..twgtm.weights.checkpoint import check_keys, load_checkpoint, read_metadata, read_safetensors
from ..twgtm.errors import CheckpointError
from ..twgtm.model.network import PARTS, TWGTM
from .folders import list_weights, weights_path
from .io_types import CATEGORY, TWGTMModel
from .runtime import auto_dtype, wrap_model

logger = logging.getLogger("twgtm")

DEMO_WEIGHTS = "twgtm-demo.safetensors"
NONE = "none"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Frozen base parts a small checkpoint may leave out, and the loader input that can supply each.
BASE_PARTS = {"unet": "base_model", "vae": "base_model", "clip": "clip_vision", "swin": None}


def _options(folder: str) -> list[str]:
    """'none' plus the files of one of ComfyUI's model folders."""
    return [NONE, *folder_paths.get_filename_list(folder)]


def _load_clip_file(model: TWGTM, path: str) -> None:
    """SAM's CLIP image encoder from a single HF-format CLIPVisionModelWithProjection .safetensors file."""
    state = read_safetensors(path, "CLIP vision file")
    check_keys(model.sam.clip.state_dict(), state, f"{path} (clip_vision folder)")
    model.sam.clip.load_state_dict(state, strict=True)


def load_model(path: str, base_model: str | None = None, clip_vision: str | None = None) -> TWGTM:
    """Build and load the checkpoint; parts it lacks come from the base files; a clear error if they can't."""
    parts = json.loads(read_metadata(path).get("parts") or json.dumps(list(PARTS)))
    model = load_checkpoint(path)
    lacking = [p for p in PARTS if p not in parts]
    from_base = [p for p in ("unet", "vae") if p in lacking]
    if from_base and base_model:
        load_unet_vae(model, folder_paths.get_full_path_or_raise("checkpoints", base_model), parts=tuple(from_base))
        lacking = [p for p in lacking if p not in from_base]
    if "clip" in lacking and clip_vision:
        _load_clip_file(model, folder_paths.get_full_path_or_raise("clip_vision", clip_vision))
        lacking.remove("clip")
    missing_base = [p for p in lacking if p in BASE_PARTS]
    if missing_base:
        how = "; ".join(f"{p}: " + (f"choose a file in '{BASE_PARTS[p]}'" if BASE_PARTS[p] else "use a checkpoint that includes it")
                        for p in missing_base)
        raise CheckpointError(f"{path} holds only the parts {parts}; it needs the base parts {missing_base} from other files ({how}).")
    if lacking:
        logger.warning("%s lacks parts %s; they keep their initial weights", path, lacking)
    return model


class TWGTMModelLoader(io.ComfyNode):
    """Loads a TWGTM checkpoint and hands it to ComfyUI's memory manager."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        weights = list_weights()
        return io.Schema(
            node_id="TWGTMModelLoader",
            display_name="TWGTM Model Loader",
            category=f"{CATEGORY}/loaders",
            description=(
                "Loads a TWGTM try-on/try-off checkpoint (.safetensors) from models/twgtm/ (the demo model "
                f"{DEMO_WEIGHTS} ships in the pack's weights/ folder). The model is loaded to the GPU only while a "
                "TWGTM node runs and offloaded when ComfyUI needs the memory."
            ),
            inputs=[
                io.Combo.Input("ckpt_name", options=weights, default=DEMO_WEIGHTS if DEMO_WEIGHTS in weights else None,
                               tooltip="TWGTM checkpoint in models/twgtm/ (or the pack's weights/ folder)."),
                io.Combo.Input("device", options=["auto", "cpu"], default="auto",
                               tooltip="auto: ComfyUI's device (the GPU when there is one); cpu: always run on the CPU."),
                io.Combo.Input("dtype", options=["auto", *DTYPES], default="auto",
                               tooltip="Weight precision. auto: fp32 on the CPU, bf16 (or fp16) on a GPU."),
                io.Combo.Input("base_model", options=_options("checkpoints"), default=NONE, optional=True,
                               tooltip="Only for checkpoints without UNet/VAE: an SD1.5-inpainting .safetensors in "
                                       "models/checkpoints supplies them. Ignored when the checkpoint has them."),
                io.Combo.Input("clip_vision", options=_options("clip_vision"), default=NONE, optional=True,
                               tooltip="Only for checkpoints without the CLIP image encoder: a CLIP vision "
                                       ".safetensors (HF format) in models/clip_vision. Ignored otherwise."),
            ],
            outputs=[TWGTMModel.Output("model", display_name="model",
                                       tooltip="The TWGTM model, for the TWGTM sampler, encoder and mask nodes.")],
        )

    @classmethod
    def validate_inputs(cls, ckpt_name) -> bool:
        """Accept any name here, so a missing file fails at run time with our message (where to put it)."""
        return True

    @classmethod
    def execute(cls, ckpt_name: str, device: str = "auto", dtype: str = "auto",
                base_model: str = NONE, clip_vision: str = NONE) -> io.NodeOutput:
        """Load the weights on the CPU (offload device) and wrap them in a ModelPatcher."""
        path = weights_path(ckpt_name)
        load_device = torch.device("cpu") if device == "cpu" else mm.get_torch_device()
        weight_dtype = auto_dtype(load_device) if dtype == "auto" else DTYPES[dtype]
        model = load_model(path, None if base_model in (None, NONE) else base_model,
                           None if clip_vision in (None, NONE) else clip_vision)
        model = model.to(dtype=weight_dtype).eval().requires_grad_(False)
        logger.info("TWGTM %s (%s preset) loaded: %s on %s", ckpt_name, model.config.name, weight_dtype, load_device)
        return io.NodeOutput(wrap_model(model, load_device))


LOADER_NODES = [TWGTMModelLoader]
