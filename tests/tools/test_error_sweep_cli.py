"""Bad input on every command line (`python -m twgtm`, `twgtm.eval`, `twgtm.eval.toy`) exits with code 2 and
one message, never a traceback. In process for speed; one real process per program checks the same."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from twgtm.cli import main as twgtm_main
from twgtm.data.toy import generate_toy_wardrobe
from twgtm.eval.__main__ import main as eval_main
from twgtm.eval.toy import main as toy_main
from twgtm.model.network import build_model
from twgtm.weights.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
H, W = 40, 24

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    """Weights, images and a toy wardrobe to point the commands at."""
    d = tmp_path_factory.mktemp("cli_sweep")
    torch.manual_seed(0)
    model = build_model("tiny")
    save_checkpoint(model, d / "tiny.safetensors")
    save_checkpoint(model, d / "partial.safetensors", parts=["unet", "qformer", "taskformer", "srm_decoder",
                                                             "extended_attention"])
    (d / "model.pt").write_bytes(b"\x80\x04 not a real pickle")
    (d / "junk.safetensors").write_bytes(b"\x00" * 64)
    save_file({"conv.weight": torch.zeros(2, 2)}, str(d / "foreign.safetensors"))
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(d / "person.png")
    mask = np.zeros((H, W), np.uint8)
    mask[8:30, 4:20] = 255
    Image.fromarray(mask, "L").save(d / "mask.png")
    Image.fromarray(np.zeros((H, W), np.uint8), "L").save(d / "blank.png")
    (d / "empty.png").write_bytes(b"")
    (d / "corrupt.png").write_bytes(rng.integers(0, 255, 300, dtype=np.uint8).tobytes())
    (d / "folder.png").mkdir()
    (d / "empty_dir").mkdir()
    (d / "a_file").write_text("not a folder")
    generate_toy_wardrobe(d / "toy", n=3, seed=0, size=(32, 24), test_fraction=0.34)
    (d / "job.csv").write_text(f"id,task,person,garment,mask\na,tryon,{d / 'person.png'},{d / 'person.png'},"
                               f"{d / 'mask.png'}\n")
    return d


def _run(main, argv, capsys) -> tuple[int, str]:
    """Exit status and stderr of one in-process command (argparse's own errors exit too)."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exit_:
        status = exit_.code
    return status, capsys.readouterr().err


def _fails(main, argv, capsys, *fragments):
    status, err = _run(main, argv, capsys)
    assert status == 2, (status, err)
    assert "Traceback" not in err and "error:" in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def _tryon(d, *extra, person="person.png", garment="person.png", mask="mask.png", ckpt="tiny.safetensors"):
    args = ["tryon", "--person", d / person, "--garment", d / garment, "--out", d / "out.png", "--steps", 1]
    if mask:
        args += ["--mask", d / mask]
    if ckpt:
        args += ["--checkpoint", d / ckpt]
    return args + list(extra)


@pytest.mark.parametrize("person, fragments", [
    ("missing.png", ["person file not found", "missing.png"]), ("folder.png", ["is a folder"]),
    ("empty.png", ["not a readable image", "empty.png"]), ("corrupt.png", ["not a readable image"]),
])
def test_bad_image_files(d, capsys, person, fragments):
    _fails(twgtm_main, _tryon(d, person=person), capsys, *fragments)
    _fails(twgtm_main, _tryon(d, garment=person), capsys, "garment file")
    _fails(twgtm_main, _tryon(d, mask=person), capsys, "mask file")


@pytest.mark.parametrize("ckpt, fragments", [
    ("missing.safetensors", ["not found"]), ("model.pt", ["pickle"]), ("junk.safetensors", ["not a safetensors file at all"]),
    ("foreign.safetensors", ["not a TWGTM checkpoint", "--profile"]),
    ("partial.safetensors", ["base parts ['vae', 'clip', 'swin']", "give --base", "give --clip", "give --swin"]),
    ("empty_dir", ["is a folder"]),
])
def test_bad_checkpoints(d, capsys, ckpt, fragments):
    _fails(twgtm_main, _tryon(d, ckpt=ckpt), capsys, *fragments)


def test_bad_sampling_options(d, capsys):
    cases = [
        (["--steps", 0], "steps must be between"), (["--scheduler", "plms"], "unknown scheduler"),
        (["--size", 0, 0], "--size: sizes must be positive"), (["--device", "gpu0"], "unknown device"), (["--device", "cuda:99"], "cuda:99"),
        (["--dtype", "fp8"], "invalid choice"), (["--category", "hats"], "invalid choice"),
        (["--steps", "many"], "invalid int value"), (["--out", d / "a_file" / "x.png"], "is a file, not a folder"),
    ]
    for extra, fragment in cases:
        _fails(twgtm_main, _tryon(d, *extra), capsys, fragment)
    _fails(twgtm_main, _tryon(d, mask="blank.png"), capsys, "is empty", "paint the garment region")


def test_an_output_that_cannot_be_written_is_refused_before_anything_loads(d, capsys):
    """Each command checks its output path first: the missing checkpoint would be the next error."""
    blocked, missing = d / "a_file" / "sub" / "out.png", d / "missing.safetensors"
    person = ["--person", d / "person.png"]
    for argv in (["tryon", *person, "--garment", d / "person.png"], ["tryoff", *person],
                 ["roundtrip", *person, "--target", d / "person.png"], ["demo"]):
        _fails(twgtm_main, [*argv, "--checkpoint", missing, "--out", blocked], capsys, f"--out {blocked}",
               "a_file is a file, not a folder")
    _fails(twgtm_main, ["demo", "--checkpoint", missing, "--out", d / "person.png"], capsys, "is a file, not a folder")
    _fails(twgtm_main, ["tryon", *person, "--garment", d / "person.png", "--checkpoint", missing, "--out",
                        d / "folder.png"], capsys, "is a folder; give a file path")
    a2a = ["a2a", "tryon", "--model", d / "person.png", "--garment", d / "person.png", "--flux", d / "nowhere"]
    _fails(twgtm_main, [*a2a, "--out", d / "result"], capsys, "names no image format")
    _fails(twgtm_main, [*a2a, "--out", blocked], capsys, "is a file, not a folder")
    data = ["--checkpoint", missing, "--dataset", "vitonhd", "--data-root", d / "toy", "--no-progress"]
    _fails(eval_main, [*data, "--out", d / "a_file"], capsys, "--out", "is a file, not a folder")
    _fails(eval_main, [*data, "--out", d / "eval", "--json", d / "a_file" / "r.json"], capsys, "--json")
    _fails(toy_main, ["--checkpoint", missing, "--data", d / "toy", "--json", d / "a_file" / "r.json"], capsys, "--json")
    assert not (d / "a_file").is_dir() and not (d / "eval").exists()  # nothing was created on the way


def test_bad_part_and_profile_options(d, capsys):
    partial = dict(ckpt="partial.safetensors")
    _fails(twgtm_main, _tryon(d, "--base", d / "nowhere", **partial), capsys, "not found", "nowhere")
    _fails(twgtm_main, _tryon(d, "--base", d / "empty_dir", **partial), capsys, "no vae/ folder")
    _fails(twgtm_main, _tryon(d, "--clip", d / "foreign.safetensors", **partial), capsys, "unexpected keys")
    _fails(twgtm_main, _tryon(d, "--swin", d / "empty_dir", **partial), capsys, "no model.safetensors")
    _fails(twgtm_main, _tryon(d, "--profile", "idm-vton"), capsys, "catvton", "tryoffanyone")
    _fails(twgtm_main, _tryon(d, "--profile", "catvton"), capsys, "--base (SD1.5-inpainting base, one original-format "
           "file): not given", "models fetch sd15-inpainting --dest models")


def test_bad_tryoff_roundtrip_demo_info(d, capsys):
    person, ckpt = d / "person.png", d / "tiny.safetensors"
    _fails(twgtm_main, ["tryoff", "--person", person, "--mask-mode", "square", "--out", d / "o.png"], capsys,
           "invalid choice")
    _fails(twgtm_main, ["tryoff", "--person", person, "--mask", d / "missing.png", "--checkpoint", ckpt,
                        "--out", d / "o.png"], capsys, "mask file not found")
    _fails(twgtm_main, ["roundtrip", "--person", person, "--target", d / "missing.png", "--out", d / "o.png"],
           capsys, "person B file not found")
    _fails(twgtm_main, ["roundtrip", "--person", person, "--target", person, "--target-mask", d / "blank.png",
                        "--checkpoint", ckpt, "--steps", 1, "--out", d / "o.png"], capsys, "is empty")
    _fails(twgtm_main, ["demo", "--count", 0, "--checkpoint", ckpt, "--out", d / "demo"], capsys,
           "--count must be between 1 and")
    _fails(twgtm_main, ["demo", "--steps", 0, "--checkpoint", ckpt, "--count", 1, "--out", d / "demo"], capsys,
           "steps must be between")
    _fails(twgtm_main, ["demo", "--checkpoint", d / "junk.safetensors", "--out", d / "demo"], capsys, "not a safetensors file at all")
    _fails(twgtm_main, ["info", "--preset", "huge"], capsys, "unknown preset")
    _fails(twgtm_main, ["dance"], capsys, "invalid choice")


def test_bad_eval_commands(d, capsys):
    pred, gt = d / "toy" / "test" / "image", d / "toy" / "test" / "cloth"
    data = ["--checkpoint", d / "tiny.safetensors", "--dataset", "vitonhd", "--data-root", d / "toy",
            "--out", d / "eval_out", "--metrics", "ssim", "--limit", 1, "--steps", 1, "--size", "32x24"]
    cases = [
        ([], "give --pred, --gt"), (["--pred", pred], "missing --gt"),
        (["--pred", d / "nowhere", "--gt", gt], "not a folder"), (["--pred", pred, "--gt", gt, "--metrics", "psnr"],
                                                                  "unknown metrics"),
        (["--pred", pred, "--gt", gt, "--size", "big"], "is not HxW"),
        (["--pred", pred, "--gt", gt, "--device", "tpu"], "unknown device"),
        (["--pred", pred, "--gt", gt, "--metrics", "ssim", "--batch-size", 0], "batch_size"),
        (["--pred", pred, "--gt", gt, "--checkpoint", d / "tiny.safetensors"], "not both"),
        (["--pred", pred, "--gt", gt, "--dataset", "imagenet"], "invalid choice"),
        ([*data[:5], d / "nowhere", *data[6:]], "nowhere"),
        ([*data, "--limit", 0], "at least 1"),
        (["--checkpoint", d / "junk.safetensors", *data[2:]], "not a safetensors file at all"),
        ([*data, "--task", "roundtrip"], "invalid choice"),
    ]
    for argv, fragment in cases:
        _fails(eval_main, ["--no-progress", *argv], capsys, fragment)
    toy = ["--checkpoint", d / "tiny.safetensors", "--data", d / "toy", "--n", 1, "--steps", 1, "--no-progress"]
    _fails(toy_main, [*toy[:3], d / "empty_dir", *toy[4:]], capsys, "no person images")
    _fails(toy_main, ["--checkpoint", d / "model.pt", *toy[2:]], capsys, "pickle")
    _fails(toy_main, [*toy, "--device", "gpu0"], capsys, "unknown device")
    _fails(toy_main, [*toy, "--size", "0x5"], capsys, "must be positive")
    _fails(toy_main, [*toy, "--dtype", "fp8"], capsys, "invalid choice")
    _fails(toy_main, [*toy, "--mask-mode", "square"], capsys, "invalid choice")


@pytest.mark.slow  # a Python process of its own
def test_real_processes_print_one_message(d):
    """The programs as users run them: exit status 2, one `error:` message, no traceback."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    runs = {
        "twgtm": ["tryoff", "--person", d / "person.png", "--checkpoint", d / "partial.safetensors", "--out", d / "o.png"],
        "twgtm.eval": ["--pred", d / "nowhere", "--gt", d / "nowhere"],
        "twgtm.eval.toy": ["--checkpoint", d / "junk.safetensors", "--data", d / "toy", "--no-progress"],
    }
    procs = {name: subprocess.Popen([sys.executable, "-m", name, *map(str, argv)], cwd=ROOT, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE) for name, argv in runs.items()}
    for name, proc in procs.items():
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, (name, err)
        assert "Traceback" not in err and err.count("error: ") == 1, (name, err)


# ----- every flag of every command -----------------------------------------------------------------
def _flags():
    """(command path, argparse action) for every flag of `python -m twgtm`, read from its parsers."""
    import argparse

    from twgtm.cli import COMMANDS

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*path, name])
            elif action.option_strings and not isinstance(action, argparse._HelpAction):
                yield tuple(path), action

    root = argparse.ArgumentParser()
    sub = root.add_subparsers()
    for name, (_help, build) in COMMANDS.items():
        build(sub.add_parser(name))
    return list(walk(root, []))


def _base(d, command: tuple) -> list:
    """A command line every check accepts (the checkpoint and the FLUX folder are never loaded here)."""
    person, ckpt = d / "person.png", ["--checkpoint", d / "tiny.safetensors"]
    lines = {
        ("info",): [],
        ("tryon",): ["--person", person, "--garment", person, "--mask", d / "mask.png", "--out", d / "o.png", *ckpt],
        ("tryoff",): ["--person", person, "--out", d / "o.png", *ckpt],
        ("roundtrip",): ["--person-a", person, "--person-b", person, "--out", d / "o.png", *ckpt],
        ("demo",): ["--out", d / "demo_out", *ckpt],
        ("batch",): [d / "job.csv", "--out", d / "batch_out", *ckpt],
        ("models", "list"): [],
        ("models", "fetch"): ["sd-vae-ft-mse"],
    }
    if command[0] == "a2a":
        parts = {"tryon": ["--person", person, "--garment", person], "modelfree": ["--garment", person],
                 "reconstruct": ["--person", person], "layered": ["--person", person, "--garment", person]}
        return [*parts[command[1]], "--out", d / "o.png", "--flux", d / "empty_dir"]
    return lines[command]


def _bad_flag_values(d, action) -> list:
    """Out-of-vocabulary, NaN / inf, negative, huge and wrong-type values for one flag."""
    if action.nargs == 0:
        return []  # a switch
    if action.choices is not None:
        return ["no-such-value", "12"]
    if action.type in (int, float):
        values = ["nan", "inf", "-5", "1e30" if action.type is float else "99999999999999999999999", "abc"]
        return [[v, v] for v in values] if action.nargs == 2 else values
    if action.dest in ("out", "dest"):
        return [d / "a_file" / "o.png", d / ("x" * 300), ""]
    if action.dest in ("prompt", "revision"):  # free text: any name may be a real one
        return ["", "a\x00b", "x" * 5000]
    return ["no-such-value", "", "nan", "-1", d / ("x" * 300)]


def test_every_flag_of_every_command_refuses_bad_values_naming_the_flag(d, capsys, monkeypatch):
    """Every flag of every command, read from the CLI's own parsers (a new flag is swept without a change here),
    with bad values: each ends in exit status 2 with one message that names the flag, no traceback."""
    from twgtm.validate import cli_rule

    monkeypatch.chdir(d)  # a value that got through would write its outputs here, not in the repository

    flags = _flags()
    assert len(flags) > 150
    unruled = sorted({(command, action.dest) for command, action in flags
                      if action.choices is None and cli_rule(action.dest, command[0] == "a2a") is None})
    assert not unruled, f"flags with no rule in twgtm.validate (add one): {unruled}"
    failures, tried = [], 0
    for command, action in flags:
        flag = action.option_strings[0]  # the name errors use (the others are former names)
        for value in _bad_flag_values(d, action):
            values = value if isinstance(value, list) else [value]
            argv = [*command, *_base(d, command), flag, *values]
            tried += 1
            status, err = _run(twgtm_main, argv, capsys)
            if status != 2 or "Traceback" in err or "error:" not in err or flag not in err:
                failures.append((" ".join(command), flag, repr(value)[:60], status, err[-300:]))
    assert tried > 500 and not failures, "\n".join(map(str, failures[:30])) + f"\n({len(failures)} of {tried})"


def test_documented_cli_coercions(d, capsys):
    """What the command line turns into something else, as docs/inputs.md says: an --out of another suffix is
    written as PNG; scheduler and category spellings map to their names."""
    out = d / "coerced.jpg"
    status, err = _run(twgtm_main, _tryon(d, "--scheduler", "DPM++", "--prompt", "upper_body", "--out", out), capsys)
    assert status == 0, err
    assert (d / "coerced.png").is_file() and not out.exists()
