"""Feature extractors from local transformers folders: DINO (similarity) and CLIP (CLIP-FID).

Folders hold a ``config.json`` and ``model.safetensors`` as written by ``save_pretrained``
(``preprocessor_config.json`` is read for the input size and normalisation when present).
Loading is offline and safetensors-only. DINO similarity is the cosine similarity of the two
images' CLS embeddings (the pooled output: the final layer-normed CLS token); CLIP-FID is the
Fréchet distance of CLIP image embeddings (``image_embeds``, as clean-fid's CLIP-FID).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, MetricUnavailable
from .images import check_images, resize_images, to_unit_range

logger = logging.getLogger("twgtm")

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def _preprocessing(folder: Path, default_size: int, mean, std) -> tuple[tuple[int, int], tuple, tuple]:
    """Input size and normalisation from ``preprocessor_config.json`` (crop size), else the defaults."""
    path = folder / "preprocessor_config.json"
    size = (default_size, default_size)
    if path.is_file():
        config = json.loads(path.read_text())
        crop = config.get("crop_size") or config.get("size") or {}
        if isinstance(crop, dict) and "height" in crop and "width" in crop:
            size = (int(crop["height"]), int(crop["width"]))
        elif isinstance(crop, dict) and "shortest_edge" in crop:
            size = (int(crop["shortest_edge"]),) * 2
        elif isinstance(crop, int):
            size = (crop, crop)
        mean, std = config.get("image_mean", mean), config.get("image_std", std)
    return size, tuple(mean), tuple(std)


def _check_folder(folder: str | Path | None, metric: str) -> Path:
    """The model folder, or MetricUnavailable when it or its safetensors weights are absent."""
    if folder is None:
        raise MetricUnavailable(f"{metric}: no weights folder given; it needs a transformers model folder (pass --weights-dir).")
    if not Path(folder).is_dir():
        raise MetricUnavailable(f"{metric}: model folder '{folder}' not found; save a transformers model there.")
    folder = Path(folder)
    if not list(folder.glob("*.safetensors")):
        raise MetricUnavailable(
            f"{metric}: '{folder}' has no .safetensors weights; re-save the model with "
            "save_pretrained(..., safe_serialization=True)."
        )
    return folder


class HFImageEncoder(nn.Module):
    """Resize + normalise + a transformers vision model; ``forward`` maps [-1, 1] images to B×D embeddings."""

    def __init__(self, model: nn.Module, size: tuple[int, int], mean, std, output: str, interpolation: str):
        super().__init__()
        self.model, self.size, self.output, self.interpolation = model, size, output, interpolation
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embeddings (B, D) in float32."""
        images = check_images(images)
        dtype = next(self.model.parameters()).dtype
        x = resize_images(to_unit_range(images).float(), self.size, mode=self.interpolation, antialias=True)
        x = ((x.clamp(0, 1) - self.mean) / self.std).to(dtype)  # (B, 3, h, w)
        out = self.model(pixel_values=x)
        if self.output == "image_embeds":
            return out.image_embeds.float()
        pooled = getattr(out, "pooler_output", None)
        return (pooled if pooled is not None else out.last_hidden_state[:, 0]).float()


def load_dino(folder: str | Path | None, *, device=None, dtype=None) -> HFImageEncoder:
    """DINO/DINOv2 ViT from a local folder, giving CLS embeddings."""
    from transformers import AutoModel

    folder = _check_folder(folder, "dino")
    try:
        model = AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"dino: cannot load a transformers model from '{folder}' ({exc}).") from exc
    size, mean, std = _preprocessing(folder, 224, IMAGENET_MEAN, IMAGENET_STD)
    logger.info("dino: %s from %s at %s", model.config.model_type, folder, size)
    encoder = HFImageEncoder(model, size, mean, std, output="cls", interpolation="bicubic")
    return encoder.requires_grad_(False).eval().to(device=device, dtype=dtype)


def load_clip_vision(folder: str | Path | None, *, device=None, dtype=None) -> HFImageEncoder:
    """CLIP vision tower with projection from a local folder (a CLIPModel or CLIPVisionModelWithProjection)."""
    from transformers import CLIPVisionModelWithProjection

    folder = _check_folder(folder, "clip_fid")
    try:
        model = CLIPVisionModelWithProjection.from_pretrained(folder, local_files_only=True, use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"clip_fid: cannot load a CLIP vision model from '{folder}' ({exc}).") from exc
    size, mean, std = _preprocessing(folder, model.config.image_size, CLIP_MEAN, CLIP_STD)
    encoder = HFImageEncoder(model, size, mean, std, output="image_embeds", interpolation="bicubic")
    return encoder.requires_grad_(False).eval().to(device=device, dtype=dtype)


def cosine_similarity(embeddings1: torch.Tensor, embeddings2: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity (B,) of two B×D embedding matrices."""
    return F.cosine_similarity(embeddings1.float(), embeddings2.float(), dim=1)
