"""twgtm.load_model: the demo default, checkpoints completed from base files, profiles, presets, device and dtype."""
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

import twgtm
from twgtm.families.profiles import load_profile, profile_config
from twgtm.model.config import get_preset
from twgtm.model.network import TWGTM, build_model
from twgtm.paths import DEMO_CHECKPOINT
from twgtm import ProfilePipeline, TWGTMPipeline, load_model
from twgtm.weights.checkpoint import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["unet", "qformer", "taskformer", "srm_decoder", "extended_attention"]  # no VAE, CLIP, Swin

pytestmark = pytest.mark.usefixtures("one_thread")


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny model, its full and its small checkpoint, and its base parts in their public formats."""
    d = tmp_path_factory.mktemp("loader")
    torch.manual_seed(8)
    model = build_model("tiny")
    with torch.no_grad():  # a non-zero extended branch, so that every part shows in the samples
        for name, p in model.named_parameters():
            if ".zll." in name:
                p.normal_(0, 0.2)
    save_checkpoint(model, d / "full.safetensors")
    save_checkpoint(model, d / "small.safetensors", parts=SMALL)
    model.unet.save_pretrained(d / "base" / "unet")
    model.vae.save_pretrained(d / "base" / "vae")
    model.sam.clip.save_pretrained(d / "clip")
    save_file({k: v.contiguous() for k, v in model.sam.clip.state_dict().items()}, str(d / "clip_vision.safetensors"))
    spec = dict(get_preset("tiny").swin)
    swin = timm.create_model(spec.pop("name"), pretrained=False, **spec)
    net = model.srm.backbone.net.state_dict()  # timm's key layout, with the SRM's stage weights in it
    swin_state = {k: v for k, v in swin.state_dict().items()}
    swin_state.update({k.replace("layers_", "layers.", 1): v for k, v in net.items()})
    save_file({k: v.contiguous() for k, v in swin_state.items()}, str(d / "swin.safetensors"))
    return model, d


def _samples(pipe):
    g = torch.Generator().manual_seed(1)
    person = torch.rand(1, 3, 40, 24, generator=g) * 2 - 1
    mask = torch.zeros(1, 1, 40, 24)
    mask[:, :, 8:30, 4:20] = 1
    return pipe.tryon(person, person.flip(-1), mask, steps=2, seed=3).images, pipe.tryoff(person, steps=2, seed=3).images


def test_default_is_the_demo_model():
    pipe = load_model()
    shipped = load_checkpoint(DEMO_CHECKPOINT)
    assert isinstance(pipe, TWGTMPipeline) and pipe.family == "twgtm"
    assert pipe.model.config.name == "demo" and _same(pipe.model, shipped)


def test_small_checkpoint_completed_from_base_files_samples_like_the_full_one(source):
    model, d = source
    full = load_model(d / "full.safetensors")
    for clip in (d / "clip", d / "clip_vision.safetensors"):  # a transformers folder or one HF-format file
        rebuilt = load_model(d / "small.safetensors", base=d / "base", clip=clip, swin=d / "swin.safetensors")
        for part in ("unet", "vae"):
            assert _same(getattr(rebuilt.model, part), getattr(model, part)), part
        assert _same(rebuilt.model.sam, model.sam) and _same(rebuilt.model.srm, model.srm)
    for a, b in zip(_samples(full), _samples(rebuilt)):
        assert torch.equal(a, b)


def test_options_for_parts_the_checkpoint_holds_are_ignored(source, caplog):
    model, d = source
    other = d / "other_base"
    torch.manual_seed(99)
    build_model("tiny").unet.save_pretrained(other / "unet")
    with caplog.at_level("INFO", logger="twgtm"):
        loaded = load_model(d / "full.safetensors", base=other)
    assert _same(loaded.model.unet, model.unet) and "ignored" in caplog.text


def test_profile_through_load_model(source, tmp_path):
    _, d = source
    config = profile_config("catvton", "tiny")
    torch.manual_seed(5)
    trained = TWGTM(config).unet
    attn1 = torch.nn.ModuleList(m for name, m in trained.named_modules() if name.endswith("attn1"))
    save_file({k: v.contiguous() for k, v in attn1.state_dict().items()}, str(tmp_path / "attention.safetensors"))
    torch.manual_seed(6)
    base = TWGTM(config)
    base.unet.save_pretrained(tmp_path / "sd15" / "unet")
    base.vae.save_pretrained(tmp_path / "sd15" / "vae")
    pipe = load_model(tmp_path / "attention.safetensors", profile="CatVTON", base=tmp_path / "sd15", preset="tiny")
    direct = load_profile("catvton", tmp_path / "attention.safetensors", tmp_path / "sd15", base="tiny")
    assert isinstance(pipe, ProfilePipeline) and pipe.family == "catvton" and pipe.tasks == ("tryon",)
    assert _same(pipe.model.unet, direct.unet) and _same(pipe.model.vae, base.vae)
    same = load_model(family="catvton", weights=tmp_path / "attention.safetensors", base=tmp_path / "sd15", preset="tiny")
    assert same.family == "catvton" and _same(same.model.unet, pipe.model.unet)


def test_preset_with_random_weights_a_checkpoint_and_base_parts(source):
    model, d = source
    torch.manual_seed(0)
    fresh = load_model(preset="tiny").model
    assert fresh.config.name == "tiny" and not _same(fresh.unet, model.unet)
    started = load_model(d / "small.safetensors", preset="tiny", base=d / "base").model
    assert _same(started.unet, model.unet) and _same(started.vae, model.vae)
    assert not _same(started.sam.clip, model.sam.clip)  # no clip given: it keeps the preset's random weights


def test_device_and_dtype_by_name(source):
    _, d = source
    pipe = load_model(d / "full.safetensors", device="cpu", dtype="bf16")
    assert {p.dtype for p in pipe.model.parameters()} == {torch.bfloat16} and pipe.dtype == torch.bfloat16
    assert {p.device.type for p in pipe.model.parameters()} == {"cpu"}
    assert load_model(d / "full.safetensors", dtype=torch.float16).model.unet.conv_in.weight.dtype == torch.float16


@pytest.mark.slow  # a Python process of its own
def test_package_import_stays_light():
    code = ("import sys, twgtm; assert 'torch' not in sys.modules; "
            "import twgtm.vocab; assert 'torch' not in sys.modules; "
            "f = twgtm.load_model; assert 'torch' not in sys.modules; print(f.__module__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "twgtm.loading" and twgtm.load_model is load_model
