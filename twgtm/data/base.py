"""What the VITON-HD and DressCode loaders share: argument checks and turning files into a sample."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from ..errors import ConfigError, DataError
from ..pixels import pil_to_pixels
from .io import mask_to_tensor, read_image, read_mask
from .masks import garment_mask_from_background
from .sample import make_sample

logger = logging.getLogger("twgtm")

SPLITS = ("train", "test")
MODES = ("paired", "unpaired")


def check_size(size) -> tuple[int, int]:
    """Validate an (H, W) pair of positive ints and return it as a tuple."""
    try:
        height, width = (int(value) for value in size)
    except (TypeError, ValueError):
        raise ConfigError(f"size must be (H, W), two positive integers; got {size!r}.") from None
    if height <= 0 or width <= 0:
        raise ConfigError(f"size must be (H, W), two positive integers; got {size!r}.")
    return height, width


class TryOnPairsDataset(Dataset):
    """Base of the pair-list data sets: validates split / mode / size and builds the sample dict."""

    def __init__(self, root, split: str = "train", size=(512, 384), mode: str = "paired"):
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}; got {split!r}.")
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}; got {mode!r}.")
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"Missing folder {self.root}: expected the data set root folder. "
                            "Pass the folder that holds the pairs files and the split / category folders.")
        self.split = split
        self.mode = mode
        self.size = check_size(size)
        self.records: list[dict] = []  # each: person, garment, garment_mask (candidates), ...

    def __len__(self) -> int:
        return len(self.records)

    def _garment_mask(self, garment: Image.Image, candidates: list[Path]) -> np.ndarray:
        """The flat-garment mask: from the first existing candidate file, else derived from the background."""
        for candidate in candidates:
            if candidate.is_file():
                return read_mask(candidate)
        logger.debug("No cloth mask among %s: deriving it from the garment's background.",
                     [str(c) for c in candidates])
        resized = garment.resize((self.size[1], self.size[0]), Image.BICUBIC)
        return garment_mask_from_background(np.asarray(resized))

    def _assemble(self, person_path: Path, garment_path: Path, mask_candidates: list[Path],
                  inpaint_mask: np.ndarray, category: str, name: str,
                  garment_region: np.ndarray | None = None) -> dict:
        """Read both images, resize everything to `size` and return the sample dict (with the
        worn garment's region when one is given)."""
        person = read_image(person_path, "person image")
        garment = read_image(garment_path, "garment image")
        garment_mask = self._garment_mask(garment, mask_candidates)
        region = None if garment_region is None else mask_to_tensor(garment_region, self.size)  # (1, H, W)
        return make_sample(
            person=pil_to_pixels(person, self.size)[0],  # (3, H, W)
            garment=pil_to_pixels(garment, self.size)[0],  # (3, H, W)
            garment_mask=mask_to_tensor(garment_mask, self.size),  # (1, H, W)
            inpaint_mask=mask_to_tensor(inpaint_mask, self.size),  # (1, H, W)
            category=category,
            name=name,
            garment_region=region,
        )
