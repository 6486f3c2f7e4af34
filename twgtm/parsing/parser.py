"""A SegFormer clothes parser from a local transformers folder, run as TryOffAnyone runs it.

The folder is what `save_pretrained` writes (or a Hugging Face snapshot such as
sayeed99/segformer_b3_clothes): config.json, model.safetensors and preprocessor_config.json. Parsing
an image: the image processor (resize to its size, ImageNet normalisation), the model's logits
upsampled bilinearly to the image's size, argmax. Nothing is downloaded; pickle weights are refused.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import CheckpointError
from ..vocab import parse_device
from .labels import label_ids

log = logging.getLogger("twgtm")

PARSER_FILES = ("config.json", "model.safetensors")
PARSER_HINT = ("a transformers SegFormer clothes parser folder (config.json, model.safetensors, "
               "preprocessor_config.json), e.g. sayeed99/segformer_b3_clothes")


class ClothesParser:
    """Parses person images into ATR labels: `parse(pixels)` -> (B,H,W) class ids; `labels` names them."""

    def __init__(self, model, processor, source: str):
        self.model = model.eval()
        self.processor = processor
        self.source = source
        self.labels = label_ids(model.config.id2label, source)

    @property
    def device(self) -> torch.device:
        """Where the parser's weights are."""
        return next(self.model.parameters()).device

    def to(self, device) -> "ClothesParser":
        """Move the parser's weights."""
        self.model.to(parse_device(device))
        return self

    @torch.no_grad()
    def parse(self, pixels: torch.Tensor) -> torch.Tensor:
        """Person images (B,3,H,W) in [-1, 1] -> ATR class ids (B,H,W) long, at the images' size."""
        from ..families.preprocess import pil_rgb

        maps = []
        for image in pixels:
            picture = pil_rgb(image)
            inputs = self.processor(images=picture, return_tensors="pt")
            logits = self.model(pixel_values=inputs["pixel_values"].to(self.device, next(self.model.parameters()).dtype)).logits
            logits = F.interpolate(logits.float().cpu(), size=picture.size[::-1], mode="bilinear", align_corners=False)
            maps.append(logits.argmax(dim=1)[0])  # (H,W)
        return torch.stack(maps)  # (B,H,W)


def load_parser(folder: str | os.PathLike, device=None) -> ClothesParser:
    """The SegFormer clothes parser in `folder` (offline); a CheckpointError names what is missing.

    Args:
        folder: a transformers SegFormer folder (config.json, model.safetensors, preprocessor_config.json),
            e.g. sayeed99/segformer_b3_clothes.
        device: where it runs (None: the CPU).

    Returns:
        ClothesParser: parses a person into the 18 ATR labels (for `AutoMask`).
    """
    from transformers import AutoModelForSemanticSegmentation, SegformerImageProcessor

    folder = Path(folder)
    if not folder.is_dir():
        where = "is a file, not a folder" if folder.exists() else "not found"
        raise CheckpointError(f"clothes parser folder {where}: {folder}; give {PARSER_HINT}")
    missing = [name for name in PARSER_FILES if not (folder / name).is_file()]
    if missing:
        pickle = " (pytorch_model.bin is a pickle file: this package loads safetensors only)" \
            if (folder / "pytorch_model.bin").is_file() else ""
        found = sorted(p.name for p in folder.iterdir())[:12]
        raise CheckpointError(f"clothes parser folder {folder} lacks {missing}{pickle}; found {found or 'nothing'}; "
                              f"it must be {PARSER_HINT}")
    try:
        model = AutoModelForSemanticSegmentation.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"the clothes parser in {folder} could not be read ({err}); it must be {PARSER_HINT}") from err
    if (folder / "preprocessor_config.json").is_file():
        processor = SegformerImageProcessor.from_pretrained(str(folder), local_files_only=True)
    else:
        log.warning("%s has no preprocessor_config.json: SegFormer's default processing (512x512, ImageNet mean/std)", folder)
        processor = SegformerImageProcessor()
    parser = ClothesParser(model, processor, f"clothes parser {folder}")
    if device is not None:
        parser.to(device)
    log.info("clothes parser loaded from %s (%d labels)", folder, len(model.config.id2label))
    return parser
