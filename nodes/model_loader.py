"""TWGTM Model Loader: a checkpoint from `models/twgtm/` (plus optional base parts) -> TWGTM_MODEL."""
from __future__ import annotations

import logging

import torch

import comfy.model_management as mm
import folder_paths
from comfy_api.latest import io

from ..twgtm import load_model
from ..twgtm.paths import DEMO_WEIGHTS
from ..twgtm.vocab import DTYPES, parse_dtype
from .folders import TWGTM_FOLDER, list_weights, loader_files, loader_paths
from .io_types import CATEGORY, TWGTMModel
from .runtime import auto_dtype, wrap_model

logger = logging.getLogger("twgtm")

NONE = "none"
# load_model's options for the base parts a small checkpoint may leave out -> (this node's input, the
# ComfyUI model folder its files come from). No input supplies the Swin backbone.
BASE_INPUTS = {"base": ("base_model", "checkpoints"), "clip": ("clip_vision", "clip_vision")}
BASE_ENTRIES = {"base": "sd15-inpainting", "clip": "clip-vision"}  # the model registry's entry of each
# How load_model's errors name those options.
INPUT_NAMES = {**{option: f"{name} (a file in ComfyUI/models/{folder})" for option, (name, folder) in BASE_INPUTS.items()},
               "swin": None}


NODE_ID, DISPLAY_NAME = "TWGTMModelLoader", "TWGTM Model Loader"


@loader_files(NODE_ID, DISPLAY_NAME)
def _files(values: dict) -> list:
    """The node's model files: the checkpoint and the optional base parts."""
    ckpt_name = values["ckpt_name"]
    inputs = [("ckpt_name", TWGTM_FOLDER, ckpt_name, "demo" if ckpt_name == DEMO_WEIGHTS else "twgtm-checkpoint")]
    for option, name in (("base", values.get("base_model")), ("clip", values.get("clip_vision"))):
        if name not in (None, "", NONE):
            inputs.append((*BASE_INPUTS[option], name, BASE_ENTRIES[option]))
    return inputs


def _options(folder: str) -> list[str]:
    """'none' plus the files of one of ComfyUI's model folders."""
    return [NONE, *folder_paths.get_filename_list(folder)]


class TWGTMModelLoader(io.ComfyNode):
    """Loads a TWGTM checkpoint and hands it to ComfyUI's memory manager."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        weights = list_weights()
        return io.Schema(
            node_id=NODE_ID,
            display_name=DISPLAY_NAME,
            category=f"{CATEGORY}/loaders",
            description=(
                "Loads a TWGTM try-on/try-off checkpoint (.safetensors) from models/twgtm/. The demo model "
                f"{DEMO_WEIGHTS} (in the pack's weights/ folder) is a toy trained on drawn clothes: for real photos use "
                "a real TWGTM checkpoint, or CatVTON / TryOffAnyone through TWGTM Public Model Loader. The model is "
                "loaded to the GPU only while a TWGTM node runs and offloaded when ComfyUI needs the memory."
            ),
            inputs=[
                io.Combo.Input("ckpt_name", options=weights, default=DEMO_WEIGHTS if DEMO_WEIGHTS in weights else None,
                               tooltip=f"TWGTM checkpoint in models/twgtm/ (or the pack's weights/ folder). {DEMO_WEIGHTS} "
                                       "is a toy demo (drawn clothes, 128x96): not for real photos."),
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
            hidden=[io.Hidden.prompt, io.Hidden.unique_id],  # a missing file's error names what other loaders lack
        )

    @classmethod
    def validate_inputs(cls, ckpt_name, base_model=NONE, clip_vision=NONE) -> bool:
        """Accept any names here, so a missing file fails at run time with our message (where to put it)."""
        return True

    @classmethod
    def execute(cls, ckpt_name: str, device: str = "auto", dtype: str = "auto",
                base_model: str = NONE, clip_vision: str = NONE) -> io.NodeOutput:
        """Load the weights on the CPU (offload device) and wrap them in a ModelPatcher."""
        files = loader_paths(NODE_ID, dict(ckpt_name=ckpt_name, base_model=base_model, clip_vision=clip_vision),
                            cls.hidden.prompt, cls.hidden.unique_id)  # every missing file in one error
        load_device = torch.device("cpu") if device == "cpu" else mm.get_torch_device()
        weight_dtype = auto_dtype(load_device) if dtype == "auto" else parse_dtype(dtype)
        pipeline = load_model(files["ckpt_name"], base=files.get("base_model"), clip=files.get("clip_vision"),
                              dtype=weight_dtype, option_names=INPUT_NAMES)
        logger.info("TWGTM %s (%s preset) loaded: %s on %s", ckpt_name, pipeline.config.name, weight_dtype, load_device)
        return io.NodeOutput(wrap_model(pipeline, load_device))


LOADER_NODES = [TWGTMModelLoader]
