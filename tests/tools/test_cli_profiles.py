"""CLI with public weights: --profile catvton / tryoffanyone, --weights, --base, --vae, --mask auto --parser, and the
two-model round trip, on random-weight files with the real key layouts."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from twgtm.cli import main
from twgtm.families.preprocess import aspect_crop_box

from ..support.profile_files import (random_modules, write_base_file, write_catvton_file, write_tiny_parser,
                                     write_tryoffanyone_file, write_vae_file)

ROOT = Path(__file__).resolve().parents[2]
H, W = 150, 70  # the person; the reduced models sample it at 128×64
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_profiles")
    unet, vae = random_modules(2)
    write_base_file(d / "sd15-inpainting.safetensors", unet, vae)
    write_vae_file(d / "vae-ft-mse.safetensors", random_modules(4)[1])
    write_catvton_file(d / "CatVTON" / "mix-48k-1024" / "attention" / "model.safetensors")
    write_tryoffanyone_file(d / "tryOffAnyone" / "model.safetensors")
    write_tiny_parser(d / "segformer_b3_clothes", "Upper-clothes")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(d / "person.png")
    Image.fromarray(rng.integers(0, 255, (60, 50, 3), dtype=np.uint8)).save(d / "garment.png")
    mask = np.zeros((H, W), np.uint8)
    mask[40:110, 15:55] = 255
    Image.fromarray(mask, "L").save(d / "mask.png")
    return d


def _files(d, profile):
    weights = {"catvton": d / "CatVTON" / "mix-48k-1024" / "attention" / "model.safetensors",
               "tryoffanyone": d / "tryOffAnyone" / "model.safetensors"}[profile]
    return ["--profile", profile, "--weights", weights, "--base", d / "sd15-inpainting.safetensors"]


def _main(*argv) -> int:
    return main([str(a) for a in argv])


def test_catvton_tryon_with_a_separate_vae_and_raw_output(d, capsys):
    common = ["tryon", "--person", d / "person.png", "--garment", d / "garment.png", "--mask", d / "mask.png",
              *_files(d, "catvton"), "--vae", d / "vae-ft-mse.safetensors", "--steps", 2, "--seed", 5]
    assert _main(*common, "--out", d / "on.png") == 0
    assert _main(*common, "--raw", "--out", d / "on_raw.png") == 0
    assert Image.open(d / "on.png").size == (W, H) and Image.open(d / "on_raw.png").size == (64, 128)
    person, out = np.array(Image.open(d / "person.png")), np.array(Image.open(d / "on.png"))
    assert aspect_crop_box(W, H, (128, 64)) == (0, 5, 70, 145)  # CatVTON's centre crop of the person
    assert np.array_equal(out[:5], person[:5]) and np.array_equal(out[145:], person[145:])
    assert not np.array_equal(out[5:145], person[5:145])
    assert "on_raw.png" in capsys.readouterr().out


def test_automatic_masks_need_a_parser_and_use_it(d, capsys):
    base = ["tryon", "--person", d / "person.png", "--garment", d / "garment.png", *_files(d, "catvton"), "--steps", 1]
    assert _main(*base, "--mask", "auto", "--out", d / "x.png") == 2
    err = capsys.readouterr().err
    assert "--parser (SegFormer clothes parser (automatic masks)): not given" in err
    assert "python -m twgtm models fetch segformer-b3-clothes --dest models" in err
    assert _main(*base, "--mask", "auto", "--parser", d / "segformer_b3_clothes", "--out", d / "auto.png") == 0
    off = ["tryoff", "--person", d / "person.png", *_files(d, "tryoffanyone"), "--steps", 1, "--mask", "auto",
           "--parser", d / "segformer_b3_clothes", "--out", d / "off.png"]
    assert _main(*off) == 0
    assert Image.open(d / "off.png").size == (W, H) and np.array(Image.open(d / "off_mask.png")).min() == 255


def test_every_missing_file_is_named_at_once_with_the_fetch_command(d, capsys):
    """Not one file per run: the weights, base, VAE and parser a command lacks, in one message, before any loading."""
    assert _main("tryon", "--person", d / "person.png", "--garment", d / "garment.png", "--profile", "catvton",
                 "--weights", d / "gone" / "model.safetensors", "--vae", d / "gone" / "vae.safetensors",
                 "--mask", "auto", "--out", d / "no.png") == 2
    err = capsys.readouterr().err
    assert "4 model files are missing" in err
    assert f"--weights (CatVTON try-on weights (mix-48k-1024, the attn1 layers)): '{d / 'gone' / 'model.safetensors'}' " \
           f"not found in {d / 'gone'}{os.sep}" in err
    assert "--base (SD1.5-inpainting base, one original-format file): not given" in err
    assert "--vae (sd-vae-ft-mse VAE" in err and "--parser (SegFormer clothes parser" in err
    assert ("python -m twgtm models fetch catvton sd15-inpainting sd-vae-ft-mse segformer-b3-clothes --dest models "
            "--accept-licence") in err
    assert ("then give: --weights models/catvton/mix-48k-1024/attention/model.safetensors --base "
            "models/sd-v1-5-inpainting.safetensors --vae models/vae-ft-mse-840000-ema-pruned.safetensors "
            "--parser models/parsers/segformer_b3_clothes") in err and "CC BY-NC-SA 4.0" in err
    assert _main("roundtrip", "--person", d / "person.png", "--target", d / "person.png", "--tryoff-profile",
                 "tryoffanyone", "--tryon-profile", "catvton", "--tryon-weights", _files(d, "catvton")[3],
                 "--base", d / "sd15-inpainting.safetensors", "--out", d / "no.png") == 2
    err = capsys.readouterr().err
    assert "a model file is missing" in err and "--tryoff-weights (TryOffAnyone try-off weights" in err
    assert "python -m twgtm models fetch tryoffanyone --dest models --accept-licence" in err


def test_each_profile_refuses_the_other_task(d, capsys):
    assert _main("tryoff", "--person", d / "person.png", "--mask", d / "mask.png", *_files(d, "catvton"),
                 "--out", d / "no.png") == 2
    err = capsys.readouterr().err
    assert "profile catvton does try-on only" in err and "tryoffanyone's model.safetensors" in err
    assert _main("tryon", "--person", d / "person.png", "--garment", d / "garment.png", "--mask", d / "mask.png",
                 *_files(d, "tryoffanyone"), "--out", d / "no.png") == 2
    assert "profile tryoffanyone does try-off only" in capsys.readouterr().err
    assert _main("tryoff", "--person", d / "person.png", *_files(d, "tryoffanyone"), "--out", d / "no.png") == 2
    assert "give its garment mask" in capsys.readouterr().err


def test_public_roundtrip_and_a_pair_in_the_wrong_order(d, capsys):
    def pair(off, on):
        return ["--tryoff-profile", off, "--tryoff-weights", _files(d, off)[3], "--tryon-profile", on,
                "--tryon-weights", _files(d, on)[3], "--base", d / "sd15-inpainting.safetensors"]
    common = ["roundtrip", "--person", d / "person.png", "--target", d / "person.png", "--person-mask", d / "mask.png",
              "--target-mask", "auto", "--parser", d / "segformer_b3_clothes", "--steps", 1]
    assert _main(*common, *pair("tryoffanyone", "catvton"), "--out", d / "rt.png") == 0
    assert Image.open(d / "rt.png").size == (W, H) and Image.open(d / "rt_garment.png").size == (W, H)
    assert _main(*common, *pair("catvton", "tryoffanyone"), "--out", d / "rt2.png") == 2
    assert "wrong order" in capsys.readouterr().err


@pytest.mark.slow  # a Python process of its own
def test_published_defaults_in_a_real_process(d):
    """Without --steps a profile runs its project's 50 steps (the bar counts them); one message on a bad base."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    run = lambda *argv: subprocess.run([sys.executable, "-m", "twgtm", *map(str, argv)], cwd=ROOT, env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    out = run("tryoff", "--person", d / "person.png", "--mask", d / "mask.png", *_files(d, "tryoffanyone"),
              "--size", 64, 64, "--out", d / "fifty.png")
    assert out.returncode == 0, out.stderr
    assert "50/50" in out.stderr
    bad = run("tryoff", "--person", d / "person.png", "--mask", d / "mask.png", "--profile", "tryoffanyone",
              "--weights", _files(d, "tryoffanyone")[3], "--base", d / "vae-ft-mse.safetensors", "--out", d / "x.png")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "holds no SD UNet" in bad.stderr
