"""Reference encoders: SAM/SRM features of a reference image (TWGTM_REFERENCE) and its predicted garment MASK."""
from __future__ import annotations

from comfy_api.latest import io

from ..twgtm import EncodedReference, InputError
from ..twgtm.masks import garment_mask_from_probability
from .convert import image_to_pixels
from .io_types import CATEGORY, TWGTMReference, garment_inputs, model_input, resolve_prompt, working_size, working_size_inputs
from .runtime import loaded_pipeline, log_run, mask_output


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
                "'TWGTM Garment Mask' (the predicted flat-garment mask) and to 'TWGTM Conditioner' (the sampler then "
                "reuses these features: the garment for try-on, the person for try-off, same category and working size)."
            ),
            inputs=[
                model_input(),
                io.Image.Input("image", tooltip="Reference image: a dressed person (try-off) or a flat garment (try-on)."),
                *garment_inputs(),
                *working_size_inputs(),
            ],
            outputs=[TWGTMReference.Output("reference", display_name="reference",
                                           tooltip="SAM tokens, SRM tokens and the predicted garment mask of each image.")],
        )

    @classmethod
    def execute(cls, model, image, category: str = "upper", prompt: str = "", working_width: int = 0,
                working_height: int = 0) -> io.NodeOutput:
        """Encode every image of the batch at the working size."""
        pipe = loaded_pipeline(model)
        pixels = image_to_pixels(image, name="image")  # (B,3,H,W)
        size = working_size(pipe, working_width, working_height)
        reference = pipe.encode_image(pixels, resolve_prompt(category, prompt), size=size).cpu()
        log_run("TWGTM SAM Encode", pipe, pixels.shape[0])
        return io.NodeOutput(reference)


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
    def execute(cls, reference: EncodedReference, threshold: float = 0.5, bbox: bool = False, margin: int = 0) -> io.NodeOutput:
        """Threshold (and box) the predicted probabilities."""
        if not isinstance(reference, EncodedReference):
            raise InputError(f"input 'reference': expected the output of 'TWGTM SAM Encode', got {type(reference).__name__}")
        probability = reference.garment_probability
        if probability is None:
            raise InputError("this model has no SRM garment-mask head (a CatVTON/TryOffAnyone profile); "
                             "draw the mask yourself or use a TWGTM checkpoint")
        mask = garment_mask_from_probability(probability, float(threshold), bool(bbox), int(margin))  # (B,1,H,W)
        return io.NodeOutput(mask_output(mask), mask_output(probability))


REFERENCE_NODES = [TWGTMSAMEncode, TWGTMGarmentMask]
