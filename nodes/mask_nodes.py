"""Mask helper nodes: Mask2BBox and the body-region box of a garment category."""
from __future__ import annotations

from comfy_api.latest import io

from ..twgtm.masks import category_box, grown_bbox
from .convert import image_to_pixels, mask_to_tensor, tensor_to_mask
from .io_types import GARMENT_CATEGORIES

CATEGORY = "TWGTM"


class TWGTMMaskToBBox(io.ComfyNode):
    """Mask2BBox: each mask of the batch becomes its filled bounding box."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMMaskToBBox",
            display_name="TWGTM Mask to BBox",
            category=CATEGORY,
            description=(
                "Replaces each mask of the batch by its filled bounding box (Mask2BBox), grown by a margin. "
                "Use it on a predicted garment mask to get the try-off target region. An empty mask stays empty."
            ),
            inputs=[
                io.Mask.Input("mask", tooltip="Mask or batch of masks; values >= 0.5 count as inside."),
                io.Int.Input(
                    "margin", default=0, min=0, max=8192, step=1,
                    tooltip="Pixels added to every side of the box (after margin_fraction); clipped to the image.",
                ),
                io.Float.Input(
                    "margin_fraction", default=0.0, min=0.0, max=4.0, step=0.01,
                    tooltip="Added to every side as a fraction of the box's own height and width (0.1 = 10 %).",
                ),
            ],
            outputs=[io.Mask.Output("bbox_mask", display_name="bbox_mask", tooltip="The filled boxes, 1 inside.")],
        )

    @classmethod
    def execute(cls, mask, margin: int = 0, margin_fraction: float = 0.0) -> io.NodeOutput:
        """Compute the boxes."""
        masks = mask_to_tensor(mask)  # (B, 1, H, W)
        boxes = grown_bbox(masks, int(margin), float(margin_fraction))  # (B, 1, H, W)
        return io.NodeOutput(tensor_to_mask(boxes))  # (B, H, W)


class TWGTMBodyRegionMask(io.ComfyNode):
    """A rough try-on mask without a segmenter: the body-region box where a garment category is worn."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMBodyRegionMask",
            display_name="TWGTM Body Region Mask",
            category=f"{CATEGORY}/masks",
            description=(
                "A filled box over the body region of a garment category (upper: chest and arms, lower: hips to "
                "ankles, dress: both) for a standing, centred person: a quick try-on mask when you have no "
                "segmentation. Draw or segment a real mask for best results."
            ),
            inputs=[
                io.Image.Input("image", tooltip="The person image(s); the mask gets their size and batch."),
                io.Combo.Input("category", options=GARMENT_CATEGORIES, default="upper",
                               tooltip="Garment category whose body region is boxed."),
            ],
            outputs=[io.Mask.Output("mask", display_name="mask", tooltip="The box, 1 inside, one per image.")],
        )

    @classmethod
    def execute(cls, image, category: str = "upper") -> io.NodeOutput:
        """One box per image of the batch."""
        pixels = image_to_pixels(image)  # (B,3,H,W)
        box = category_box(category, tuple(pixels.shape[-2:]), batch=pixels.shape[0])  # (B,1,H,W)
        return io.NodeOutput(tensor_to_mask(box))


MASK_NODES = [TWGTMMaskToBBox, TWGTMBodyRegionMask]
