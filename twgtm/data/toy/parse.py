"""The toy person's parse map: which body part or garment each pixel shows, in VITON-HD's label ids.

The renderer paints the person in layers (hair behind, skin, shoes, garments under the arms, arms,
sleeves, hair in front). `ParseCanvas` follows every paint at the supersampled size: whatever lies
under a layer is covered by (1 - alpha) and the layer's alpha goes to its own label, so at the end
each label holds its *visible* share of every pixel. The written map takes, per output pixel, the
label with the largest share after box-filtering down (`labels`).

Label ids are those of VITON-HD's `image-parse-v3` (CIHP, see `twgtm.data.masks.VITONHD_LABELS`).
Left and right are the person's, who faces the camera: the person's left arm is on the image's
right (pose side +1).
"""
from __future__ import annotations

import numpy as np

from ..masks import VITONHD_LABELS

# The label of each garment template on the person.
GARMENT_LABEL = {
    "tee": VITONHD_LABELS["upper_clothes"], "long_sleeve": VITONHD_LABELS["upper_clothes"],
    "tank": VITONHD_LABELS["upper_clothes"], "dress": VITONHD_LABELS["dress"],
    "skirt": VITONHD_LABELS["skirt"], "trousers": VITONHD_LABELS["pants"],
}
# Body parts drawn per side: pose side -> label (+1 is the image's right, the person's left).
SIDE_LABEL = {
    "arms": {+1: VITONHD_LABELS["left_arm"], -1: VITONHD_LABELS["right_arm"]},
    "legs": {+1: VITONHD_LABELS["left_leg"], -1: VITONHD_LABELS["right_leg"]},
    "shoes": {+1: VITONHD_LABELS["left_shoe"], -1: VITONHD_LABELS["right_shoe"]},
}
SIDE_LABEL["hands"] = SIDE_LABEL["arms"]  # CIHP has no hand label: hands belong to the arms


class ParseCanvas:
    """Soft visibility (H×W float) of every label at the supersampled size, updated paint by paint."""

    def __init__(self, shape: tuple[int, int]):
        self.visible = {VITONHD_LABELS["background"]: np.ones(shape)}

    def cover(self, alpha: np.ndarray, parts: list[tuple[int, np.ndarray]]) -> None:
        """A layer of coverage `alpha` (H×W) is painted; its share of a pixel goes to the label among
        `parts` ([(label, H×W mask)]) whose mask is largest there (a single part's mask may be None)."""
        for share in self.visible.values():
            share *= 1.0 - alpha
        if len(parts) == 1:
            owner = np.zeros(alpha.shape, dtype=np.int64)
        else:
            owner = np.argmax(np.stack([mask for _, mask in parts]), axis=0)  # (H, W) index into parts
        for index, (label, _) in enumerate(parts):
            share = alpha * (owner == index)
            if label in self.visible:
                self.visible[label] += share
            else:
                self.visible[label] = share.astype(np.float64)

    def labels(self, factor: int) -> np.ndarray:
        """The parse map (H/factor × W/factor uint8): per pixel the label with the largest visible share."""
        names = sorted(self.visible)
        height, width = (side // factor for side in next(iter(self.visible.values())).shape)
        shares = np.stack([self.visible[name].reshape(height, factor, width, factor).mean(axis=(1, 3))
                           for name in names])  # (L, h, w)
        return np.asarray(names, dtype=np.uint8)[np.argmax(shares, axis=0)]


def garment_region(parse: np.ndarray, template: str) -> np.ndarray:
    """Where a garment of `template` is visible on the person (H×W bool), from a toy parse map."""
    return np.asarray(parse) == GARMENT_LABEL[template]


def palette() -> list[int]:
    """A 256-colour PNG palette (flat RGB list) that shows each label in its own colour."""
    colours = [(0, 0, 0), (128, 0, 0), (254, 0, 0), (0, 85, 0), (169, 0, 51), (254, 85, 0), (0, 0, 85),
               (0, 119, 220), (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128), (0, 128, 0), (0, 0, 254),
               (51, 169, 220), (0, 254, 254), (85, 254, 169), (169, 254, 85), (254, 254, 0), (254, 169, 0)]
    colours += [(255, 255, 255)] * (256 - len(colours))
    return [value for colour in colours for value in colour]
