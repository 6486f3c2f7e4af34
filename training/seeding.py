"""The per-step seed: every random draw of a step depends only on (seed, step, process), so a resumed
run draws the same numbers as an uninterrupted one."""
from __future__ import annotations

import torch

COLOUR_STREAM = 7_777_777  # seed offset of the solid-colour draws (apart from the step's other draws)


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """The seed of step (or micro-batch) `step` on process `rank` of a run seeded `seed`."""
    return (int(seed) * 1_000_003 + int(step)) * 131 + int(rank)


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The CPU generator of one micro-batch's random draws (same on every device, resumable)."""
    return torch.Generator().manual_seed(step_seed(seed, step, rank))


def seed_global_rng(seed: int, step: int, rank: int = 0) -> None:
    """Seed torch's global RNG (dropout, VAE sampling) for one step."""
    torch.manual_seed(step_seed(seed, step, rank))
