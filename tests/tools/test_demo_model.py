"""The shipped demo model on held-out toy persons: it wears the garment it is given."""
from __future__ import annotations

from pathlib import Path

import pytest

from twgtm.data import build_dataset
from twgtm.data.toy import generate_toy_wardrobe
from twgtm.eval.sensitivity import colour_table, probe_person
from twgtm.sampling.pipeline import TWGTMPipeline
from twgtm.weights.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "weights" / "twgtm-demo.safetensors"
HELD_OUT = dict(n=80, seed=1, test_fraction=0.5)  # the README's held-out wardrobe (training used seed 0)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("heldout")
    generate_toy_wardrobe(root, **HELD_OUT)
    return root


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(SHIPPED).eval()


@pytest.mark.slow  # the shipped model on 48 colours: about 40 s
def test_shipped_model_wears_the_garment_it_is_given(held_out, shipped, one_thread):
    """Two held-out persons in four solid colours, 10 steps: the output follows the reference."""
    pipe = TWGTMPipeline(shipped)
    test = build_dataset("toy", held_out, split="test", size=(128, 96), garment_region=True)
    names, colours = colour_table(["red", "green", "blue", "yellow"])
    for index in (0, 1):
        item = test[index]
        person, mask = item["person"][None].expand(len(names), -1, -1, -1), item["inpaint_mask"][None]
        probe = probe_person(
            lambda garments: pipe.tryon(person, garments, mask.expand(len(names), -1, -1, -1), prompt=item["category"],
                                        seed=[index] * len(names), steps=10, guidance=2.5, repaint=True).images,
            item["garment"][None], item["garment_mask"][None], item["garment_region"][None], colours)
        assert probe["slope"] > 0.4, (index, probe["slope"], probe["mean_colours"])
        assert int(probe["recognised"].sum()) >= 3, (index, probe["mean_colours"])
