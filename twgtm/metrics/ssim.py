"""SSIM and MS-SSIM (torchmetrics' implementations), per image, on [0, 1] RGB.

Both use the standard settings of Wang et al.: an 11×11 Gaussian window with σ = 1.5,
K1 = 0.01, K2 = 0.03, data range 1 after mapping the [-1, 1] inputs to [0, 1]; the score of an
RGB image is the mean over its three channels and all pixels, the border handled by reflect
padding (torchmetrics' convention; scikit-image instead crops a 5-pixel border, which can differ
by ~0.003). MS-SSIM uses five scales (2×2 average pooling between scales) with the published
weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) and the channel-mean at each scale, so both
image sides must be at least 176 pixels.
"""
from __future__ import annotations

import torch
from torchmetrics.functional.image import (
    multiscale_structural_similarity_index_measure,
    structural_similarity_index_measure,
)

from ..errors import InputError
from .images import check_pair, to_unit_range

KERNEL_SIZE = 11
SIGMA = 1.5
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_MIN_SIDE = (KERNEL_SIZE - 1) * 16 + 16  # torchmetrics needs side // 16 > kernel - 1


@torch.no_grad()
def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (B,) of two B×3×H×W batches in [-1, 1]; 1 means identical."""
    pred, target = check_pair(pred, target)
    if min(pred.shape[-2:]) < KERNEL_SIZE:
        raise InputError(f"ssim: images of {tuple(pred.shape[-2:])} are smaller than the {KERNEL_SIZE}-pixel window.")
    return structural_similarity_index_measure(
        to_unit_range(pred).float(), to_unit_range(target).float(),
        gaussian_kernel=True, sigma=SIGMA, kernel_size=KERNEL_SIZE, data_range=1.0, reduction="none",
    )


@torch.no_grad()
def ssim_map(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The per-pixel SSIM map (B,1,H,W) of two B×3×H×W batches in [-1, 1], the mean over RGB; its
    mean over all pixels is `ssim`."""
    pred, target = check_pair(pred, target)
    if min(pred.shape[-2:]) < KERNEL_SIZE:
        raise InputError(f"ssim_map: images of {tuple(pred.shape[-2:])} are smaller than the {KERNEL_SIZE}-pixel window.")
    _, full = structural_similarity_index_measure(
        to_unit_range(pred).float(), to_unit_range(target).float(),
        gaussian_kernel=True, sigma=SIGMA, kernel_size=KERNEL_SIZE, data_range=1.0, reduction="none",
        return_full_image=True,
    )  # (B,3,H,W)
    return full.mean(dim=1, keepdim=True)  # (B,1,H,W)


@torch.no_grad()
def ms_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image MS-SSIM (B,) of two B×3×H×W batches in [-1, 1] (both sides >= 176 px); 1 means identical."""
    pred, target = check_pair(pred, target)
    if min(pred.shape[-2:]) < MS_SSIM_MIN_SIDE:
        raise InputError(
            f"ms_ssim: images of {tuple(pred.shape[-2:])} are too small for {len(MS_SSIM_BETAS)} scales; "
            f"both sides must be >= {MS_SSIM_MIN_SIDE} pixels (evaluate at the dataset's resolution)."
        )
    return multiscale_structural_similarity_index_measure(
        to_unit_range(pred).float(), to_unit_range(target).float(),
        gaussian_kernel=True, sigma=SIGMA, kernel_size=KERNEL_SIZE, data_range=1.0, reduction="none",
        betas=MS_SSIM_BETAS, normalize="relu",
    )
