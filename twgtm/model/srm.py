"""SRM, the Spatial Refinement Module: Swin features + TaskFormer + a decoder to F_SRM tokens."""
from __future__ import annotations

from dataclasses import dataclass

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from .taskformer import TaskFormer, sine_position_2d

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class SRMOutput:
    """F_SRM tokens (None when not asked for) and the predicted flat-garment mask logits."""

    tokens: torch.Tensor | None  # F_SRM (B, K + h3*w3, srm_dim)
    garment_mask_logits: torch.Tensor  # TFQ_0 (B,1,h1,w1), last unit
    unit_mask_logits: list  # every unit's TFQ_0, for deep supervision


class SwinFeatures(nn.Module):
    """timm Swin (features_only) -> H1, H2, H3 at 1/4, 1/8, 1/16 as (B,C,h,w)."""

    def __init__(self, *, name: str, image_size: tuple, **overrides):
        super().__init__()
        self.net = timm.create_model(
            name, pretrained=False, features_only=True, out_indices=(0, 1, 2), img_size=tuple(image_size), **overrides
        )
        self.channels = self.net.feature_info.channels()
        self.image_size = tuple(image_size)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B,3,H,W) in [-1,1] -> [H1, H2, H3], each (B,C_i,h_i,w_i)."""
        x = F.interpolate(image, size=self.image_size, mode="bilinear", align_corners=False)
        x = ((x + 1.0) / 2.0 - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return [f.permute(0, 3, 1, 2) for f in self.net(x)]  # timm Swin gives NHWC


class SRMDecoder(nn.Module):
    """TaskFormer outputs -> F_SRM: the queries plus 1/16 tokens modulated by the task maps."""

    def __init__(self, *, hidden_dim: int, num_task_heads: int, srm_dim: int):
        super().__init__()
        self.task_in = nn.Conv2d(num_task_heads, hidden_dim, 1)
        self.norm = nn.LayerNorm(hidden_dim)
        self.out = nn.Linear(hidden_dim, srm_dim)

    def forward(self, queries: torch.Tensor, task_maps: torch.Tensor, h3: torch.Tensor) -> torch.Tensor:
        """queries (B,K,D), task maps (B,T,h1,w1), H3 (B,D,h3,w3) -> (B, K+h3*w3, srm_dim)."""
        maps = F.adaptive_avg_pool2d(task_maps, h3.shape[-2:])  # (B,T,h3,w3)
        spatial = (h3 + self.task_in(maps)).flatten(2).transpose(1, 2)  # (B,h3*w3,D)
        spatial = spatial + sine_position_2d(*h3.shape[-2:], h3.shape[1], device=h3.device, dtype=h3.dtype)[None]
        return self.out(self.norm(torch.cat([queries, spatial], dim=1)))


class SpatialRefinement(nn.Module):
    """Swin → (H1, H2, H3) → TaskFormer(F_QF) → decoder → F_SRM, plus the garment-mask head."""

    def __init__(self, *, swin: dict, image_size: tuple, taskformer: dict, qformer_dim: int,
                 num_qformer_tokens: int, srm_dim: int):
        super().__init__()
        swin = dict(swin)
        self.backbone = SwinFeatures(name=swin.pop("name"), image_size=image_size, **swin)
        d = taskformer["hidden_dim"]
        self.proj = nn.ModuleList(nn.Conv2d(c, d, 1) for c in self.backbone.channels)
        self.taskformer = TaskFormer(**taskformer, qformer_dim=qformer_dim, num_qformer_tokens=num_qformer_tokens)
        self.decoder = SRMDecoder(hidden_dim=d, num_task_heads=taskformer["num_task_heads"], srm_dim=srm_dim)

    def forward(self, image: torch.Tensor, qformer_tokens: torch.Tensor, with_tokens: bool = True) -> SRMOutput:
        """Reference image (B,3,H,W) and F_QF (B,N,Dq) -> SRMOutput; `with_tokens=False` skips the decoder."""
        h1, h2, h3 = (p(f) for p, f in zip(self.proj, self.backbone(image)))  # each (B,D,h,w)
        # H1 carries a fixed position code: the mask heads read it pixel by pixel, and the flat garment's
        # shape (TFQ_0) lies in the garment image's frame, not where the garment sits on the person.
        pos1 = sine_position_2d(*h1.shape[-2:], h1.shape[1], device=h1.device, dtype=h1.dtype)  # (h1*w1,D)
        h1 = h1 + pos1.t().reshape(1, -1, *h1.shape[-2:])
        tf = self.taskformer(qformer_tokens, h1, h2, h3)
        tokens = self.decoder(tf.queries, tf.task_maps, h3) if with_tokens else None
        return SRMOutput(tokens=tokens, garment_mask_logits=tf.garment_mask_logits[-1], unit_mask_logits=tf.garment_mask_logits)
