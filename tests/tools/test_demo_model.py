"""The shipped demo model on held-out toy persons: it wears the garment it is given and takes it off in its colour."""
from __future__ import annotations

from pathlib import Path

import pytest

from twgtm.data import build_dataset
from twgtm.data.toy import generate_toy_wardrobe
from twgtm.eval.sensitivity import colour_table, probe_person, probe_tryoff
from twgtm.sampling.pipeline import TWGTMPipeline
from twgtm.weights.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "weights" / "twgtm-demo.safetensors"
# The shipped file's try-off slopes on these two persons: 0.81 and 0.73 (4 of 4 colours recognised each); the
# file before it 0.36 and 0.30, its colours pulled towards purple.
TRYOFF_SLOPE = 0.6
HELD_OUT = dict(n=80, seed=1, test_fraction=0.5)  # docs/evaluation.md's held-out seed (training used seed 0)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("heldout")
    generate_toy_wardrobe(root, **HELD_OUT)
    return root


@pytest.fixture(scope="module")
def pipe():
    return TWGTMPipeline(load_checkpoint(SHIPPED).eval())


@pytest.fixture(scope="module")
def persons(held_out):
    """The first two held-out test items, at the wardrobe's size."""
    test = build_dataset("toy", held_out, split="test", size=(128, 96), garment_region=True)
    return [test[0], test[1]]


COLOURS = colour_table(["red", "green", "blue", "yellow"])


def test_shipped_model_wears_the_garment_it_is_given(pipe, persons, one_thread):
    """Two held-out persons in four solid colours, 10 steps: the output follows the reference."""
    names, colours = COLOURS
    for index, item in enumerate(persons):
        person, mask = item["person"][None].expand(len(names), -1, -1, -1), item["inpaint_mask"][None]
        probe = probe_person(
            lambda garments: pipe.tryon(person, garments, mask.expand(len(names), -1, -1, -1), prompt=item["category"],
                                        seed=[index] * len(names), steps=10, guidance=2.5, repaint=True).images,
            item["garment"][None], item["garment_mask"][None], item["garment_region"][None], colours)
        assert probe["slope"] > 0.4, (index, probe["slope"], probe["mean_colours"])
        assert int(probe["recognised"].sum()) >= 3, (index, probe["mean_colours"])


def test_shipped_model_takes_the_garment_off_in_its_colour(pipe, persons, one_thread):
    """The same persons dressed in the four colours and undressed, 10 steps: the flat garment keeps the colour."""
    names, colours = COLOURS
    for index, item in enumerate(persons):
        probe = probe_tryoff(
            lambda people: pipe.tryoff(people, prompt=item["category"], seed=[index] * len(names), steps=10,
                                       guidance=2.5).images,
            item["person"][None], item["garment_region"][None], item["garment_mask"][None], colours)
        assert probe["slope"] > TRYOFF_SLOPE, (index, probe["slope"], probe["mean_colours"])
        assert int(probe["recognised"].sum()) >= 3, (index, probe["mean_colours"])
