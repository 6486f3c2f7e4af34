"""The demo: try-on, try-off and round trip on toy examples, written as one labelled PNG grid.

The examples are toy-wardrobe samples drawn from a seed the demo model never trained on
(`DEMO_SEED`), so they are reproducible without shipping image files.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .data.toy.wardrobe import render_sample
from .errors import ConfigError
from .pixels import array_to_mask, array_to_pixels, pixels_to_pil, save_image
from .verbs import Pipeline

log = logging.getLogger("twgtm")

DEMO_SEED = 20261122
COLUMNS = ("person A", "garment B", "try-on: A wears B", "A's garment", "try-off of A", "person B",
           "round trip: A's on B")


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A toy sample's H×W×3 uint8 image or H×W bool mask -> (1,3,H,W) in [-1,1] or (1,1,H,W) in {0,1}."""
    return array_to_mask(array) if array.ndim == 2 else array_to_pixels(array)


def demo_examples(count: int, size: tuple[int, int]) -> list[tuple[dict, dict]]:
    """`count` (A, B) pairs of toy samples with upper garments."""
    samples, index = [], 0
    while len(samples) < 2 * count:
        s = render_sample(DEMO_SEED, index, size)
        index += 1
        if s["category"] == "upper":
            samples.append(s)
    return [(samples[2 * i], samples[2 * i + 1]) for i in range(count)]


def run_demo(pipeline: Pipeline, out: str | Path, *, count: int = 3, steps: int = 30, guidance: float = 2.5,
             seed: int = 0, size: tuple[int, int] = (128, 96), callback=None) -> Path:
    """Run the three tasks on `count` example pairs; write inputs, outputs and `demo_grid.png` to `out`."""
    if int(count) < 1:
        raise ConfigError(f"the demo needs at least one example pair, got count={count}")
    out = Path(out)
    pairs = demo_examples(int(count), size)
    person_a = torch.cat([_tensor(a["person"]) for a, _ in pairs])  # (N,3,H,W)
    mask_a = torch.cat([_tensor(a["agnostic_mask"]) for a, _ in pairs])  # (N,1,H,W)
    garment_a = torch.cat([_tensor(a["cloth"]) for a, _ in pairs])
    person_b = torch.cat([_tensor(b["person"]) for _, b in pairs])
    mask_b = torch.cat([_tensor(b["agnostic_mask"]) for _, b in pairs])
    garment_b = torch.cat([_tensor(b["cloth"]) for _, b in pairs])
    common = dict(prompt="upper", seed=seed, steps=steps, guidance=guidance, callback=callback)
    tryon = pipeline.tryon(person_a, garment_b, mask_a, repaint=True, **common).images  # the person kept outside
    tryoff = pipeline.tryoff(person_a, **common).images
    roundtrip = pipeline.roundtrip(person_a, person_b, mask_b=mask_b, repaint=True, **common).dressed.images
    rows = [person_a, garment_b, tryon, garment_a, tryoff, person_b, roundtrip]
    h, w = size
    label_h = 14
    grid = Image.new("RGB", (w * len(rows), label_h + h * count), "white")
    draw = ImageDraw.Draw(grid)
    for c, title in enumerate(COLUMNS):
        draw.text((c * w + 2, 1), title[: w // 6], fill="black")
        for r in range(count):
            grid.paste(pixels_to_pil(rows[c][r]), (c * w, label_h + r * h))
    for name, images in (("tryon", tryon), ("tryoff", tryoff), ("roundtrip", roundtrip)):
        for r in range(count):
            save_image(images[r], out / f"{name}_{r}.png")
    path = save_image(grid, out / "demo_grid.png")
    log.info("demo grid written to %s (columns: %s)", path, ", ".join(COLUMNS))
    return path
