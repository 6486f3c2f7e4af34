"""DISTS (Ding et al., TPAMI 2020): deep image structure and texture similarity, our implementation.

Backbone: torchvision's ImageNet VGG16 (``vgg16.safetensors``, keys ``features.N.*``) with each
max-pool replaced by an L2 pool (square, 3×3 Hann-window blur, stride 2, square root). On the
input and the five stages, per channel, texture similarity compares means and structure
similarity compares (co)variances; the published ``alpha``/``beta`` weights
(``dists_alpha_beta.safetensors``, 1475 channels each) mix them. Following the official code,
images whose shorter side exceeds 256 px are first resized to 256 on that side.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .images import check_pair, resize_short_side, to_unit_range
from .lpips import tapped_forward

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_STAGE_CHANNELS = (3, 64, 128, 256, 512, 512)
_C1 = _C2 = 1e-6
DISTS_RESIZE = 256


class L2Pool(nn.Module):
    """L2 pooling: sqrt of a Hann-blurred square, stride 2, as in DISTS."""

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([0.5, 1.0, 0.5])  # hann(5) without its zero ends
        kernel = taps[:, None] * taps[None, :]
        self.register_buffer("kernel", (kernel / kernel.sum()).expand(channels, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool by 2 in the L2 sense."""
        out = F.conv2d(x**2, self.kernel.to(x.dtype), stride=2, padding=1, groups=x.shape[1])
        return (out + 1e-12).sqrt()


def dists_vgg16_features() -> tuple[nn.Sequential, tuple[int, ...]]:
    """VGG16 trunk with torchvision's ``features.N`` indices (pools -> L2Pool) and its five stage taps."""
    layout = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
    layers: list[nn.Module] = []
    in_channels = 3
    for item in layout:
        if item == "M":
            layers.append(L2Pool(in_channels))
        else:
            layers += [nn.Conv2d(in_channels, item, 3, padding=1), nn.ReLU(inplace=False)]
            in_channels = item
    return nn.Sequential(*layers), (3, 8, 15, 22, 29)


class DISTSNet(nn.Module):
    """DISTS network; ``forward(pred, target)`` gives (B,) distances, 0 for identical images."""

    def __init__(self, *, resize_to: int | None = DISTS_RESIZE, device=None, dtype=None):
        super().__init__()
        self.features, self.taps = dists_vgg16_features()
        total = sum(_STAGE_CHANNELS)
        self.alpha = nn.Parameter(torch.full((1, total, 1, 1), 0.1))
        self.beta = nn.Parameter(torch.full((1, total, 1, 1), 0.1))
        self.resize_to = resize_to
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False).eval().to(device=device, dtype=dtype)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """DISTS distance (B,) between two B×3×H×W batches in [-1, 1]."""
        pred, target = check_pair(pred, target)
        dtype = self.alpha.dtype
        batch = to_unit_range(torch.cat([pred, target])).to(dtype)  # (2B, 3, H, W)
        if self.resize_to:
            batch = resize_short_side(batch, self.resize_to)
        normalized = (batch - self.mean.to(dtype)) / self.std.to(dtype)
        stages = [batch] + tapped_forward(self.features, self.taps, normalized)  # stage 0: the [0, 1] image

        weight_sum = self.alpha.float().sum() + self.beta.float().sum()
        alphas = torch.split(self.alpha.float() / weight_sum, _STAGE_CHANNELS, dim=1)
        betas = torch.split(self.beta.float() / weight_sum, _STAGE_CHANNELS, dim=1)
        texture = structure = 0.0
        for stage, alpha, beta in zip(stages, alphas, betas):
            feats_pred, feats_target = stage.float().chunk(2)  # (B, C, h, w) each
            mean_p = feats_pred.mean(dim=(2, 3), keepdim=True)
            mean_t = feats_target.mean(dim=(2, 3), keepdim=True)
            texture_sim = (2 * mean_p * mean_t + _C1) / (mean_p**2 + mean_t**2 + _C1)
            var_p = ((feats_pred - mean_p) ** 2).mean(dim=(2, 3), keepdim=True)
            var_t = ((feats_target - mean_t) ** 2).mean(dim=(2, 3), keepdim=True)
            cov = (feats_pred * feats_target).mean(dim=(2, 3), keepdim=True) - mean_p * mean_t
            structure_sim = (2 * cov + _C2) / (var_p + var_t + _C2)
            texture = texture + (alpha * texture_sim).sum(dim=1)
            structure = structure + (beta * structure_sim).sum(dim=1)
        return (1 - (texture + structure)).flatten()  # (B,)
