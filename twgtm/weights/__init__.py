"""Weights: `load_network` (a TWGTM network from a checkpoint or a preset), TWGTM checkpoints, base parts in their
public formats, and their shipped configs. `twgtm.load_model` builds every family's pipeline on these readers."""
from .loader import load_network

__all__ = ["load_network"]
