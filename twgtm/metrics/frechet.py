"""Distribution distances on feature sets: Fréchet distance (FID, CLIP-FID) and KID.

Both run in float64. The Fréchet distance uses tr(sqrt(Σ1 Σ2)) = Σ sqrt(eigenvalues of Σ1 Σ2),
which needs no matrix square root and stays finite for the rank-deficient covariances of small
sets. KID is the unbiased MMD² with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged
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
    features = _as_features(features, "features")
    mean = features.mean(dim=0)
    centred = features - mean
    return mean, centred.T @ centred / (features.shape[0] - 1)


def frechet_distance_from_stats(mean1, cov1, mean2, cov2) -> float:
    """Fréchet distance ||μ1-μ2||² + tr(Σ1 + Σ2 - 2 sqrt(Σ1 Σ2)) between two Gaussians."""
    mean1, cov1, mean2, cov2 = (t.to(torch.float64) for t in (mean1, cov1, mean2, cov2))
    eigenvalues = torch.linalg.eigvals(cov1 @ cov2)  # real and >= 0 in exact arithmetic
    trace_sqrt = eigenvalues.real.clamp(min=0).sqrt().sum()
    distance = (mean1 - mean2).square().sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * trace_sqrt
    return float(distance.clamp(min=0))


def frechet_distance(features1: torch.Tensor, features2: torch.Tensor) -> float:
    """Fréchet distance between two N×D feature sets (FID when the features are Inception pool3)."""
    return frechet_distance_from_stats(*mean_and_covariance(features1), *mean_and_covariance(features2))


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
