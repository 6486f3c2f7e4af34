"""Mask helper nodes: Mask2BBox."""
from __future__ import annotations

from comfy_api.latest import io

from ..twgtm.masks import mask_to_bbox
from .convert import mask_to_tensor, tensor_to_mask

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
        boxes = mask_to_bbox(masks, float(margin_fraction))
        if margin:
            boxes = mask_to_bbox(boxes, int(margin))
        return io.NodeOutput(tensor_to_mask(boxes))  # (B, H, W)


MASK_NODES = [TWGTMMaskToBBox]
