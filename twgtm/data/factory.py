"""`build_dataset(kind, root, ...)`: one entry point for every data set layout."""
from __future__ import annotations

from ..errors import ConfigError
from .dresscode import DressCodeDataset
from .vitonhd import VitonHDDataset

# The toy wardrobe is written in the VITON-HD layout, so it is read by the same loader.
DATASETS = {"vitonhd": VitonHDDataset, "dresscode": DressCodeDataset, "toy": VitonHDDataset}


def build_dataset(kind: str, root, split: str = "train", size=(512, 384), mode: str = "paired",
                  categories=None, **kwargs):
    """Build the data set `kind` ("vitonhd" | "dresscode" | "toy") reading `root`."""
    key = str(kind).strip().lower().replace("-", "").replace("_", "")
    if key not in DATASETS:
        raise ConfigError(f"Unknown data set kind {kind!r}: expected one of {sorted(DATASETS)}.")
    if categories is not None:
        kwargs["categories"] = categories
    return DATASETS[key](root, split=split, size=size, mode=mode, **kwargs)
