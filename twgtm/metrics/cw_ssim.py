"""CW-SSIM: complex wavelet structural similarity (Sampat, Wang et al., IEEE TIP 2009).

Computed on the luma (BT.601, 0-255 scale) of each image. Both images are decomposed by a
complex steerable pyramid (default 4 levels × 8 orientations); on the coarsest band-pass level,
for each orientation, the local index over 7×7 windows is
``(2·|Σ c_x·conj(c_y)| + K) / (Σ |c_x|² + Σ |c_y|² + K)``; the map is pooled with a Gaussian of
σ = band height / 4 and the orientations are averaged. These are the settings of the widely used
MATLAB/IQA-PyTorch code (level 4, 8 orientations, K = 0, no guard band), so values are
comparable with the TryOffDiff / TWGTM tables. A tiny constant keeps flat images at 1, not 0/0.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError
from .images import check_pair, luma, to_unit_range
from .steerable_pyramid import ComplexSteerablePyramid

WINDOW = 7
_EPS = 1e-12


def _gaussian_pool_weights(height: int, width: int, sigma: float, device, dtype) -> torch.Tensor:
    """Normalised Gaussian weights (H, W) centred on the map, as MATLAB's fspecial('gaussian')."""
    ys = torch.arange(height, device=device, dtype=dtype) - (height - 1) / 2
    xs = torch.arange(width, device=device, dtype=dtype) - (width - 1) / 2
    weights = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2))
    return weights / weights.sum()


@torch.no_grad()
def cw_ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    levels: int = 4,
    orientations: int = 8,
    k: float = 0.0,
) -> torch.Tensor:
    """Per-image CW-SSIM (B,) of two B×3×H×W batches in [-1, 1]; 1 means identical, shift-tolerant."""
    pred, target = check_pair(pred, target)
    min_side = WINDOW * 2 ** (levels - 1)
    if min(pred.shape[-2:]) < min_side:
        raise InputError(f"cw_ssim: images of {tuple(pred.shape[-2:])} are too small; both sides need >= {min_side} px.")
    pyramid = ComplexSteerablePyramid(levels=levels, orientations=orientations)
    band_x = pyramid.build(luma(to_unit_range(pred)) * 255.0)[-1]  # (B, K, h, w) complex
    band_y = pyramid.build(luma(to_unit_range(target)) * 255.0)[-1]

    cross = band_x * band_y.conj()  # (B, K, h, w)
    cross_local = torch.complex(  # 7×7 window sums, valid positions only: (B, K, h-6, w-6)
        F.avg_pool2d(cross.real, WINDOW, stride=1), F.avg_pool2d(cross.imag, WINDOW, stride=1)
    )
    energy_local = F.avg_pool2d(band_x.abs() ** 2 + band_y.abs() ** 2, WINDOW, stride=1)
    index_map = (2 * cross_local.abs() + k + _EPS) / (energy_local + k + _EPS)

    band_height = band_x.shape[-2]
    weights = _gaussian_pool_weights(*index_map.shape[-2:], sigma=band_height / 4,
                                     device=index_map.device, dtype=index_map.dtype)
    per_orientation = (index_map * weights).sum(dim=(-2, -1))  # (B, K)
    return per_orientation.mean(dim=1).float()
