"""Reference encoders: SAM/SRM features of a reference image (TWGTM_REFERENCE) and its predicted garment MASK."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from comfy_api.latest import io

from ..twgtm.errors import InputError
from ..twgtm.sampling.letterbox import Letterbox, letterbox, plan_letterbox, resize, unletterbox
from ..twgtm.masks import mask_to_bbox
from ..twgtm.model.network import ReferenceFeatures
from .convert import image_to_pixels
from .io_types import CATEGORY, TWGTMReference, garment_inputs, model_input, resolve_prompt
from .runtime import mask_output, pipeline_for


def _cpu(x):
    """Tensors (and lists of tensors) moved to the CPU; anything else unchanged."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, list):
        return [_cpu(v) for v in x]
    return x


@dataclass
class Reference:
    """SAM/SRM features of a batch of reference images, computed at the model's working size (kept on the CPU)."""

    features: ReferenceFeatures  # F_SAM (B,1+N,D), F_SRM, TFQ_0 logits (B,1,h/4,w/4) of the letterboxed image
    plan: Letterbox  # where the image sits in the working canvas
    prompts: list[str]

    @property
    def garment_probability(self) -> torch.Tensor | None:
        """sigmoid(TFQ_0) at the input image's size (B,1,H,W), or None for models without an SRM."""
        logits = self.features.garment_mask_logits
        if logits is None:
            return None
        return unletterbox(resize(torch.sigmoid(logits.float()), self.plan.canvas), self.plan)  # (B,1,H,W)


class TWGTMSAMEncode(io.ComfyNode):
    """SAM + SRM on a reference image: global/QFormer tokens, SRM tokens and the garment-mask logits."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMSAMEncode",
            display_name="TWGTM SAM Encode",
            category=f"{CATEGORY}/advanced",
            description=(
                "Runs the Semantic Abstraction Module (CLIP + QFormer prompted by the garment category) and the "
                "Spatial Refinement Module (Swin + TaskFormer) on a reference image, once. Feed the result to "
                "'TWGTM Garment Mask' to see the predicted flat-garment mask. The samplers compute these features "
                "themselves; this node is for inspecting them."
            ),
            inputs=[
                model_input(),
                io.Image.Input("image", tooltip="Reference image: a dressed person (try-off) or a flat garment (try-on)."),
                *garment_inputs(),
            ],
            outputs=[TWGTMReference.Output("reference", display_name="reference",
                                           tooltip="SAM tokens, SRM tokens and the predicted garment mask of each image.")],
        )

    @classmethod
    def execute(cls, model, image, category: str = "upper", prompt: str = "") -> io.NodeOutput:
        """Encode every image of the batch at the model's working size."""
        pipe = pipeline_for(model)
        pixels = image_to_pixels(image)  # (B,3,H,W)
        plan = plan_letterbox(tuple(pixels.shape[-2:]), pipe.working_size(), pipe.config.pixel_multiple)
        prompts = [resolve_prompt(category, prompt)] * pixels.shape[0]
        features = pipe.encode_reference(letterbox(pixels, plan, fill=1.0), prompts)
        features = ReferenceFeatures(*(_cpu(getattr(features, f)) for f in
                                       ("sam_tokens", "srm_tokens", "garment_mask_logits", "unit_mask_logits")))
        return io.NodeOutput(Reference(features, plan, prompts))


class TWGTMGarmentMask(io.ComfyNode):
    """The SRM/TaskFormer predicted flat-garment mask at the image's size, optionally as its bounding box."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMGarmentMask",
            display_name="TWGTM Garment Mask",
            category=f"{CATEGORY}/masks",
            description=(
                "The garment mask predicted by the SRM/TaskFormer head (TFQ0) for each reference image, upscaled "
                "to the image size. With bbox on, each mask becomes its filled bounding box (Mask2BBox), the "
                "try-off target region the paper found best."
            ),
            inputs=[
                TWGTMReference.Input("reference", tooltip="Features from 'TWGTM SAM Encode'."),
                io.Float.Input("threshold", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Probability above which a pixel is garment; 0 keeps the soft probabilities."),
                io.Boolean.Input("bbox", default=False, tooltip="Replace each mask by its filled bounding box (Mask2BBox)."),
                io.Int.Input("margin", default=0, min=0, max=8192, step=1,
                             tooltip="Pixels added to each side of the box (bbox only)."),
            ],
            outputs=[
                io.Mask.Output("mask", display_name="mask", tooltip="The garment mask (or its box), 1 = garment."),
                io.Mask.Output("probability", display_name="probability", tooltip="The soft garment probability, 0..1."),
            ],
        )

    @classmethod
    def execute(cls, reference: Reference, threshold: float = 0.5, bbox: bool = False, margin: int = 0) -> io.NodeOutput:
        """Threshold (and box) the predicted probabilities."""
        probability = reference.garment_probability
        if probability is None:
            raise InputError("this model has no SRM garment-mask head (a CatVTON/TryOffAnyone profile); "
                             "draw the mask yourself or use a TWGTM checkpoint")
        mask = probability if threshold <= 0 else (probability >= threshold).float()
        if bbox:
            mask = mask_to_bbox(mask, int(margin))
        return io.NodeOutput(mask_output(mask), mask_output(probability))


REFERENCE_NODES = [TWGTMSAMEncode, TWGTMGarmentMask]
