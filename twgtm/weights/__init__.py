"""Weights: `load_model` (every entry point's loader), TWGTM checkpoints, base parts in their public formats,
and their shipped configs."""
from .loader import load_model

__all__ = ["load_model"]
