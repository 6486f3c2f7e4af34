"""FLUX token packing: a latent (B, C, h, w) <-> tokens (B, h/2 * w/2, 4C), 2x2 patches row-major."""
from __future__ import annotations

import torch

from ...errors import InputError


def pack(latent: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) with even h, w -> (B, h/2*w/2, C*4); channel order (c, dy, dx) as FLUX."""
    b, c, h, w = latent.shape
    if h % 2 or w % 2:
        raise InputError(f"pack: latent {h}x{w} must have even sides (images must be multiples of 16 px)")
    x = latent.reshape(b, c, h // 2, 2, w // 2, 2)  # (B, C, h/2, 2, w/2, 2)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, h/2, w/2, C, 2, 2)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)  # (B, N, 4C)


def unpack(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, rows*cols, 4C) -> (B, C, 2*rows, 2*cols); the inverse of `pack`."""
    b, n, c4 = tokens.shape
    rows, cols = grid
    if n != rows * cols or c4 % 4:
        raise InputError(f"unpack: {n} tokens of width {c4} do not form a {rows}x{cols} grid of 2x2 patches")
    x = tokens.reshape(b, rows, cols, c4 // 4, 2, 2)  # (B, rows, cols, C, 2, 2)
    x = x.permute(0, 3, 1, 4, 2, 5)  # (B, C, rows, 2, cols, 2)
    return x.reshape(b, c4 // 4, rows * 2, cols * 2)  # (B, C, h, w)
