"""CLI: tryon / tryoff / roundtrip end to end on a tiny checkpoint, and each bad input's clear message."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from twgtm.weights.checkpoint import save_checkpoint
from twgtm.cli import main
from twgtm.model.network import build_model

ROOT = Path(__file__).resolve().parents[2]
H, W = 45, 33


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    save_checkpoint(build_model("tiny"), d / "tiny.safetensors")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), "RGB").save(d / "person.png")
    Image.fromarray(rng.integers(0, 255, (H, W), dtype=np.uint8), "L").save(d / "grey.png")
    Image.fromarray(rng.integers(0, 255, (20, 30, 4), dtype=np.uint8), "RGBA").save(d / "garment.png")
    mask = np.zeros((H, W), np.uint8)
    mask[10:35, 5:28] = 255
    Image.fromarray(mask, "L").save(d / "mask.png")
    Image.fromarray(np.kron(mask, np.ones((2, 2), np.uint8)), "L").save(d / "mask_big.png")
    Image.fromarray(np.zeros((H, W), np.uint8), "L").save(d / "empty.png")
    return d


def _run(*argv):
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "twgtm", *map(str, argv)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # a Python process of its own
def test_tryon_end_to_end_with_conversions(files):
    d = files
    out = _run("tryon", "--person", d / "grey.png", "--garment", d / "garment.png", "--mask", d / "mask_big.png",
               "--checkpoint", d / "tiny.safetensors", "--steps", "2", "--seed", "3", "--scheduler", "dpm++",
               "--repaint", "--out", d / "on.png")
    assert out.returncode == 0, out.stderr
    assert "greyscale: converted to RGB" in out.stderr
    assert "transparency: composited on white" in out.stderr
    assert "resized to the person's size" in out.stderr
    assert "2/2" in out.stderr  # the tqdm bar
    assert Image.open(d / "on.png").size == (W, H)


@pytest.mark.slow  # a Python process of its own
def test_roundtrip_end_to_end(files):
    d = files
    out = _run("roundtrip", "--person", d / "person.png", "--target", d / "grey.png", "--target-mask", d / "mask.png",
               "--checkpoint", d / "tiny.safetensors", "--steps", "1", "--category", "dress", "--out", d / "rt.png")
    assert out.returncode == 0, out.stderr
    assert Image.open(d / "rt.png").size == (W, H) and Image.open(d / "rt_garment.png").size == (W, H)


def test_tryoff_in_process(files, capsys):
    d = files
    rc = main(["tryoff", "--person", str(d / "person.png"), "--checkpoint", str(d / "tiny.safetensors"), "--steps", "1",
               "--mask-mode", "full", "--guidance", "1", "--prompt", "a blue coat", "--out", str(d / "off")])
    assert rc == 0
    assert Image.open(d / "off.png").size == (W, H) and Image.open(d / "off_mask.png").mode == "L"
    assert "off.png" in capsys.readouterr().out


def test_missing_input_file(files, capsys):
    d = files
    rc = main(["tryon", "--person", str(d / "nobody.png"), "--garment", str(d / "garment.png"),
               "--checkpoint", str(d / "tiny.safetensors"), "--out", str(d / "x.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "person file not found" in err and "nobody.png" in err


def test_empty_mask_is_an_error(files, capsys):
    d = files
    rc = main(["tryon", "--person", str(d / "person.png"), "--garment", str(d / "garment.png"), "--mask", str(d / "empty.png"),
               "--checkpoint", str(d / "tiny.safetensors"), "--steps", "1", "--out", str(d / "x.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "mask" in err and "is empty" in err and "paint the garment region" in err


def test_mask_of_another_size_warns(files, caplog):
    d = files
    with caplog.at_level(logging.WARNING, logger="twgtm"):
        rc = main(["tryoff", "--person", str(d / "person.png"), "--mask", str(d / "mask_big.png"), "--steps", "1",
                   "--checkpoint", str(d / "tiny.safetensors"), "--out", str(d / "y.png")])
    assert rc == 0 and "resized to the person's size" in caplog.text


def test_no_checkpoint_and_no_demo(files, capsys, monkeypatch):
    import twgtm.paths

    d = files
    monkeypatch.setattr(twgtm.paths, "DEMO_CHECKPOINT", d / "weights" / "twgtm-demo.safetensors")
    rc = main(["tryoff", "--person", str(d / "person.png"), "--out", str(d / "z.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "demo model is not at" in err and "--checkpoint" in err


def test_part_and_profile_options(files, tmp_path):
    """--base/--clip complete a small checkpoint (same image as the full one); --profile runs CatVTON-keyed weights."""
    from safetensors.torch import save_file

    from twgtm.families.profiles import profile_config
    from twgtm.model.network import TWGTM

    d = files
    torch.manual_seed(0)
    model = build_model("tiny")
    save_checkpoint(model, tmp_path / "small.safetensors",
                    parts=["unet", "qformer", "swin", "taskformer", "srm_decoder", "extended_attention"])
    model.unet.save_pretrained(tmp_path / "base" / "unet")
    model.vae.save_pretrained(tmp_path / "base" / "vae")
    save_file({k: v.contiguous() for k, v in model.sam.clip.state_dict().items()}, str(tmp_path / "clip.safetensors"))
    common = ["tryoff", "--person", d / "person.png", "--steps", 1, "--seed", 4]
    assert main([str(a) for a in [*common, "--checkpoint", d / "tiny.safetensors", "--out", tmp_path / "full.png"]]) == 0
    assert main([str(a) for a in [*common, "--checkpoint", tmp_path / "small.safetensors", "--base", tmp_path / "base",
                                  "--clip", tmp_path / "clip.safetensors", "--out", tmp_path / "small.png"]]) == 0
    assert Image.open(tmp_path / "full.png").tobytes() == Image.open(tmp_path / "small.png").tobytes()
    profile = TWGTM(profile_config("catvton", "tiny"))
    attn1 = torch.nn.ModuleList(m for name, m in profile.unet.named_modules() if name.endswith("attn1"))
    save_file({k: v.contiguous() for k, v in attn1.state_dict().items()}, str(tmp_path / "attention.safetensors"))
    profile.unet.save_pretrained(tmp_path / "sd15" / "unet")
    profile.vae.save_pretrained(tmp_path / "sd15" / "vae")
    rc = main([str(a) for a in ["tryon", "--person", d / "person.png", "--garment", d / "garment.png", "--mask",
                                d / "mask.png", "--profile", "catvton", "--preset", "tiny", "--checkpoint",
                                tmp_path / "attention.safetensors", "--base", tmp_path / "sd15", "--steps", 1,
                                "--out", tmp_path / "catvton.png"]])
    assert rc == 0 and Image.open(tmp_path / "catvton.png").size == (W, H)
