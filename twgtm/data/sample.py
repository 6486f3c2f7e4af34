"""The sample dict every data set returns, and the garment categories with their prompts.

Sample keys (what the training code reads):
    person        3×H×W float in [-1, 1]; in paired mode it is also the try-on target
    garment       3×H×W float in [-1, 1], the flat product image
    garment_mask  1×H×W float {0, 1}, 1 = garment pixels of the flat garment image
    inpaint_mask  1×H×W float {0, 1}, 1 = region of the person to regenerate for try-on
    category      "upper" | "lower" | "dress"
    prompt        "upper garment" | "lower garment" | "dress"
    name          str id of the person image (file stem)
    garment_region  only when asked for (`VitonHDDataset(..., garment_region=True)`): 1×H×W float
                  {0, 1}, where the worn garment is visible on the person, from the parse map
                  (VITON-HD `image-parse-v3`, which the toy wardrobe writes too)
"""
from __future__ import annotations

import torch

from ..vocab import CATEGORY_PROMPTS, GARMENT_CATEGORIES, parse_category

CATEGORIES = GARMENT_CATEGORIES  # "upper", "lower", "dress" (twgtm.vocab)
PROMPTS = CATEGORY_PROMPTS
SAMPLE_KEYS = ("person", "garment", "garment_mask", "inpaint_mask", "category", "prompt", "name")


def normalize_category(name: str) -> str:
    """Map a category spelling ("upper_body", "dresses", "0", ...) to "upper" | "lower" | "dress"."""
    return parse_category(name)


def make_sample(person: torch.Tensor, garment: torch.Tensor, garment_mask: torch.Tensor,
                inpaint_mask: torch.Tensor, category: str, name: str,
                garment_region: torch.Tensor | None = None) -> dict:
    """Assemble the sample dict (see the module docstring) and add the category's prompt."""
    category = normalize_category(category)
    extra = {} if garment_region is None else {"garment_region": garment_region}
    return {
        "person": person,
        "garment": garment,
        "garment_mask": garment_mask,
        "inpaint_mask": inpaint_mask,
        "category": category,
        "prompt": PROMPTS[category],
        "name": name,
        **extra,
    }
