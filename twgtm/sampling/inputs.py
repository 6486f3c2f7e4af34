"""Checks of what a caller hands the sampler: person batches, broadcastable tensors, per-item values."""
from __future__ import annotations

import torch

from ..errors import InputError

__all__ = ["check_person", "broadcast", "per_item"]


def check_person(person) -> int:
    """The batch size of a person tensor (B,3,H,W), or a clear error."""
    if not isinstance(person, torch.Tensor) or person.ndim != 4 or person.shape[1] != 3 or person.shape[0] < 1:
        raise InputError(f"person must be a B×3×H×W tensor in [-1,1], got {getattr(person, 'shape', type(person).__name__)}")
    return person.shape[0]


def broadcast(x: torch.Tensor, b: int, name: str, channels: int) -> torch.Tensor:
    """Check (B,C,H,W) and broadcast a batch of 1 to `b`."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{name} must be a B×{channels}×H×W tensor, got {shape}")
    if x.shape[0] == b:
        return x
    if x.shape[0] == 1:
        return x.expand(b, -1, -1, -1)  # (b,C,H,W), a view
    raise InputError(f"{name} has batch {x.shape[0]} but the person batch is {b}; give 1 or {b} items")


def per_item(value, b: int, name: str) -> list:
    """One value for every item, or a list of exactly `b` values."""
    if isinstance(value, (list, tuple)):
        if len(value) != b:
            raise InputError(f"{name} has {len(value)} entries for a batch of {b}; give one or {b}")
        return list(value)
    return [value] * b
