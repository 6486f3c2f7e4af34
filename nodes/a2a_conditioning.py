"""Any2AnyTryon's canvas in ComfyUI: condition panels from IMAGE inputs, VAE latents as reference latents,
an empty target latent, the canvas size for ModelSamplingFlux, and the crop back to the model image."""
from __future__ import annotations

import torch
from comfy_api.latest import io

import node_helpers

from ..twgtm.families.a2a import MAX_SIDE, MIN_SIDE, get_task, plan_panels
from ..twgtm.families.a2a.layout import CropBack, split_strip
from .a2a_patch import CATEGORY, TASK_NAMES
from .convert import image_to_pixels, pixels_to_image

A2ALayout = io.Custom("A2A_LAYOUT")  # twgtm.families.a2a.layout.CropBack


def _vae_latent(vae, pixels: torch.Tensor) -> torch.Tensor:
    """Core VAE encode of (B,3,H,W) pixels in [-1,1] -> raw latent (B,16,H/8,W/8) (ComfyUI LATENT samples)."""
    return vae.encode(pixels_to_image(pixels))


class TWGTMA2AConditioning(io.ComfyNode):
    """The task's reference latents on a conditioning, the target latent and the layout."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMA2AConditioning",
            display_name="Any2AnyTryon Conditioning",
            category=CATEGORY,
            description=(
                "Lays out Any2AnyTryon's canvas: the model image letterboxed to width x height (try-on, layered), "
                "the garment resized to that height. Their VAE latents become the conditioning's reference "
                "latents ('index' method; they stay clean at every step), and an empty target latent is made. "
                "Connect canvas_width/height to ModelSamplingFlux and layout to 'Any2AnyTryon Crop Back'."
            ),
            inputs=[
                io.Conditioning.Input("conditioning", tooltip="Text conditioning (CLIPTextEncode -> FluxGuidance 3.5)."),
                io.Vae.Input("vae", tooltip="The FLUX VAE (ae.safetensors)."),
                io.Combo.Input("task", options=TASK_NAMES, default="tryon",
                               tooltip="The same task as on 'Any2AnyTryon Patch Flux'."),
                io.Int.Input("width", default=384, min=MIN_SIDE, max=MAX_SIDE, step=16,
                             tooltip="Target width in pixels (a multiple of 16)."),
                io.Int.Input("height", default=512, min=MIN_SIDE, max=MAX_SIDE, step=16,
                             tooltip="Target height in pixels; every panel gets this height."),
                io.Boolean.Input("joint_encoding", default=True,
                                 tooltip="Encode the condition panels side by side in one VAE call, as published "
                                         "(off: each panel alone, as separate VAEEncode nodes would)."),
                io.Image.Input("model_image", optional=True, tooltip="The person (tryon, reconstruct, layered)."),
                io.Image.Input("garment", optional=True, tooltip="The garment (tryon, modelfree, layered)."),
            ],
            outputs=[
                io.Conditioning.Output("positive", display_name="positive",
                                       tooltip="The input conditioning with the condition panels as reference latents."),
                io.Latent.Output("latent", display_name="latent", tooltip="The empty target latent for KSampler."),
                A2ALayout.Output("layout", display_name="layout", tooltip="For 'Any2AnyTryon Crop Back'."),
                io.Int.Output("canvas_width", display_name="canvas_width",
                              tooltip="Width of the whole canvas: ModelSamplingFlux's width (shift from all tokens)."),
                io.Int.Output("canvas_height", display_name="canvas_height", tooltip="ModelSamplingFlux's height."),
            ],
        )

    @classmethod
    def execute(cls, conditioning, vae, task: str = "tryon", width: int = 384, height: int = 512,
                joint_encoding: bool = True, model_image=None, garment=None) -> io.NodeOutput:
        """Plan the canvas, encode the panels, attach them."""
        the_task = get_task(task)
        model = image_to_pixels(model_image, name="model_image") if model_image is not None else None
        cloth = image_to_pixels(garment, name="garment") if garment is not None else None
        canvas = plan_panels(the_task, model, cloth, (int(height), int(width)))
        if joint_encoding:
            references = split_strip(_vae_latent(vae, canvas.strip()), canvas.widths[1:])
        else:
            references = [_vae_latent(vae, panel) for panel in canvas.conditions]
        conditioning = node_helpers.conditioning_set_values(
            conditioning, {"reference_latents": references, "reference_latents_method": "index"})
        h, w = canvas.target_size
        latent = torch.zeros((canvas.batch, references[0].shape[1], h // 8, w // 8))  # (B,16,H/8,W/8)
        canvas_h, canvas_w = canvas.size
        return io.NodeOutput(conditioning, {"samples": latent}, canvas.crop_plan(), canvas_w, canvas_h)


class TWGTMA2ACropBack(io.ComfyNode):
    """The decoded target cropped to the letterbox box and resized to the model image's size."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMA2ACropBack",
            display_name="Any2AnyTryon Crop Back",
            category=CATEGORY,
            description=("Try-on and layered: crops the decoded image to where the model image sat in its letterbox "
                         "and resizes it to the model image's own size. Other tasks: passes the image through."),
            inputs=[
                io.Image.Input("image", tooltip="VAEDecode of the sampled target latent."),
                A2ALayout.Input("layout", tooltip="The layout output of 'Any2AnyTryon Conditioning'."),
            ],
            outputs=[io.Image.Output("cropped", display_name="image", tooltip="The result at the model image's size.")],
        )

    @classmethod
    def execute(cls, image, layout: CropBack) -> io.NodeOutput:
        """Crop and resize."""
        return io.NodeOutput(pixels_to_image(layout.apply(image_to_pixels(image, name="image"))))

