"""VITON-HD loader (the layout HR-VITON, StableVITON, LaDI-VTON and CatVTON read).

    root/train_pairs.txt, root/test_pairs.txt    "<person>.jpg <garment>.jpg" per line
    root/{train,test}/image/<name>.jpg           person
    root/{train,test}/cloth/<name>.jpg           flat garment (same name as its wearer)
    root/{train,test}/cloth-mask/<name>.jpg      flat-garment mask (white = garment)
    root/{train,test}/agnostic-mask/<stem>_mask.png   inpainting mask (white = regenerate)
    root/{train,test}/image-parse-v3/<stem>.png  human parse (CIHP label ids): the worn garment's region,
                                                 and the inpainting mask if there is no agnostic mask
    root/categories.txt                          optional "<garment> <upper|lower|dress>" (toy wardrobe)

Paired mode: each person wears its own garment (the first column twice), so the person is the
target. Unpaired mode: the garment is the second column. `test_pairs_paired.txt` /
`test_pairs_unpaired.txt` (CatVTON's copies) are read when `test_pairs.txt` is absent.
Inpainting mask: the `agnostic-mask` file when it exists; otherwise built from
`image-parse-v3` (see `masks.vitonhd_agnostic_mask`). Garment mask: the `cloth-mask` file when
it exists; otherwise derived from the garment's near-white background. Worn-garment region
(`garment_region=True`: the sample key `garment_region`, the pixels where the garment is visible on
the person): from `image-parse-v3` (see `masks.vitonhd_garment_region`).
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DataError
from .base import TryOnPairsDataset
from .io import first_existing, read_label_map, read_mask, read_pairs, require_dir
from .masks import vitonhd_agnostic_mask, vitonhd_garment_region
from .sample import normalize_category

logger = logging.getLogger("twgtm")

CATEGORIES_FILE = "categories.txt"


def read_categories(path: Path) -> dict[str, str]:
    """Read an optional "<garment file> <category> [...]" file into {garment file: category}."""
    table = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            columns = line.split()
            if len(columns) >= 2:
                table[columns[0]] = normalize_category(columns[1])
    return table


class VitonHDDataset(TryOnPairsDataset):
    """VITON-HD pairs as sample dicts (see `twgtm.data.sample`); images resized to `size` (H, W).

    `garment_region=True` adds each sample's worn-garment region, read from the parse maps.
    """

    def __init__(self, root, split: str = "train", size=(512, 384), mode: str = "paired",
                 categories=None, garment_region: bool = False):
        super().__init__(root, split, size, mode)
        self.with_garment_region = bool(garment_region)
        self.split_dir = require_dir(self.root / split, f"the VITON-HD '{split}' split folder "
                                     "(with image/, cloth/, cloth-mask/, agnostic-mask/)",
                                     "Point root at the VITON-HD folder that holds train/ and test/.")
        for folder in ("image", "cloth"):
            require_dir(self.split_dir / folder, f"VITON-HD {folder} images of the '{split}' split",
                        "The data set copy is incomplete: unpack it again.")
        self.pairs_path = self._find_pairs_file()
        garment_categories = read_categories(self.root / CATEGORIES_FILE)
        wanted = None if categories is None else {normalize_category(c) for c in categories}
        for columns in read_pairs(self.pairs_path):
            person_name = columns[0]
            garment_name = person_name if mode == "paired" else columns[1]
            category = garment_categories.get(garment_name, "upper")
            if wanted is not None and category not in wanted:
                continue
            self.records.append({"person": person_name, "garment": garment_name, "category": category})
        logger.debug("VITON-HD %s/%s: %d pairs from %s", split, mode, len(self.records), self.pairs_path)

    def _find_pairs_file(self) -> Path:
        """The pairs file for this split and mode, as the public loaders name it."""
        names = [f"{self.split}_pairs.txt", f"{self.split}_pairs_{self.mode}.txt"]
        if self.mode == "paired":
            names.append(f"{self.split}_pairs_unpaired.txt")  # paired mode reads only column one
        found = first_existing([self.root / name for name in names])
        if found is None:
            raise DataError(f"Missing file {self.root / names[0]}: expected the VITON-HD pairs file "
                            f"(one of {names} in {self.root}). Copy it from the data set download.")
        return found

    def _inpaint_mask(self, person_name: str):
        """The agnostic-mask file if present, else the mask built from the parse map (H×W array)."""
        stem = Path(person_name).stem
        mask_file = first_existing([self.split_dir / "agnostic-mask" / f"{stem}_mask.png",
                                    self.split_dir / "agnostic-mask" / f"{stem}.png"])
        if mask_file is not None:
            return read_mask(mask_file)
        parse_file = self.split_dir / "image-parse-v3" / f"{stem}.png"
        if not parse_file.is_file():
            raise DataError(
                f"Missing file {self.split_dir / 'agnostic-mask' / (stem + '_mask.png')}: expected the "
                f"agnostic (inpainting) mask of {person_name}, or the parse map {parse_file} to build it "
                "from. Add the agnostic-mask/ or image-parse-v3/ folder of the data set.")
        return vitonhd_agnostic_mask(read_label_map(parse_file))

    def _garment_region(self, person_name: str, category: str):
        """The worn garment's region from the parse map (H×W bool), or None when it was not asked for."""
        if not self.with_garment_region:
            return None
        parse_file = self.split_dir / "image-parse-v3" / f"{Path(person_name).stem}.png"
        if not parse_file.is_file():
            raise DataError(f"Missing file {parse_file}: expected the parse map of {person_name}, which gives the "
                            "garment's region on the person. Add the split's image-parse-v3/ folder; a toy wardrobe "
                            "written before the parse maps existed must be regenerated (`python -m twgtm.data.toy`).")
        return vitonhd_garment_region(read_label_map(parse_file), category)

    def __getitem__(self, index: int) -> dict:
        """Sample `index`: person, garment, masks, category, prompt, name."""
        record = self.records[index]
        person_path = self.split_dir / "image" / record["person"]
        garment_path = self.split_dir / "cloth" / record["garment"]
        for path, what in ((person_path, "person image"), (garment_path, "garment image")):
            if not path.is_file():
                raise DataError(f"Missing file {path}: expected the {what} named in {self.pairs_path}. "
                                "Restore the file or remove its line from the pairs file.")
        garment_stem = Path(record["garment"]).stem
        mask_dir = self.split_dir / "cloth-mask"
        mask_candidates = [mask_dir / record["garment"], mask_dir / f"{garment_stem}.jpg",
                           mask_dir / f"{garment_stem}.png"]
        return self._assemble(person_path, garment_path, mask_candidates,
                              self._inpaint_mask(record["person"]), record["category"],
                              Path(record["person"]).stem, self._garment_region(record["person"], record["category"]))
