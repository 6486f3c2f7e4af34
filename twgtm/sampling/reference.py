"""The reference encoders as the sampler runs them: SAM + SRM once per call, through the encoder cache.

Also the SRM's predicted flat-garment probability, sigmoid(TFQ_0), brought from its 1/4 grid to the
working canvas and to the input image's size.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch

from ..errors import InputError
from ..model.network import TWGTM, ReferenceFeatures
from .encoder_cache import EncoderCache, tensor_digest
from .letterbox import Letterbox, resize_bilinear, unletterbox
from .placement import Placement

__all__ = ["ReferenceEncoder", "EncodedReference", "garment_probability_on_canvas", "features_to", "select_features",
           "item_digests"]


def garment_probability_on_canvas(logits: torch.Tensor, plan: Letterbox) -> torch.Tensor:
    """TFQ_0 logits (B,1,h/4,w/4) -> the garment probability on the working canvas (B,1,Hc,Wc), on the CPU."""
    return resize_bilinear(torch.sigmoid(logits.float()).cpu(), plan.canvas)


def _moved(x, device, dtype=None):
    """Tensors (and lists of tensors) moved to `device` (floating ones cast to `dtype` when given)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(device, dtype if dtype is not None and x.is_floating_point() else x.dtype)
    if isinstance(x, list):
        return [_moved(v, device, dtype) for v in x]
    return x


def _cpu(x):
    """Tensors (and lists of tensors) moved to the CPU; anything else unchanged."""
    return _moved(x, "cpu")


def features_to(feats: ReferenceFeatures, device, dtype=None) -> ReferenceFeatures:
    """The same features on `device` (floating tensors in `dtype` when given); unchanged when already there."""
    return ReferenceFeatures(*(_moved(getattr(feats, f.name), device, dtype) for f in fields(ReferenceFeatures)))


def select_features(feats: ReferenceFeatures, items) -> ReferenceFeatures:
    """The features of some items of the batch (a slice or a list of indices)."""
    def pick(x):
        if isinstance(x, torch.Tensor):
            return x[items]
        if isinstance(x, list):
            return [pick(v) for v in x]
        return x
    return ReferenceFeatures(*(pick(getattr(feats, f.name)) for f in fields(ReferenceFeatures)))


def item_digests(image: torch.Tensor) -> list[str]:
    """A content hash of each item of a batch (B,3,H,W)."""
    return [tensor_digest(image[i:i + 1]) for i in range(image.shape[0])]


@dataclass
class EncodedReference:
    """SAM/SRM features of a batch of reference images, computed at the working size, and where they sit."""

    features: ReferenceFeatures  # F_SAM (B,1+N,D), F_SRM, TFQ_0 logits (B,1,h/4,w/4) of the letterboxed image
    plan: Letterbox  # where the image sits in the working canvas
    prompts: list[str]
    digests: list[str] = field(default_factory=list)  # content hash of each letterboxed image (item_digests)

    @property
    def garment_probability(self) -> torch.Tensor | None:
        """sigmoid(TFQ_0) at the input image's size (B,1,H,W), or None for models without an SRM."""
        logits = self.features.garment_mask_logits
        if logits is None:
            return None
        return unletterbox(garment_probability_on_canvas(logits, self.plan), self.plan)  # (B,1,H,W)

    def cpu(self) -> "EncodedReference":
        """The same features with every tensor on the CPU (to keep them between runs off the GPU)."""
        return EncodedReference(features_to(self.features, "cpu"), self.plan, list(self.prompts), list(self.digests))

    def for_images(self, image: torch.Tensor, prompts: list[str], items: slice, what: str) -> ReferenceFeatures:
        """The features of `items` when they were computed on exactly `image` (B,3,Hc,Wc) with `prompts`, else InputError.

        `what` names the reference half in the error (the garment for try-on, the person for try-off).
        """
        digests, prompts = self.digests[items], list(prompts)
        if len(digests) != image.shape[0]:
            raise InputError(f"the reference holds {len(self.digests)} image(s) but this job has {image.shape[0]} "
                             f"{what} image(s) here; encode the same batch with 'TWGTM SAM Encode'")
        if list(self.prompts[items]) != prompts:
            raise InputError(f"the reference was encoded with the prompt(s) {self.prompts[items]} but this job uses "
                             f"{prompts}; set the same category / prompt on 'TWGTM SAM Encode' and the job")
        if digests != item_digests(image):
            raise InputError(f"the reference was encoded from another image than this job's {what} at the working size "
                             f"{tuple(image.shape[-2:])}; connect the same {what} image to 'TWGTM SAM Encode', with the "
                             "same working resolution")
        return select_features(self.features, items)


class ReferenceEncoder:
    """SAM + SRM on the reference half, or null tokens for profiles without reference encoders.

    Its parts are placed by `placement` (moved to the compute device only when they run); cached
    features are kept on `cache.store_device` when that is set (off the GPU, outside its memory).
    """

    def __init__(self, model: TWGTM, cache: EncoderCache, placement: Placement | None = None):
        self.model = model
        self.cache = cache
        self.placement = placement or Placement(model)
        self.enabled = model.config.inference.reference_encoders

    def __call__(self, image: torch.Tensor, prompts: list[str], mode: str = "", use_cache: bool = True) -> ReferenceFeatures:
        """Features of `image` (B,3,H,W) with `prompts`; with `use_cache`, a repeat of (image, prompts, mode) on
        unchanged weights returns the stored features."""
        model = self.model
        device, dtype = self.placement.device, next(model.parameters()).dtype
        b = image.shape[0]
        if not self.enabled:
            config = model.config
            tokens = torch.zeros(b, 1 + config.num_query_tokens, config.cross_attention_dim, device=device, dtype=dtype)
            return ReferenceFeatures(tokens, None, None, [])
        key = None
        if use_cache:
            with_srm = model.extended_attention_enabled and len(model.extended_attention) > 0
            key = self.cache.key(model, image, prompts, mode, with_srm, device=device)
            hit = self.cache.get(key)
            if hit is not None:
                return features_to(hit, device)
        self.placement.use("encoders")
        ids, attn = model.tokenize(prompts, device=device)  # (B,L) each
        with torch.no_grad():
            feats = model.encode_reference(image.to(device, dtype), ids, attn)
        if key is not None:
            store = self.cache.store_device
            self.cache.put(key, feats if store is None else features_to(feats, store))
        return feats
