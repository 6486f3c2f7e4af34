"""TWGTM Public Model Loader: CatVTON (try-on) or TryOffAnyone (try-off) weights -> TWGTM_MODEL.

The project's file comes from `models/twgtm/`, the SD1.5-inpainting base from ComfyUI's `checkpoints`
folder, an optional separate VAE from `vae`. The model is the same TWGTM_MODEL the TWGTM loader gives:
it feeds the same sampler nodes, which sample it as its project publishes (see twgtm.families).
"""
from __future__ import annotations

import logging

import torch

import comfy.model_management as mm
import folder_paths
from comfy_api.latest import io

from ..twgtm import load_model
from ..twgtm.families.profiles import PROFILES, get_profile
from ..twgtm.vocab import DTYPES, parse_dtype
from .folders import TWGTM_FOLDER, list_weights, loader_files, loader_paths
from .io_types import CATEGORY, TWGTMModel
from .runtime import auto_dtype, wrap_model

logger = logging.getLogger("twgtm")

NONE = "none"
# How load_model's errors name this node's inputs.
INPUT_NAMES = {"weights": "weights (a file in ComfyUI/models/twgtm)", "base": "base_model (a file in ComfyUI/models/checkpoints)",
               "vae": "vae (a file in ComfyUI/models/vae)", "clip": None, "swin": None}


NODE_ID, DISPLAY_NAME = "TWGTMProfileLoader", "TWGTM Public Model Loader"


@loader_files(NODE_ID, DISPLAY_NAME)
def _files(values: dict) -> list:
    """The node's model files: the project's weights, the SD1.5-inpainting base and the optional VAE."""
    inputs = [("weights", TWGTM_FOLDER, values["weights"], get_profile(values.get("profile", "catvton")).name),
              ("base_model", "checkpoints", values["base_model"], "sd15-inpainting")]
    if values.get("vae") not in (None, "", NONE):
        inputs.append(("vae", "vae", values["vae"], "sd-vae-ft-mse"))
    return inputs


def _default_weights(weights: list[str]) -> str | None:
    """The first listed file that looks like CatVTON's, else the first file."""
    named = [w for w in weights if "catvton" in w.lower()]
    return (named or weights or [None])[0]


class TWGTMProfileLoader(io.ComfyNode):
    """Loads CatVTON's or TryOffAnyone's public weights onto an SD1.5-inpainting base."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        weights = list_weights()
        profiles = ", ".join(f"{p.name}: {p.task} ({p.repository}, {p.weights_file})" for p in PROFILES.values())
        return io.Schema(
            node_id=NODE_ID,
            display_name=DISPLAY_NAME,
            category=f"{CATEGORY}/loaders",
            description=(
                "Real photos with public weights, sampled as their projects publish (50 DDIM steps, guidance 2.5, "
                f"1024x768 / 512x384): {profiles}. Each does one task. Put the project's file in models/twgtm/, "
                "the SD1.5-inpainting model in models/checkpoints/, optionally sd-vae-ft-mse in models/vae/."
            ),
            inputs=[
                io.Combo.Input("profile", options=list(PROFILES), default="catvton",
                               tooltip="catvton: try-on (CatVTON's mix-48k-1024 attention); tryoffanyone: try-off of tops "
                                       "(TryOffAnyone)."),
                io.Combo.Input("weights", options=weights, default=_default_weights(weights),
                               tooltip="The project's file in models/twgtm/ (CatVTON: mix-48k-1024/attention/"
                                       "model.safetensors; TryOffAnyone: model.safetensors; keep each in its own subfolder)."),
                io.Combo.Input("base_model", options=folder_paths.get_filename_list("checkpoints"),
                               tooltip="The SD1.5-inpainting model (9-channel UNet + VAE, original-format .safetensors) "
                                       "in models/checkpoints, e.g. sd-v1-5-inpainting.safetensors."),
                io.Combo.Input("vae", options=[NONE, *folder_paths.get_filename_list("vae")], default=NONE,
                               tooltip="Optional SD1.5 VAE in models/vae; both projects use sd-vae-ft-mse "
                                       "(vae-ft-mse-840000-ema-pruned.safetensors). none: the base model's own."),
                io.Combo.Input("device", options=["auto", "cpu"], default="auto",
                               tooltip="auto: ComfyUI's device (the GPU when there is one); cpu: always run on the CPU."),
                io.Combo.Input("dtype", options=["auto", *DTYPES], default="auto",
                               tooltip="Weight precision. auto: fp32 on the CPU, bf16 (or fp16) on a GPU."),
            ],
            outputs=[TWGTMModel.Output("model", display_name="model",
                                       tooltip="The model, for TWGTM Try-On (catvton) or TWGTM Try-Off (tryoffanyone).")],
            hidden=[io.Hidden.prompt, io.Hidden.unique_id],  # a missing file's error names what other loaders lack
        )

    @classmethod
    def validate_inputs(cls, weights, base_model, vae=NONE) -> bool:
        """Accept any names here, so a missing file fails at run time with our message (where to put it)."""
        return True

    @classmethod
    def execute(cls, profile: str, weights: str, base_model: str, vae: str = NONE, device: str = "auto",
                dtype: str = "auto") -> io.NodeOutput:
        """Load the weights on the CPU (offload device) and wrap them in a ModelPatcher."""
        load_device = torch.device("cpu") if device == "cpu" else mm.get_torch_device()
        weight_dtype = auto_dtype(load_device) if dtype == "auto" else parse_dtype(dtype)
        files = loader_paths(NODE_ID, dict(profile=profile, weights=weights, base_model=base_model, vae=vae),
                            cls.hidden.prompt, cls.hidden.unique_id)  # every missing file in one error
        pipeline = load_model(profile=profile, weights=files["weights"], base=files["base_model"],
                              vae=files.get("vae"), dtype=weight_dtype, option_names=INPUT_NAMES)
        logger.info("TWGTM public model %s (%s) loaded: %s on %s", profile, weights, weight_dtype, load_device)
        return io.NodeOutput(wrap_model(pipeline, load_device))


PROFILE_NODES = [TWGTMProfileLoader]
