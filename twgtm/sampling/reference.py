"""The reference encoders as the sampler runs them: SAM + SRM once per call, through the encoder cache.

Also the SRM's predicted flat-garment probability, sigmoid(TFQ_0), brought from its 1/4 grid to the
working canvas and to the input image's size.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from ..model.network import TWGTM, ReferenceFeatures
from .encoder_cache import EncoderCache
from .letterbox import Letterbox, resize, unletterbox

__all__ = ["ReferenceEncoder", "EncodedReference", "garment_probability_on_canvas"]


def garment_probability_on_canvas(logits: torch.Tensor, plan: Letterbox) -> torch.Tensor:
    """TFQ_0 logits (B,1,h/4,w/4) -> the garment probability on the working canvas (B,1,Hc,Wc), on the CPU."""
    return resize(torch.sigmoid(logits.float()).cpu(), plan.canvas)


def _cpu(x):
    """Tensors (and lists of tensors) moved to the CPU; anything else unchanged."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, list):
        return [_cpu(v) for v in x]
    return x


@dataclass
class EncodedReference:
    """SAM/SRM features of a batch of reference images, computed at the working size, and where they sit."""

    features: ReferenceFeatures  # F_SAM (B,1+N,D), F_SRM, TFQ_0 logits (B,1,h/4,w/4) of the letterboxed image
    plan: Letterbox  # where the image sits in the working canvas
    prompts: list[str]

    @property
    def garment_probability(self) -> torch.Tensor | None:
        """sigmoid(TFQ_0) at the input image's size (B,1,H,W), or None for models without an SRM."""
        logits = self.features.garment_mask_logits
        if logits is None:
            return None
        return unletterbox(garment_probability_on_canvas(logits, self.plan), self.plan)  # (B,1,H,W)

    def cpu(self) -> "EncodedReference":
        """The same features with every tensor on the CPU (to keep them between runs off the GPU)."""
        moved = ReferenceFeatures(*(_cpu(getattr(self.features, f.name)) for f in fields(ReferenceFeatures)))
        return EncodedReference(moved, self.plan, list(self.prompts))


class ReferenceEncoder:
    """SAM + SRM on the reference half, or null tokens for profiles without reference encoders."""

    def __init__(self, model: TWGTM, cache: EncoderCache):
        self.model = model
        self.cache = cache
        self.enabled = bool(model.config.extra.get("reference_encoders", True))

    def __call__(self, image: torch.Tensor, prompts: list[str], mode: str = "", use_cache: bool = True) -> ReferenceFeatures:
        """Features of `image` (B,3,H,W) with `prompts`; with `use_cache`, a repeat of (image, prompts, mode) on
        unchanged weights returns the stored features."""
        model = self.model
        first = next(model.parameters())
        device, dtype = first.device, first.dtype
        b = image.shape[0]
        if not self.enabled:
            config = model.config
            tokens = torch.zeros(b, 1 + config.num_query_tokens, config.cross_attention_dim, device=device, dtype=dtype)
            return ReferenceFeatures(tokens, None, None, [])
        key = None
        if use_cache:
            with_srm = model.extended_attention_enabled and len(model.extended_attention) > 0
            key = self.cache.key(model, image, prompts, mode, with_srm)
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        ids, attn = model.tokenize(prompts, device=device)  # (B,L) each
        with torch.no_grad():
            feats = model.encode_reference(image.to(device, dtype), ids, attn)
        if key is not None:
            self.cache.put(key, feats)
        return feats
