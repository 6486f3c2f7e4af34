"""Data: VITON-HD and DressCode loaders, mask helpers, and the procedural toy wardrobe.

Every data set yields the sample dict described in `twgtm.data.sample`.
"""
from .dresscode import DressCodeDataset
from .factory import build_dataset
from .masks import (dilate_by_radius, dresscode_agnostic_mask, garment_mask_from_background,
                    vitonhd_agnostic_mask)
from .sample import CATEGORIES, PROMPTS, SAMPLE_KEYS, normalize_category
from .vitonhd import VitonHDDataset

__all__ = ["VitonHDDataset", "DressCodeDataset", "build_dataset", "garment_mask_from_background",
           "dilate_by_radius", "vitonhd_agnostic_mask", "dresscode_agnostic_mask", "CATEGORIES", "PROMPTS", "SAMPLE_KEYS",
           "normalize_category", "generate_toy_wardrobe"]


def __getattr__(name):
    if name == "generate_toy_wardrobe":
        from .toy import generate_toy_wardrobe
        return generate_toy_wardrobe
    raise AttributeError(name)
