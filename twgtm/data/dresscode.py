"""DressCode loader (the layout of the official `data/dataset.py`, LaDI-VTON and CatVTON).

    root/{upper_body,lower_body,dresses}/images/NNNNNN_0.jpg     person
    root/{upper_body,lower_body,dresses}/images/NNNNNN_1.jpg     flat garment
    root/{upper_body,lower_body,dresses}/label_maps/NNNNNN_4.png label map (official label ids)
    root/<category>/agnostic_masks/NNNNNN_0.png  optional inpainting mask (CatVTON)
    root/<category>/masks/NNNNNN_1.png           optional garment mask (LaDI-VTON)
    root/<category>/{train_pairs,test_pairs_paired,test_pairs_unpaired}.txt   per category
    root/{train_pairs,test_pairs_paired,test_pairs_unpaired}.txt   all categories; an optional
        third column names the category (0 upper_body, 1 lower_body, 2 dresses, or the name)

Paired mode: the garment is the person's own (`NNNNNN_0` → `NNNNNN_1`); unpaired: the second
column. Pairs files: `pairs="category"` reads each category folder's file, `"root"` the file at the
root, `"auto"` the category files when every requested one exists, else the root file.
Inpainting mask: the `agnostic_masks` file when present, otherwise built from the label map
(`masks.dresscode_agnostic_mask`). Garment mask: `masks/` or `cloth_mask/` when present,
otherwise derived from the garment's near-white background (the official release has none).
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..errors import ConfigError, DataError
from .base import TryOnPairsDataset
from .io import first_existing, read_label_map, read_mask, read_pairs, require_dir
from .masks import dresscode_agnostic_mask
from .sample import CATEGORIES, normalize_category

logger = logging.getLogger("twgtm")

FOLDERS = {"upper": "upper_body", "lower": "lower_body", "dress": "dresses"}
PAIRS_SOURCES = ("auto", "category", "root")


def paired_garment_name(person_name: str) -> str:
    """The garment image of a DressCode person image: `NNNNNN_0.jpg` → `NNNNNN_1.jpg`."""
    stem, suffix = Path(person_name).stem, Path(person_name).suffix
    base = stem[:-2] if stem.endswith("_0") else stem
    return f"{base}_1{suffix}"


class DressCodeDataset(TryOnPairsDataset):
    """DressCode pairs of the chosen categories as sample dicts; images resized to `size` (H, W)."""

    def __init__(self, root, split: str = "train", size=(512, 384), mode: str = "paired",
                 categories=CATEGORIES, pairs: str = "auto"):
        super().__init__(root, split, size, mode)
        if pairs not in PAIRS_SOURCES:
            raise ConfigError(f"pairs must be one of {PAIRS_SOURCES}; got {pairs!r}.")
        if isinstance(categories, str):
            categories = [categories]
        self.categories = tuple(dict.fromkeys(normalize_category(c) for c in categories))
        if not self.categories:
            raise ConfigError("categories is empty: give at least one of 'upper', 'lower', 'dress'.")
        for category in self.categories:
            require_dir(self.root / FOLDERS[category] / "images",
                        f"the DressCode '{FOLDERS[category]}' images (NNNNNN_0.jpg persons, NNNNNN_1.jpg garments)",
                        "Point root at the DressCode folder, or leave this category out of `categories`.")
        self.pairs_file_name = "train_pairs.txt" if split == "train" else f"test_pairs_{mode}.txt"
        per_category = [self.root / FOLDERS[c] / self.pairs_file_name for c in self.categories]
        use_category_files = pairs == "category" or (pairs == "auto" and all(p.is_file() for p in per_category))
        if use_category_files:
            for category, path in zip(self.categories, per_category):
                for columns in read_pairs(path):
                    self._add(columns, category)
        else:
            for columns in read_pairs(self.root / self.pairs_file_name):
                category = self._category_of(columns)
                if category in self.categories:
                    self._add(columns, category)
        logger.debug("DressCode %s/%s %s: %d pairs", split, mode, self.categories, len(self.records))

    def _category_of(self, columns: list[str]) -> str:
        """Category of a root pairs-file row: its third column, else the folder holding the person image."""
        if len(columns) >= 3:
            return normalize_category(columns[2])
        for category, folder in FOLDERS.items():
            if (self.root / folder / "images" / columns[0]).is_file():
                return category
        raise DataError(f"Person image {columns[0]} from {self.root / self.pairs_file_name} is in none of "
                        f"{[str(self.root / f / 'images') for f in FOLDERS.values()]}: expected it in one "
                        "category's images/ folder. Restore the file or add a third (category) column.")

    def _add(self, columns: list[str], category: str) -> None:
        """Record one pair of `category`."""
        person = columns[0]
        garment = paired_garment_name(person) if self.mode == "paired" else columns[1]
        self.records.append({"person": person, "garment": garment, "category": category})

    def _inpaint_mask(self, folder: Path, person_name: str, category: str):
        """The agnostic_masks file if present, else the mask built from the label map (H×W array)."""
        stem = Path(person_name).stem
        mask_file = first_existing([folder / "agnostic_masks" / f"{stem}.png",
                                    folder / "agnostic_masks" / f"{stem}_mask.png"])
        if mask_file is not None:
            return read_mask(mask_file)
        base = stem[:-2] if stem.endswith("_0") else stem
        label_file = folder / "label_maps" / f"{base}_4.png"
        if not label_file.is_file():
            raise DataError(f"Missing file {label_file}: expected the DressCode label map of {person_name} "
                            f"(or an inpainting mask {folder / 'agnostic_masks' / (stem + '.png')}). "
                            "Add the category's label_maps/ folder from the data set download.")
        return dresscode_agnostic_mask(read_label_map(label_file), category)

    def __getitem__(self, index: int) -> dict:
        """Sample `index`: person, garment, masks, category, prompt, name."""
        record = self.records[index]
        folder = self.root / FOLDERS[record["category"]]
        person_path = folder / "images" / record["person"]
        garment_path = folder / "images" / record["garment"]
        for path, what in ((person_path, "person image"), (garment_path, "garment image")):
            if not path.is_file():
                raise DataError(f"Missing file {path}: expected the DressCode {what} of this pair. "
                                "Restore the file or remove its line from the pairs file.")
        garment_stem = Path(record["garment"]).stem
        mask_candidates = [folder / "masks" / f"{garment_stem}.png",
                           folder / "cloth_mask" / f"{garment_stem}.png",
                           folder / "cloth_mask" / f"{garment_stem}.jpg"]
        inpaint_mask = self._inpaint_mask(folder, record["person"], record["category"])
        return self._assemble(person_path, garment_path, mask_candidates, inpaint_mask,
                              record["category"], Path(record["person"]).stem)
