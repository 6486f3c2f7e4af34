"""What every pipeline verb returns: `images` (B,3,H,W) in [-1, 1] and `to_pil()`, plus what each task adds.

The try-on, try-off and round-trip results of every family are here (a CatVTON / TryOffAnyone call
adds its working-size output, `twgtm.families.results`; Any2AnyTryon its canvas and tokens,
`twgtm.families.a2a.pipeline.A2AResult`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ImageResult", "TryOnResult", "TryOffResult", "RoundTripResult"]


class ImageResult:
    """The part every result shares: `images` (B,3,H,W) in [-1, 1] and their Pillow form."""

    images: torch.Tensor

    def to_pil(self) -> list:
        """The result's images as RGB Pillow images, one per batch item.

        Returns:
            list[PIL.Image.Image]: item i of `images`, 8 bits per channel.
        """
        from .pixels import pixels_to_pil

        return [pixels_to_pil(image) for image in self.images]


@dataclass
class TryOnResult(ImageResult):
    """Dressed persons and the try-on masks used."""

    images: torch.Tensor  # (B,3,H,W) in [-1,1], the person's size
    masks: torch.Tensor  # (B,1,H,W) 1 = generated region


@dataclass
class TryOffResult(ImageResult):
    """Flat garments, the target-half masks used and the SRM-predicted garment mask."""

    images: torch.Tensor  # (B,3,H,W) in [-1,1], the person's size
    masks: torch.Tensor  # (B,1,H,W) the mask the garment was generated in (full, bbox or given)
    garment_masks: torch.Tensor | None  # (B,1,H,W) sigmoid(TFQ_0), None for models without an SRM


@dataclass
class RoundTripResult(ImageResult):
    """A's garment taken off (`garments`) and B dressed in it (`dressed`); `images` are the dressed persons."""

    garments: ImageResult  # a TryOffResult (an A2AResult for Any2AnyTryon)
    dressed: ImageResult  # a TryOnResult (an A2AResult for Any2AnyTryon)

    @property
    def images(self) -> torch.Tensor:
        """The dressed persons (B,3,H,W)."""
        return self.dressed.images
