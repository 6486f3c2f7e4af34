"""Weights: TWGTM checkpoints, base parts in their public formats, and their shipped configs."""
