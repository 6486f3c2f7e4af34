"""The demo command: grid of try-on, try-off and round trip on toy examples."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from twgtm.weights.checkpoint import save_checkpoint
from twgtm.demo import COLUMNS, demo_examples, run_demo
from twgtm.model.network import build_model
from twgtm.sampling.pipeline import TWGTMPipeline

ROOT = Path(__file__).resolve().parents[2]


def test_examples_are_deterministic_upper_garments():
    a = demo_examples(2, (64, 48))
    b = demo_examples(2, (64, 48))
    assert all(s["category"] == "upper" for pair in a for s in pair)
    assert (a[0][0]["person"] == b[0][0]["person"]).all()
    assert not (a[0][0]["person"] == a[1][0]["person"]).all()


def test_run_demo_writes_grid(tmp_path):
    torch.manual_seed(0)
    pipe = TWGTMPipeline(build_model("tiny").eval())
    path = run_demo(pipe, tmp_path, count=2, steps=2, size=(64, 48))
    grid = Image.open(path)
    assert grid.size == (48 * len(COLUMNS), 14 + 64 * 2)
    for name in ("tryon_0", "tryoff_1", "roundtrip_1"):
        assert Image.open(tmp_path / f"{name}.png").size == (48, 64)
    a, _ = demo_examples(1, (64, 48))[0]  # try-on repaints: person A's pixels outside the mask are kept
    outside = a["agnostic_mask"] < 0.5
    tryon = np.asarray(Image.open(tmp_path / "tryon_0.png").convert("RGB")).astype(int)
    assert np.abs(tryon[outside] - a["person"][outside].astype(int)).max() <= 1


@pytest.mark.slow  # a Python process of its own
def test_demo_cli(tmp_path):
    ckpt = save_checkpoint(build_model("tiny"), tmp_path / "tiny.safetensors")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-m", "twgtm", "demo", "--checkpoint", str(ckpt), "--steps", "1",
                          "--count", "1", "--out", str(tmp_path / "demo")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "demo" / "demo_grid.png").is_file()
    assert re.search(r"demo grid: .*demo_grid\.png \(\d+ s in all", out.stdout), out.stdout  # the time it took
    env["TWGTM_DEMO_CHECKPOINT"] = str(tmp_path / "absent.safetensors")
    out = subprocess.run([sys.executable, "-m", "twgtm", "demo", "--out", str(tmp_path / "d2")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "demo model is not at" in out.stderr
