"""Complex steerable pyramid (Portilla & Simoncelli), built in the Fourier domain.

The image spectrum is split into a high-pass residual, ``levels`` octave band-pass levels of
``orientations`` complex (analytic) oriented sub-bands each, and a low-pass residual. Radial
masks are square roots of raised cosines one octave wide in log2 radius (Nyquist = 1), so that
high² + low² = 1 at every split; level k (k = 0, 1, ...) is centred at log2 radius -1.5 - k and
is sampled at 1/2^k of the input size. Angular masks are cos^(K-1) lobes on one half-plane, which
makes each sub-band's impulse response complex: a small translation rotates its phase and leaves
its magnitude nearly unchanged, the property CW-SSIM is built on.
"""
from __future__ import annotations

import math

import torch

from ..errors import ConfigError, InputError


def _raised_cosine_pair(log_rad: torch.Tensor, position: float) -> tuple[torch.Tensor, torch.Tensor]:
    """High-pass and low-pass masks that cross over between log2 radius ``position - 1`` and ``position``."""
    phase = (math.pi / 2) * (position - log_rad).clamp(0.0, 1.0)
    return torch.cos(phase), torch.sin(phase)  # high² + low² = 1


def _polar_grid(height: int, width: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """log2 radius and angle of the centred (fftshift-ed) frequency grid, Nyquist at radius 1."""
    ys = (torch.arange(height, device=device, dtype=dtype) - height // 2) / (height / 2)
    xs = (torch.arange(width, device=device, dtype=dtype) - width // 2) / (width / 2)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    radius = torch.sqrt(grid_x**2 + grid_y**2)
    radius[height // 2, width // 2] = radius[height // 2, max(width // 2 - 1, 0)]  # avoid log2(0) at DC
    return torch.log2(radius), torch.atan2(grid_y, grid_x)


def _crop_centre(spectrum: torch.Tensor) -> torch.Tensor:
    """Keep the central half (per side) of a centred spectrum: the next, half-size level."""
    height, width = spectrum.shape[-2:]
    new_h, new_w = (height + 1) // 2, (width + 1) // 2
    top, left = height // 2 - new_h // 2, width // 2 - new_w // 2
    return spectrum[..., top:top + new_h, left:left + new_w]


class ComplexSteerablePyramid:
    """Complex steerable pyramid with ``levels`` band-pass levels of ``orientations`` sub-bands."""

    def __init__(self, levels: int = 4, orientations: int = 8):
        if levels < 1 or orientations < 1:
            raise ConfigError(f"the steerable pyramid needs levels >= 1 and orientations >= 1, got {levels} and {orientations}")
        self.levels = levels
        self.orientations = orientations
        order = orientations - 1
        # Normalisation of the cos^order angular lobes (sum of squares over orientations = 1).
        self._angle_gain = (2.0**order) * math.factorial(order) / math.sqrt(orientations * math.factorial(2 * order))

    def _angle_masks(self, angle: torch.Tensor) -> torch.Tensor:
        """Analytic angular masks (K, H, W): one half-plane cos^(K-1) lobe per orientation."""
        order = self.orientations - 1
        masks = []
        for index in range(self.orientations):
            offset = torch.remainder(math.pi + angle - math.pi * index / self.orientations, 2 * math.pi) - math.pi
            lobe = torch.cos(offset) ** order * (offset.abs() < math.pi / 2)
            masks.append(2.0 * self._angle_gain * lobe)
        return torch.stack(masks)  # (K, H, W)

    def build(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Decompose B×1×H×W real images; returns one complex B×K×h_k×w_k tensor per band-pass level."""
        if images.dim() != 4 or images.shape[1] != 1:
            raise InputError(f"the steerable pyramid decomposes B×1×H×W grey images, got {tuple(images.shape)}; "
                             "take the luma of RGB images first (twgtm.metrics.images.luma)")
        real_dtype = torch.float64 if images.dtype == torch.float64 else torch.float32
        images = images.to(real_dtype)
        height, width = images.shape[-2:]
        log_rad, angle = _polar_grid(height, width, images.device, real_dtype)
        spectrum = torch.fft.fftshift(torch.fft.fft2(images), dim=(-2, -1))  # (B, 1, H, W) complex, centred

        _, low0 = _raised_cosine_pair(log_rad, -0.5)
        low = spectrum * low0  # the high-pass residual (spectrum * high0) is not needed here
        phase_factor = (-1j) ** (self.orientations - 1)
        levels = []
        for level in range(self.levels):
            high_mask, low_mask = _raised_cosine_pair(log_rad, -1.5 - level)
            oriented = low * (high_mask * self._angle_masks(angle)) * phase_factor  # (B, K, h, w)
            levels.append(torch.fft.ifft2(torch.fft.ifftshift(oriented, dim=(-2, -1))))
            low = _crop_centre(low * low_mask)
            log_rad, angle = _crop_centre(log_rad), _crop_centre(angle)
        return levels
