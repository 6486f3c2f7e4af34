"""`generate_toy_wardrobe`: write a procedural try-on data set in the VITON-HD layout.

    out/train_pairs.txt, out/test_pairs.txt   "<person> <garment>" (train: each its own garment;
                                               test: another garment of the same category)
    out/categories.txt                        "<garment> <upper|lower|dress> <template>"
    out/{train,test}/image/NNNNNN_00.png      dressed person
    out/{train,test}/cloth/NNNNNN_00.png      flat garment on near-white
    out/{train,test}/cloth-mask/NNNNNN_00.png true flat-garment mask (white = garment)
    out/{train,test}/agnostic-mask/NNNNNN_00_mask.png  inpainting mask (white = regenerate)
    out/{train,test}/image-parse-v3/NNNNNN_00.png parse map of the dressed person (palette PNG of
                                               VITON-HD label ids: what each pixel shows); the
                                               garment's label marks where it is visible on the person

Files are PNG (lossless) and sample i depends only on (seed, i), so a seed gives byte-identical
files. `twgtm.data.VitonHDDataset` reads the folder unchanged.
"""
from __future__ import annotations

import logging
import multiprocessing
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import ConfigError
from .garments import CATEGORY_OF, TEMPLATES, sample_shape
from .parse import garment_region, palette
from .patterns import sample_fabric
from .pose import sample_pose
from .render import SUPERSAMPLE, agnostic_mask, garment_alpha, render_flat, render_person

logger = logging.getLogger("twgtm")

FOLDERS = ("image", "cloth", "cloth-mask", "agnostic-mask", "image-parse-v3")


def _waves(rng: np.random.Generator, count: int, amplitude: tuple, frequency: float) -> np.ndarray:
    """`count` random sine waves as rows (amplitude, kx, ky, phase)."""
    return np.stack([np.array([rng.uniform(*amplitude), rng.uniform(-frequency, frequency),
                               rng.uniform(-frequency, frequency), rng.uniform(0, 2 * np.pi)])
                     for _ in range(count)])


def _dressed(rng, kind: str, size_hi: tuple, plain: bool):
    """A garment of template `kind`: shape, fabric, garment-space coverage, folds and drape."""
    shape = sample_shape(rng, kind)
    fabric = sample_fabric(rng, shape, *size_hi, plain=plain)
    alpha_hi = garment_alpha(shape, *size_hi)
    folds = _waves(rng, 3, (0.015, 0.05), 0.6)
    drape = _waves(rng, 2, (0.3, 1.4), 0.2)
    return shape, fabric, alpha_hi, folds, drape


def render_sample(seed: int, index: int, size: tuple[int, int]) -> dict:
    """One toy sample: person, cloth (H×W×3 uint8), cloth_mask, agnostic_mask, garment_region (H×W bool),
    parse (H×W uint8 label ids), category, template.

    garment_region: where the garment is visible on the dressed person (the parse map's garment label).
    """
    rng = np.random.default_rng([seed, index])
    height, width = size
    size_hi = (height * SUPERSAMPLE, width * SUPERSAMPLE)
    kind = TEMPLATES[rng.integers(len(TEMPLATES))]
    category = CATEGORY_OF[kind]
    shape, fabric, alpha_hi, folds, drape = _dressed(rng, kind, size_hi, plain=False)
    cloth, cloth_mask = render_flat(shape, fabric, alpha_hi, folds, 1.0 - rng.integers(0, 6) / 255.0, size)
    pose = sample_pose(rng)
    outfit = [(shape, fabric, alpha_hi, folds, drape, True)]
    if category == "upper":
        other = _dressed(rng, "trousers" if rng.random() < 0.6 else "skirt", size_hi, plain=True)
        outfit.insert(0, other + (False,))
    elif category == "lower":
        other = _dressed(rng, "tee" if rng.random() < 0.6 else "tank", size_hi, plain=True)
        outfit.append(other + (False,))
    person, cover, body, parse = render_person(rng, pose, outfit, size)
    mask = agnostic_mask(category, cover, body, size)
    return {"person": person, "cloth": cloth, "cloth_mask": cloth_mask, "agnostic_mask": mask,
            "garment_region": garment_region(parse, kind), "parse": parse, "category": category, "template": kind}


def _check_args(n: int, size, test_fraction: float) -> tuple[int, int]:
    """Validate the generator's arguments; returns (H, W)."""
    if int(n) < 1:
        raise ConfigError(f"n must be at least 1; got {n}.")
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ConfigError(f"size must be (H, W); got {size!r}.") from None
    if height < 32 or width < 24:
        raise ConfigError(f"size must be at least 32×24 (H×W); got {height}×{width}.")
    if not 0.0 <= float(test_fraction) < 1.0:
        raise ConfigError(f"test_fraction must be in [0, 1); got {test_fraction}.")
    return height, width


def _save(array: np.ndarray, path: Path, labels: bool = False) -> None:
    """Write a uint8 RGB array, a bool mask or (labels) an H×W label map as a palette PNG."""
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    image = Image.fromarray(array)
    if labels:
        image = image.convert("P")
        image.putpalette(palette())
    image.save(path, format="PNG", compress_level=6)


def _unpaired(rng: np.random.Generator, names: list[str], categories: dict[str, str]) -> list[str]:
    """For each name, another name of the same category (itself when it is the only one)."""
    partners = []
    for name in names:
        same = [other for other in names if categories[other] == categories[name] and other != name]
        partners.append(same[rng.integers(len(same))] if same else name)
    return partners


def _write_sample(job: tuple) -> tuple[str, str, str]:
    """Render sample `index` and write its five files; returns (name, category, template)."""
    seed, index, size, folder = job
    sample = render_sample(seed, index, size)
    name = f"{index:06d}_00.png"
    _save(sample["person"], folder / "image" / name)
    _save(sample["cloth"], folder / "cloth" / name)
    _save(sample["cloth_mask"], folder / "cloth-mask" / name)
    _save(sample["agnostic_mask"], folder / "agnostic-mask" / f"{index:06d}_00_mask.png")
    _save(sample["parse"], folder / "image-parse-v3" / name, labels=True)
    return name, sample["category"], sample["template"]


def generate_toy_wardrobe(out, n: int = 1000, seed: int = 0, size=(128, 96), test_fraction: float = 0.1,
                          workers: int = 1) -> dict:
    """Write `n` toy try-on samples in the VITON-HD layout under `out`; returns a summary dict.

    `workers` > 1 renders in that many processes; the files are the same for any number of workers.
    """
    height, width = _check_args(n, size, test_fraction)
    out = Path(out)
    n_test = int(round(n * test_fraction)) if n > 1 else 0
    n_test = min(n_test, n - 1)
    splits = {"train": range(0, n - n_test), "test": range(n - n_test, n)}
    start = time.perf_counter()
    categories, templates, names_by_split = {}, {}, {}
    for split, indices in splits.items():
        for folder in FOLDERS:
            (out / split / folder).mkdir(parents=True, exist_ok=True)
        jobs = [(seed, index, (height, width), out / split) for index in indices]
        if int(workers) > 1 and len(jobs) > 1:
            with multiprocessing.get_context("spawn").Pool(min(int(workers), len(jobs))) as pool:
                written = pool.map(_write_sample, jobs, chunksize=16)
        else:
            written = [_write_sample(job) for job in jobs]
        for name, category, template in written:
            categories[name], templates[name] = category, template
        names_by_split[split] = [name for name, _, _ in written]
    (out / "train_pairs.txt").write_text("".join(f"{name} {name}\n" for name in names_by_split["train"]))
    pair_rng = np.random.default_rng([seed, 1 << 30])
    partners = _unpaired(pair_rng, names_by_split["test"], categories)
    (out / "test_pairs.txt").write_text("".join(f"{a} {b}\n" for a, b in zip(names_by_split["test"], partners)))
    (out / "categories.txt").write_text("".join(f"{name} {categories[name]} {templates[name]}\n"
                                                for name in sorted(categories)))
    seconds = time.perf_counter() - start
    summary = {"out": str(out), "train": len(names_by_split["train"]), "test": len(names_by_split["test"]),
               "size": (height, width), "seed": int(seed), "seconds": round(seconds, 2),
               "categories": {c: sum(1 for v in categories.values() if v == c) for c in ("upper", "lower", "dress")}}
    logger.info("Toy wardrobe: %s", summary)
    return summary
