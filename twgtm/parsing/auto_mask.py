"""`AutoMask`: a clothes parser and a mask rule as one mask source, person pixels -> mask.

    parser = load_parser("models/segformer_b3_clothes")
    pipe.tryon(person, garment, AutoMask(parser, "tryon", "upper"))    # parsed where the sampler wants it
    mask = auto_mask(parser, person, "tryoff", "upper")                  # (B,1,H,W) now

An automatic mask that comes out empty (no garment of that category found) is an InputError that
says so and what to do.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from ..vocab import parse_category, parse_task
from .parser import ClothesParser
from .rules import MASK_TASKS, tryoff_garment_mask, tryon_agnostic_mask

RULES = {"tryon": tryon_agnostic_mask, "tryoff": tryoff_garment_mask}


def auto_mask(parser: ClothesParser, pixels: torch.Tensor, task: str = "tryon", category: str = "upper",
              allow_empty: bool = False) -> torch.Tensor:
    """The automatic mask (B,1,H,W) of person images (B,3,H,W) in [-1, 1]: try-on agnostic or try-off garment."""
    task, category = parse_task(task, MASK_TASKS), parse_category(category)
    labels = parser.parse(pixels)  # (B,H,W)
    mask = RULES[task](labels, parser.labels, category).to(pixels.device)  # (B,1,H,W)
    empty = [i for i in range(mask.shape[0]) if not mask[i].any()]
    if empty and not allow_empty:
        what = "garment to take off" if task == "tryoff" else "region to dress"
        raise InputError(f"the automatic {task} mask of item(s) {empty} is empty: {parser.source} found no {category} "
                         f"{what} on the person; check the category, or draw the mask by hand")
    return mask


class AutoMask:
    """A mask source for the samplers: called on the person (B,3,H,W), returns its automatic mask (B,1,H,W).

    Args:
        parser: a clothes parser (`load_parser`).
        task: 'tryon' (where the new garment may go) or 'tryoff' (the garment worn).
        category: 'upper', 'lower' or 'dress'.
    """

    def __init__(self, parser: ClothesParser, task: str = "tryon", category: str = "upper"):
        self.parser = parser
        self.task = parse_task(task, MASK_TASKS)
        self.category = parse_category(category)

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        """The mask of `pixels` (B,3,H,W)."""
        return auto_mask(self.parser, pixels, self.task, self.category)

    def __repr__(self) -> str:
        return f"AutoMask({self.parser.source}, {self.task}, {self.category})"
