"""Distribution distances on feature sets: Fréchet distance (FID, CLIP-FID) and KID.

Both run in float64. The Fréchet distance gets tr(sqrt(Σ1 Σ2)) as the nuclear norm of L1ᵀ L2
(Σi = Li Liᵀ; Li = the centred features / sqrt(N-1) when N <= D), which needs no matrix square
root of a non-symmetric matrix and stays exact for the rank-deficient covariances of small sets. KID is the unbiased MMD² with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged
over random subsets (Bińkowski et al. 2018, as in torch-fidelity and torchmetrics).
"""
from __future__ import annotations

import torch

from ..errors import InputError


def _as_features(features: torch.Tensor, name: str) -> torch.Tensor:
    """Check an N×D feature matrix (N >= 2) and return it in float64."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise InputError(f"{name}: expected an N×D feature matrix with N >= 2 images, got {tuple(features.shape)}.")
    return features.detach().to(torch.float64)


def mean_and_covariance(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of N×D features, float64."""
    mean, factor = _mean_and_factor(features)
    return mean, factor @ factor.T


def _mean_and_factor(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and a factor L (D×N) with L·Lᵀ = the unbiased covariance."""
    features = _as_features(features, "features")
    mean = features.mean(dim=0)
    return mean, (features - mean).T / (features.shape[0] - 1) ** 0.5  # (D, N)


def _psd_factor(cov: torch.Tensor) -> torch.Tensor:
    """A factor L (D×D) with L·Lᵀ = cov for a symmetric PSD matrix (negative round-off eigenvalues -> 0)."""
    eigenvalues, eigenvectors = torch.linalg.eigh((cov + cov.T) / 2)
    return eigenvectors * eigenvalues.clamp(min=0).sqrt()


def _frechet_from_factors(mean1, factor1, mean2, factor2) -> float:
    """||μ1-μ2||² + tr Σ1 + tr Σ2 - 2 tr sqrt(Σ1 Σ2) with Σi = Li·Liᵀ.

    The eigenvalues of Σ1 Σ2 = L1 L1ᵀ L2 L2ᵀ are those of (L1ᵀ L2)(L1ᵀ L2)ᵀ, so
    tr sqrt(Σ1 Σ2) is the sum of the singular values of L1ᵀ L2 (no matrix square root needed).
    """
    trace_sqrt = torch.linalg.svdvals(factor1.T @ factor2).sum()
    distance = ((mean1 - mean2).square().sum() + factor1.square().sum() + factor2.square().sum()
                - 2 * trace_sqrt)
    return float(distance.clamp(min=0))


def frechet_distance_from_stats(mean1, cov1, mean2, cov2) -> float:
    """Fréchet distance ||μ1-μ2||² + tr(Σ1 + Σ2 - 2 sqrt(Σ1 Σ2)) between two Gaussians."""
    mean1, cov1, mean2, cov2 = (t.to(torch.float64) for t in (mean1, cov1, mean2, cov2))
    return _frechet_from_factors(mean1, _psd_factor(cov1), mean2, _psd_factor(cov2))


def frechet_distance(features1: torch.Tensor, features2: torch.Tensor) -> float:
    """Fréchet distance between two N×D feature sets (FID when the features are Inception pool3)."""
    mean1, factor1 = _mean_and_factor(features1)
    mean2, factor2 = _mean_and_factor(features2)
    if factor1.shape[1] > factor1.shape[0]:  # N > D: a square factor is smaller
        factor1 = _psd_factor(factor1 @ factor1.T)
    if factor2.shape[1] > factor2.shape[0]:
        factor2 = _psd_factor(factor2 @ factor2.T)
    return _frechet_from_factors(mean1, factor1, mean2, factor2)


def _polynomial_mmd(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD² of two m×D samples under k(a, b) = (a·b / D + 1)³."""
    dim, m = x.shape[1], x.shape[0]
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    off_diagonal = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return off_diagonal - 2 * k_xy.mean()


def kernel_inception_distance(
    features1: torch.Tensor,
    features2: torch.Tensor,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID mean and std over ``subsets`` random subsets of min(subset_size, N) features each."""
    x, y = _as_features(features1, "features1"), _as_features(features2, "features2")
    size = min(subset_size, x.shape[0], y.shape[0])
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        index_x = torch.randperm(x.shape[0], generator=generator)[:size]
        index_y = torch.randperm(y.shape[0], generator=generator)[:size]
        values.append(_polynomial_mmd(x[index_x.to(x.device)], y[index_y.to(y.device)]))
    values = torch.stack(values)
    return float(values.mean()), float(values.std(unbiased=False)) if len(values) > 1 else 0.0
