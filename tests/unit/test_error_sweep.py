"""Bad input at every public library entry point ends as a TWGTMError subclass whose message says what to do.

Each case runs the real function on files or tensors made here and expects one of our errors with a
telling fragment; any other exception (ValueError, KeyError, a torch RuntimeError) fails the test.
The command lines are swept in tests/tools/test_error_sweep_cli.py.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from twgtm import load_model
from twgtm.data import build_dataset
from twgtm.data.toy import generate_toy_wardrobe
from twgtm.errors import CheckpointError, ConfigError, DataError, InputError, MetricUnavailable, TWGTMError
from twgtm.eval import evaluate_folders
from twgtm.families.profiles import load_profile, profile_config
from twgtm.metrics import ComplexSteerablePyramid, LPIPSNet, build_lpips, cw_ssim, evaluate_pairs, ms_ssim, ssim
from twgtm.metrics.frechet import frechet_distance
from twgtm.metrics.hf_models import load_dino
from twgtm.model.network import TWGTM, build_model
from twgtm.pixels import load_image, load_mask, save_image
from twgtm.weights.base_parts import load_clip, load_swin, load_unet_vae
from twgtm.weights.checkpoint import load_checkpoint, read_metadata, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

H, W = 40, 24
TRAINED_ONLY = ["unet", "qformer", "taskformer", "srm_decoder", "extended_attention"]


def _with_metadata(src, dst, **changes):
    """A copy of checkpoint `src` with some metadata entries replaced."""
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    meta.update(changes)
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good and bad weights, images and folders, all written here."""
    d = tmp_path_factory.mktemp("sweep")
    torch.manual_seed(0)
    model = build_model("tiny")
    f = {"dir": d, "model": model, "ckpt": save_checkpoint(model, d / "tiny.safetensors")}
    f["partial"] = save_checkpoint(model, d / "partial.safetensors", parts=TRAINED_ONLY)
    f["base_only"] = save_checkpoint(model, d / "base_only.safetensors", parts=["unet", "vae", "clip", "swin"])
    (d / "model.pt").write_bytes(b"\x80\x04 not a real pickle")
    (d / "junk.safetensors").write_bytes(b"\x00" * 64)
    data = f["ckpt"].read_bytes()
    (d / "cut.safetensors").write_bytes(data[: len(data) // 2])
    save_file({"conv.weight": torch.zeros(2, 2)}, str(d / "foreign.safetensors"))
    _with_metadata(f["ckpt"], d / "future.safetensors", format_version="99")
    _with_metadata(f["ckpt"], d / "bad_version.safetensors", format_version="one")
    _with_metadata(f["ckpt"], d / "bad_config.safetensors", config="{not json")
    _with_metadata(f["ckpt"], d / "odd_config.safetensors", config=json.dumps({"wings": 2}))
    _with_metadata(f["ckpt"], d / "bad_parts.safetensors", parts=json.dumps(["wings"]))
    (d / "empty_dir").mkdir()
    base = TWGTM(profile_config("catvton", "tiny"))
    base.unet.save_pretrained(d / "sd15" / "unet")
    base.vae.save_pretrained(d / "sd15" / "vae")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(d / "rgb.png")
    Image.fromarray(rng.integers(0, 255, (H, W), dtype=np.uint8), "L").save(d / "grey.png")
    Image.fromarray(rng.integers(0, 255, (H, W, 4), dtype=np.uint8), "RGBA").save(d / "rgba.png")
    (d / "empty.png").write_bytes(b"")
    (d / "corrupt.png").write_bytes(rng.integers(0, 255, 300, dtype=np.uint8).tobytes())
    png = (d / "rgb.png").read_bytes()
    (d / "truncated.png").write_bytes(png[: len(png) // 2])
    (d / "folder.png").mkdir()
    return f


def _expect(error, fragment, call):
    """`call()` raises `error` (a TWGTMError subclass) with `fragment` in its message."""
    assert issubclass(error, TWGTMError)
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value), str(caught.value)
    return str(caught.value)


# ----- weights: load_model and the loaders under it ----------------------------------------------
CHECKPOINT_FILES = [
    ("missing.safetensors", "not found"), ("empty_dir", "is a folder"), ("model.pt", "pickle"),
    ("junk.safetensors", "not a safetensors file at all"), ("cut.safetensors", "cut short"),
    ("foreign.safetensors", "not a TWGTM checkpoint"), ("future.safetensors", "format version 99"),
    ("bad_version.safetensors", "format_version 'one'"), ("bad_config.safetensors", "model config is damaged"),
    ("odd_config.safetensors", "model config is damaged"), ("bad_parts.safetensors", "'parts' list is damaged"),
]


@pytest.mark.parametrize("name, fragment", CHECKPOINT_FILES)
def test_bad_checkpoint_files(files, name, fragment):
    path = files["dir"] / name
    message = _expect(CheckpointError, fragment, lambda: load_model(path))
    assert name in message
    _expect(CheckpointError, fragment, lambda: load_checkpoint(path))
    if name not in ("bad_config.safetensors", "odd_config.safetensors", "bad_parts.safetensors"):
        _expect(CheckpointError, fragment, lambda: read_metadata(path))


def test_missing_base_parts_name_file_folder_parts_and_options(files):
    message = _expect(CheckpointError, "base parts ['vae', 'clip', 'swin']", lambda: load_model(files["partial"]))
    assert "partial.safetensors" in message and str(files["dir"]) in message
    assert "give base=" in message and "give clip=" in message and "give swin=" in message
    named = _expect(CheckpointError, "--base", lambda: load_model(
        files["partial"], option_names={"base": "--base", "clip": "--clip", "swin": None}))
    assert "swin: no option here supplies it" in named
    _expect(CheckpointError, "trained parts ['qformer', 'taskformer', 'srm_decoder', 'extended_attention']",
            lambda: load_model(files["base_only"]))


def test_bad_base_files(files):
    d, partial = files["dir"], files["partial"]
    _expect(CheckpointError, "not found", lambda: load_model(partial, base=d / "nowhere"))
    _expect(CheckpointError, "no vae/ folder", lambda: load_model(partial, base=d / "empty_dir"))
    _expect(CheckpointError, "first_stage_model", lambda: load_model(partial, base=d / "foreign.safetensors"))
    _expect(CheckpointError, "pickle", lambda: load_model(partial, base=d / "model.pt"))
    _expect(CheckpointError, "config.json", lambda: load_model(partial, clip=d / "empty_dir"))
    _expect(CheckpointError, "unexpected keys: conv.weight", lambda: load_model(partial, clip=d / "foreign.safetensors"))
    _expect(CheckpointError, "no model.safetensors", lambda: load_model(partial, swin=d / "empty_dir"))
    _expect(CheckpointError, "not a safetensors file at all", lambda: load_swin(files["model"], d / "junk.safetensors"))
    _expect(CheckpointError, "missing keys", lambda: load_clip(files["model"], d / "foreign.safetensors"))
    _expect(CheckpointError, "no unet/ folder", lambda: load_unet_vae(files["model"], d / "empty_dir"))


def test_bad_profiles_presets_devices_and_dtypes(files):
    d = files["dir"]
    _expect(ConfigError, "catvton", lambda: load_model(d / "x.safetensors", profile="idm-vton", base=d / "sd15"))
    _expect(CheckpointError, "weights= (CatVTON try-on weights", lambda: load_model(profile="catvton", base=d / "sd15"))
    _expect(CheckpointError, "then give: base=", lambda: load_model(files["ckpt"], profile="catvton", preset="tiny"))
    _expect(CheckpointError, "not a CatVTON attention file",
            lambda: load_model(files["ckpt"], profile="catvton", base=d / "sd15", preset="tiny"))
    _expect(CheckpointError, "not a TryOffAnyone file",
            lambda: load_profile("tryoffanyone", files["ckpt"], d / "sd15", base="tiny"))
    _expect(ConfigError, "unknown preset", lambda: load_model(preset="huge"))
    _expect(CheckpointError, "mis-shaped keys", lambda: load_model(files["ckpt"], preset="demo"))
    _expect(ConfigError, "unknown device", lambda: load_model(files["ckpt"], device="gpu0"))
    _expect(ConfigError, "cuda:99", lambda: load_model(files["ckpt"], device="cuda:99"))
    _expect(ConfigError, "fp32", lambda: load_model(files["ckpt"], dtype="fp8"))
    _expect(ConfigError, "unknown dtype", lambda: load_checkpoint(files["ckpt"], dtype="int8"))
    _expect(CheckpointError, ".safetensors", lambda: save_checkpoint(files["model"], d / "out.pt"))
    _expect(CheckpointError, "unknown parts", lambda: save_checkpoint(files["model"], d / "o.safetensors", parts=["wings"]))


# ----- pixel files ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, fragment", [("missing.png", "not found"), ("folder.png", "is a folder"),
                                            ("empty.png", "not a readable image"), ("corrupt.png", "not a readable image"),
                                            ("truncated.png", "not a readable image")])
def test_bad_image_files(files, name, fragment):
    path = files["dir"] / name
    assert name in _expect(InputError, fragment, lambda: load_image(path, "person"))
    _expect(InputError, fragment, lambda: load_mask(path))


def test_grey_and_rgba_files_convert_and_unwritable_outputs_fail(files):
    d = files["dir"]
    grey, rgba = load_image(d / "grey.png"), load_image(d / "rgba.png")
    assert grey.shape == rgba.shape == (1, 3, H, W) and torch.equal(grey[:, 0], grey[:, 2])
    _expect(InputError, "cannot write", lambda: save_image(grey[0], d / "rgb.png" / "out.png"))
    _expect(InputError, "3×H×W", lambda: save_image(torch.zeros(2, 5, 5), d / "x.png"))


# ----- the pipeline --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipe(files):
    return load_model(files["ckpt"])


def _inputs(batch=1):
    g = torch.Generator().manual_seed(2)
    person = torch.rand(batch, 3, H, W, generator=g) * 2 - 1
    mask = torch.zeros(batch, 1, H, W)
    mask[:, :, 8:30, 4:20] = 1
    return person, person.flip(-1), mask


def test_pipeline_tryon_bad_inputs(pipe):
    person, garment, mask = _inputs()
    run = dict(steps=1)
    cases = [
        (InputError, "B×3×H×W", lambda: pipe.tryon(person[:, :1], garment, mask, **run)),  # grey
        (InputError, "B×3×H×W", lambda: pipe.tryon(torch.cat([person, mask], 1), garment, mask, **run)),  # RGBA
        (InputError, "B×3×H×W", lambda: pipe.tryon(person[0], garment, mask, **run)),
        (InputError, "B×3×H×W", lambda: pipe.tryon(person.numpy(), garment, mask, **run)),
        (InputError, "garment", lambda: pipe.tryon(person, garment[:, :1], mask, **run)),
        (InputError, "is empty", lambda: pipe.tryon(torch.zeros(1, 3, 0, 0), garment, torch.zeros(1, 1, 0, 0), **run)),
        (InputError, "is empty", lambda: pipe.tryon(person, garment, torch.zeros_like(mask), **run)),
        (InputError, "resize the mask", lambda: pipe.tryon(person, garment, mask[..., :10], **run)),
        (InputError, "B×1×H×W", lambda: pipe.tryon(person, garment, mask[:, 0], **run)),
        (InputError, "person batch is 2", lambda: pipe.tryon(torch.cat([person, person]), torch.cat([garment] * 3),
                                                              mask, **run)),
        (InputError, "prompt is empty", lambda: pipe.tryon(person, garment, mask, prompt=" ", **run)),
        (InputError, "prompt has 2 entries", lambda: pipe.tryon(person, garment, mask, prompt=["upper", "dress"], **run)),
        (ConfigError, "steps must be between", lambda: pipe.tryon(person, garment, mask, steps=0)),
        (ConfigError, "unknown scheduler", lambda: pipe.tryon(person, garment, mask, scheduler="plms", **run)),
        (ConfigError, "size height must be between 1 and", lambda: pipe.tryon(person, garment, mask, size=(0, 8), **run)),
        (InputError, "seed has 3 entries", lambda: pipe.tryon(person, garment, mask, seed=[1, 2, 3], **run)),
    ]
    for error, fragment, call in cases:
        _expect(error, fragment, call)


def test_pipeline_tryoff_and_roundtrip_bad_inputs(pipe):
    person, _, mask = _inputs()
    two = torch.cat([person, person])
    _expect(ConfigError, "mask_mode", lambda: pipe.tryoff(person, mask_mode="square", steps=1))
    _expect(InputError, "resize the mask", lambda: pipe.tryoff(person, mask=mask[..., :10, :], steps=1))
    _expect(InputError, "B×3×H×W", lambda: pipe.tryoff(person[:, :2], steps=1))
    _expect(InputError, "prompt is empty", lambda: pipe.tryoff(person, prompt="", steps=1))
    _expect(InputError, "person_b", lambda: pipe.roundtrip(two, torch.cat([person] * 3), steps=1))
    _expect(InputError, "is empty", lambda: pipe.roundtrip(person, mask_b=torch.zeros_like(mask), steps=1))
    _expect(ConfigError, "mask_mode", lambda: pipe.roundtrip(person, mask_mode="none", steps=1))


# Values no sampling argument may take silently: NaN, inf, negative, huge, wrong type, out of vocabulary.
BAD_ARGUMENTS = {
    "steps": [float("nan"), float("inf"), -1, 0, 10 ** 6, 2.5, "30", True],
    "guidance": [float("nan"), float("inf"), -1.0, 0.5, 1e9, "2.5"],
    "seed": [float("nan"), -1, 2 ** 64, 1.5, "7", [1, float("nan")]],
    "scheduler": ["plms", "", 3],
    "size": [(float("nan"), 64), (-8, 64), (10 ** 6, 64), "64x48", (64,), (64, 48, 3)],
    "repaint_blur": [float("nan"), -5, 10 ** 9, "3"],
    "prompt": ["", "   ", "a\x00b", "x" * 200, 5, ["upper", ""]],
}


@pytest.mark.parametrize("argument", sorted(BAD_ARGUMENTS))
def test_every_sampling_argument_refuses_bad_values_naming_it(pipe, argument):
    """The Python API (and the batch path through it): each bad value is an error naming the argument."""
    person, garment, mask = _inputs()
    for value in BAD_ARGUMENTS[argument]:
        with pytest.raises(TWGTMError) as caught:
            pipe.tryon(person, garment, mask, **{"steps": 1, argument: value})
        assert argument in str(caught.value), (value, str(caught.value))


@pytest.fixture(scope="module")
def family_pipes(tmp_path_factory):
    """A pipeline of every family on tiny random weights: CatVTON, TryOffAnyone, Any2AnyTryon."""
    from tests.support.a2a_tiny import write_flux_folder
    from twgtm.families.profile_pipeline import ProfilePipeline
    from twgtm.model.config import get_preset

    torch.manual_seed(0)
    profile = {name: ProfilePipeline(build_model(get_preset("tiny").replace(profile=name)))
               for name in ("catvton", "tryoffanyone")}
    a2a = load_model(family="a2a", flux=str(write_flux_folder(tmp_path_factory.mktemp("flux"))), dtype="fp32")
    return {**profile, "a2a": a2a}


# Bad values every family refuses, by argument (a family's own range: Any2AnyTryon's guidance is FLUX's, 0-30).
FAMILY_BAD = {"steps": [0, float("nan"), 2.5], "guidance": [float("nan"), -1.0, 1e9], "seed": [-1, float("nan")],
              "size": [(float("nan"), 64), (10 ** 6, 64)], "prompt": ["a\x00b", 5]}


def _family_calls(pipes):
    """(pipeline, verb, its images and masks) for every verb each family does."""
    person, garment, mask = _inputs()
    big = torch.rand(1, 3, 64, 48) * 2 - 1
    a2a = pipes["a2a"]
    return [(pipes["catvton"], "tryon", dict(person=person, garment=garment, mask=mask)),
            (pipes["tryoffanyone"], "tryoff", dict(person=person, mask=mask)),
            (a2a, "tryon", dict(person=big, garment=big)), (a2a, "tryoff", dict(person=big)),
            (a2a, "roundtrip", dict(person_a=big)), (a2a, "modelfree", dict(garment=big)),
            (a2a, "reconstruct", dict(person=big)), (a2a, "layered", dict(person=big, garment=big))]


def test_every_family_checks_every_verb_before_any_work(family_pipes):
    """Profiles and Any2AnyTryon: each verb refuses bad images, masks, steps, guidance, seeds, sizes and prompts
    with an error naming the argument, before anything runs (a check that ran the model would take minutes)."""
    nan = torch.full((1, 3, H, W), float("nan"))
    for pipe, verb, images in _family_calls(family_pipes):
        call = getattr(pipe, verb)
        for name in images:
            _expect(InputError, f"{name} holds NaN", lambda: call(**{**images, name: nan[:, :1] if "mask" in name
                                                                     else nan}))
        for name, values in FAMILY_BAD.items():
            if name == "prompt" and verb == "roundtrip":
                continue  # Any2AnyTryon's round trip takes each task's own prompt
            for value in values:
                with pytest.raises(TWGTMError) as caught:
                    call(**images, **{name: value})
                assert name in str(caught.value), (pipe.family, verb, name, value, str(caught.value))
    person, garment, mask = _inputs()
    _expect(InputError, "mask is empty", lambda: family_pipes["catvton"].tryon(person, garment, torch.zeros_like(mask)))
    _expect(InputError, "reads no text prompt", lambda: family_pipes["tryoffanyone"].tryoff(person, mask=mask,
                                                                                           prompt="red shirt"))
    _expect(ConfigError, "guidance must be between 0.0 and 30.0", lambda: family_pipes["a2a"].run(
        "tryon", person=person, garment=garment, guidance=31))


def test_a_new_family_s_verbs_are_checked_without_a_line_of_checking_code():
    """Any Pipeline subclass gets the checks on each verb it defines (its own rules: `call_rules`)."""
    from twgtm.verbs import Pipeline

    class Echo(Pipeline):
        family = "echo"

        def modelfree(self, garment, **options):
            return garment

    person, garment, _ = _inputs()
    assert Echo().modelfree(garment, steps=3, seed=[1]) is garment
    _expect(InputError, "garment must be a B×3×H×W", lambda: Echo().modelfree(garment[0]))
    _expect(ConfigError, "steps must be between", lambda: Echo().modelfree(garment, steps=0))
    _expect(ConfigError, "seed[1] must be between 0", lambda: Echo().modelfree(garment, seed=[1, -2]))


def test_bad_tensors_are_refused_before_any_work(pipe):
    """NaN / inf pixels, pixels of another scale, a decompression-bomb size (a view: no memory), a tiny image,
    an empty try-off mask, a mask too small for one latent cell, masks of another scale."""
    person, garment, mask = _inputs()
    nan = person.clone()
    nan[0, 0, 0, 0] = float("nan")
    cases = [
        ("person holds NaN or infinite values", lambda: pipe.tryon(nan, garment, mask, steps=1)),
        ("garment holds NaN", lambda: pipe.tryon(person, nan, mask, steps=1)),
        ("expected -1 to 1; pixels are in [-1, 1]: from [0, 1]", lambda: pipe.tryon(person * 127.5 + 127.5, garment,
                                                                                    mask, steps=1)),
        ("more than the 89,478,485 that Pillow allows", lambda: pipe.tryon(
            torch.zeros(1, 3, 1, 1).expand(1, 3, 12000, 8000), garment, mask, steps=1)),
        ("person is too small: 4x4", lambda: pipe.tryoff(person[..., :4, :4], steps=1)),
        ("mask is empty for item(s) [0]", lambda: pipe.tryoff(person, mask=torch.zeros_like(mask), steps=1)),
        ("mask_b is empty", lambda: pipe.roundtrip(person, mask_b=torch.zeros_like(mask), steps=1)),
        ("from 0..255 divide by 255", lambda: pipe.tryon(person, garment, mask * 255, steps=1)),
        ("mask holds NaN", lambda: pipe.tryon(person, garment, mask * float("nan"), steps=1)),
        ("image holds NaN", lambda: pipe.encode_image(nan)),
    ]
    dot = torch.zeros_like(mask)
    dot[..., 20, 12] = 1  # one pixel: under one 8x8 latent cell, nothing would be redrawn
    cases += [("covers less than one", lambda: pipe.tryon(person, garment, dot, steps=1)),
              ("covers less than one", lambda: pipe.tryoff(person, mask=dot, steps=1))]
    for fragment, call in cases:
        _expect(InputError, fragment, call)


def test_a_device_without_the_memory_for_the_weights_is_refused(files, monkeypatch):
    """Where a device's memory is known (a GPU's, the machine's RAM) weights that cannot fit are refused at load."""
    from twgtm.validate import values

    ram = values.device_memory(torch.device("cpu"))
    assert ram is not None and ram > 2 ** 30  # known on Linux
    _expect(ConfigError, "GiB in all", lambda: values.check_device_memory(torch.device("cpu"), 2 * ram))
    monkeypatch.setattr(values, "device_memory", lambda device: 1024)  # a device of 1 kB
    _expect(ConfigError, "the model's weights take", lambda: load_model(files["ckpt"], device="cpu"))


# ----- data sets -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    generate_toy_wardrobe(root, n=3, seed=0, size=(32, 24), test_fraction=0.34)
    return root


def test_data_set_builders_bad_arguments_and_files(toy_root, tmp_path):
    _expect(ConfigError, "vitonhd", lambda: build_dataset("imagenet", toy_root))
    _expect(DataError, "nowhere", lambda: build_dataset("vitonhd", tmp_path / "nowhere"))
    _expect(ConfigError, "split", lambda: build_dataset("toy", toy_root, split="val"))
    _expect(ConfigError, "mode", lambda: build_dataset("toy", toy_root, mode="shuffled"))
    _expect(ConfigError, "size", lambda: build_dataset("toy", toy_root, size=(0, 24)))
    _expect(ConfigError, "size", lambda: build_dataset("toy", toy_root, size=("tall", "thin")))
    _expect(ConfigError, "upper", lambda: build_dataset("toy", toy_root, categories=["hats"]))
    _expect(DataError, "upper_body", lambda: build_dataset("dresscode", toy_root))
    broken = tmp_path / "broken"
    shutil.copytree(toy_root, broken)
    data = build_dataset("toy", broken, split="train", size=(32, 24))
    person = sorted((broken / "train" / "image").iterdir())[0]
    person.write_bytes(b"\x89PNG\r\n\x1a\n cut")
    message = _expect(DataError, "not a readable image", lambda: data[0])
    assert person.name in message and "copy the file again" in message
    person.unlink()
    _expect(DataError, person.name, lambda: data[0])
    (broken / "train_pairs.txt").write_text("only_one_column.png\n")
    _expect(DataError, "Line 1", lambda: build_dataset("toy", broken))
    (broken / "train_pairs.txt").write_text("\n")
    _expect(DataError, "is empty", lambda: build_dataset("toy", broken))
    _expect(ConfigError, "n must be", lambda: generate_toy_wardrobe(tmp_path / "t", n=0))
    _expect(ConfigError, "at least 32", lambda: generate_toy_wardrobe(tmp_path / "t", n=1, size=(8, 8)))
    _expect(ConfigError, "test_fraction", lambda: generate_toy_wardrobe(tmp_path / "t", n=2, test_fraction=1.0))


# ----- metrics and folder evaluation ---------------------------------------------------------------
def test_metrics_bad_inputs(files, tmp_path):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    _expect(InputError, "RGB", lambda: ssim(x[:, :1], x[:, :1]))
    _expect(InputError, "RGB", lambda: ssim(torch.cat([x, x[:, :1]], 1), torch.cat([x, x[:, :1]], 1)))
    _expect(InputError, "dtype torch.uint8", lambda: ssim(((x + 1) * 127).byte(), ((x + 1) * 127).byte()))
    _expect(InputError, "[-1, 1]", lambda: ssim(x * 300, x))
    _expect(InputError, "differ in shape", lambda: ssim(x, x[..., :16]))
    _expect(InputError, "smaller", lambda: ssim(x[..., :4, :4], x[..., :4, :4]))
    _expect(InputError, "ms_ssim", lambda: ms_ssim(x, x))
    _expect(InputError, "too small", lambda: cw_ssim(x[..., :4, :4], x[..., :4, :4]))
    _expect(ConfigError, "alex", lambda: LPIPSNet("squeeze"))
    _expect(ConfigError, "levels", lambda: ComplexSteerablePyramid(levels=0))
    _expect(InputError, "B×1×H×W", lambda: ComplexSteerablePyramid().build(x))
    _expect(MetricUnavailable, "--weights-dir", lambda: build_lpips(None))
    junk_dir = tmp_path / "weights"
    junk_dir.mkdir()
    for name in ("lpips_alex.safetensors", "alexnet.safetensors"):
        shutil.copy(files["dir"] / "junk.safetensors", junk_dir / name)
    _expect(CheckpointError, "lpips_alex.safetensors", lambda: build_lpips(junk_dir))
    _expect(MetricUnavailable, "no weights folder", lambda: load_dino(None))
    _expect(MetricUnavailable, "not found", lambda: load_dino(tmp_path / "dino"))
    _expect(ConfigError, "unknown metrics", lambda: evaluate_pairs([x], [x], metrics="psnr"))
    _expect(InputError, "different lengths", lambda: evaluate_pairs([x[0], x[1]], [x[0]], metrics="ssim"))
    _expect(ConfigError, "batch_size", lambda: evaluate_pairs([x], [x], metrics="ssim", batch_size=0))
    _expect(ConfigError, "unknown device", lambda: evaluate_pairs([x], [x], metrics="ssim", device="tpu"))
    _expect(InputError, "N >= 2", lambda: frechet_distance(torch.zeros(1, 8), torch.zeros(3, 8)))
    _expect(DataError, "not a folder", lambda: evaluate_folders(tmp_path / "pred", tmp_path / "gt"))
    pred, gt = tmp_path / "p", tmp_path / "g"
    for folder in (pred, gt):
        folder.mkdir()
        shutil.copy(files["dir"] / "rgb.png", folder / "a.png")
    shutil.copy(files["dir"] / "corrupt.png", pred / "b.png")
    shutil.copy(files["dir"] / "rgb.png", gt / "b.png")
    _expect(DataError, "b.png", lambda: evaluate_folders(pred, gt, metrics="ssim"))
