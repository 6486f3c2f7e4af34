"""One front door: `twgtm.load_model` builds every family, every pipeline has the same verbs, the surface is documented.

Each family is built from files this test writes (a tiny TWGTM checkpoint, the public projects' key
layouts on narrow random SD1.5-inpainting weights, a tiny FLUX.1 folder and LoRA) and every verb runs
or gives the clear error of a verb the family cannot do.
"""
import dataclasses
import inspect

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import twgtm
from twgtm.loading import pipeline_tasks
from twgtm.model.network import build_model
from twgtm.verbs import VERBS
from twgtm.weights.checkpoint import save_checkpoint

from ..support.a2a_tiny import random_pixels, write_flux_folder
from ..support.profile_files import random_modules, write_base_folder, write_catvton_file, write_tryoffanyone_file

pytestmark = pytest.mark.usefixtures("one_thread")
H, W = 64, 48
FAST = dict(steps=1, seed=0)


def _person(batch=1, size=(H, W), seed=1):
    person = random_pixels(*size, seed=seed, batch=batch)
    mask = torch.zeros(batch, 1, *size)
    mask[:, :, size[0] // 4: size[0] * 3 // 4, size[1] // 6: size[1] * 5 // 6] = 1
    return person, mask


def _check_images(result, batch, size):
    assert result.images.shape == (batch, 3, *size)
    pictures = result.to_pil()
    assert len(pictures) == batch and all(isinstance(p, Image.Image) and p.size == (size[1], size[0]) for p in pictures)


def _refuses(pipe, verbs, *args):
    """Each verb raises UnsupportedTask, a ConfigError naming the family, the verb and the model that does it."""
    for verb in verbs:
        with pytest.raises(twgtm.UnsupportedTask) as err:
            getattr(pipe, verb)(*args)
        message = str(err.value)
        assert isinstance(err.value, twgtm.ConfigError), verb
        assert pipe.family in message and f"cannot do {verb}" in message and "family='a2a'" in message, message


# ----- TWGTM: a checkpoint, the demo model, a preset ------------------------------------------------
@pytest.fixture(scope="module")
def twgtm_pipe(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "tiny.safetensors"
    torch.manual_seed(3)
    save_checkpoint(build_model("tiny"), path)
    return twgtm.load_model(path, device="cpu", dtype="fp32")


def test_a_twgtm_checkpoint_does_tryon_tryoff_roundtrip(twgtm_pipe):
    pipe = twgtm_pipe
    assert isinstance(pipe, twgtm.TWGTMPipeline) and isinstance(pipe, twgtm.Pipeline)
    assert pipe.family == "twgtm" and pipe.tasks == ("tryon", "tryoff", "roundtrip") and pipe.default_steps == 30
    assert pipeline_tasks() == pipeline_tasks("twgtm") == pipe.tasks  # known before a model loads
    person, mask = _person(batch=2)
    on = pipe.tryon(person, person.flip(-1), mask, **FAST)
    assert isinstance(on, twgtm.TryOnResult)
    _check_images(on, 2, (H, W))
    off = pipe.tryoff(person, mask_mode="full", **FAST)
    assert isinstance(off, twgtm.TryOffResult)
    _check_images(off, 2, (H, W))
    both = pipe.roundtrip(person[:1], person[1:], mask_b=mask[:1], **FAST)
    assert isinstance(both, twgtm.RoundTripResult) and torch.equal(both.images, both.dressed.images)
    _check_images(both, 1, (H, W))
    _refuses(pipe, ("modelfree", "reconstruct"), person)
    _refuses(pipe, ("layered",), person, person)


def test_the_demo_model_and_a_preset(twgtm_pipe):
    demo = twgtm.load_model()
    assert demo.family == "twgtm" and demo.config.name == "demo"
    assert demo.working_size() == (64, 48)  # the size the shipped file's UNet trained at (the preset's is 128x96)
    person, mask = _person(size=(128, 96))
    _check_images(demo.tryon(person, person.flip(-1), mask, **FAST), 1, (128, 96))
    fresh = twgtm.load_model(preset="tiny", attention="classic")  # pipeline options pass through
    assert fresh.config.name == "tiny" and fresh.options["attention"] == "classic"


# ----- CatVTON and TryOffAnyone ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def profile_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("api-profiles")
    unet, vae = random_modules(3)
    write_base_folder(d / "base", unet, vae)
    write_catvton_file(d / "catvton.safetensors")
    write_tryoffanyone_file(d / "toa.safetensors")
    return d


def test_profiles_do_their_one_task_and_refuse_the_others(profile_files):
    d = profile_files
    catvton = twgtm.load_model(profile="catvton", weights=d / "catvton.safetensors", base=d / "base")
    toa = twgtm.load_model(family="tryoffanyone", weights=d / "toa.safetensors", base=d / "base")
    assert isinstance(catvton, twgtm.ProfilePipeline) and (catvton.family, catvton.tasks) == ("catvton", ("tryon",))
    assert (toa.family, toa.tasks, toa.default_steps) == ("tryoffanyone", ("tryoff",), 50)
    assert pipeline_tasks(profile="catvton") == catvton.tasks and pipeline_tasks("tryoffanyone") == toa.tasks
    person, mask = _person(size=(128, 64))
    on = catvton.tryon(person, person.flip(-1), mask, **FAST)
    assert isinstance(on, twgtm.ProfileTryOnResult) and on.working.dtype == torch.uint8
    _check_images(on, 1, (128, 64))
    off = toa.tryoff(person, mask=mask, **FAST)
    assert isinstance(off, twgtm.ProfileTryOffResult)
    _check_images(off, 1, (128, 64))
    with pytest.raises(twgtm.UnsupportedTask, match="profile catvton does try-on only .* tryoffanyone"):
        catvton.tryoff(person, mask=mask)
    with pytest.raises(twgtm.UnsupportedTask, match="profile tryoffanyone does try-off only .* catvton"):
        toa.tryon(person, person, mask)
    with pytest.raises(twgtm.UnsupportedTask, match="roundtrip_pair"):
        catvton.roundtrip(person)
    _refuses(toa, ("modelfree", "reconstruct"), person)
    both = twgtm.roundtrip_pair(toa, catvton, person, mask_a=mask, mask_b=mask, **FAST)
    _check_images(both, 1, (128, 64))


# ----- Any2AnyTryon -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def a2a_pipe(tmp_path_factory):
    d = tmp_path_factory.mktemp("api-a2a")
    flux = write_flux_folder(d / "flux")
    plain = twgtm.load_model(family="a2a", flux=flux, dtype="fp32")
    torch.manual_seed(0)
    layer = plain.parts.transformer.get_submodule("transformer_blocks.0.attn.to_q")
    lora = {"transformer.transformer_blocks.0.attn.to_q.lora_A.weight": torch.randn(2, layer.in_features) * 0.1,
            "transformer.transformer_blocks.0.attn.to_q.lora_B.weight": torch.randn(layer.out_features, 2) * 0.1}
    save_file(lora, d / "lora.safetensors")
    pipe = twgtm.load_model(family="a2a", flux=flux, lora=d / "lora.safetensors", lora_scale=0.5, device="cpu",
                            dtype="fp32", offload="none")
    fused = pipe.parts.transformer.get_submodule("transformer_blocks.0.attn.to_q").weight
    assert not torch.equal(fused, layer.weight)  # the LoRA was fused
    return pipe


def test_any2anytryon_does_every_verb(a2a_pipe):
    pipe = a2a_pipe
    assert isinstance(pipe, twgtm.A2APipeline) and pipe.family == "a2a" and pipe.tasks == VERBS
    assert pipeline_tasks("a2a") == pipe.tasks  # known before loading
    person, garment = random_pixels(256, 256, seed=1), random_pixels(256, 192, seed=2)
    options = dict(size=(256, 256), **FAST)
    for verb, args in (("tryon", (person, garment)), ("layered", (person, garment)), ("modelfree", (garment,)),
                       ("reconstruct", (person,)), ("tryoff", (person,))):
        result = getattr(pipe, verb)(*args, **options)
        assert isinstance(result, twgtm.A2AResult)
        _check_images(result, 1, (256, 256))
    same = pipe.tryoff(person, **options)
    assert torch.equal(same.tokens, pipe.reconstruct(person, **options).tokens)  # try-off is the reconstruction
    both = pipe.roundtrip(person, **options)
    assert isinstance(both, twgtm.RoundTripResult)
    _check_images(both, 1, (256, 256))
    with pytest.raises(twgtm.InputError, match="mask-free"):
        pipe.tryon(person, garment, torch.ones(1, 1, 256, 256), **options)


def test_load_model_errors_name_the_option():
    with pytest.raises(twgtm.ConfigError, match="unknown model family 'idm'"):
        twgtm.load_model(family="idm")
    with pytest.raises(twgtm.ConfigError, match="checkpoint do"):
        twgtm.load_model("x.safetensors", family="a2a")
    with pytest.raises(twgtm.ConfigError, match="unknown Any2AnyTryon option.*'steps'"):
        twgtm.load_model(family="a2a", flux="nowhere", steps=3)
    with pytest.raises(twgtm.ConfigError, match="flux do"):
        twgtm.load_model(flux="nowhere")
    with pytest.raises(twgtm.ConfigError, match="disagree"):
        twgtm.load_model(family="catvton", profile="tryoffanyone")


# ----- the surface ---------------------------------------------------------------------------------
def _documented(obj) -> bool:
    doc = inspect.getdoc(obj) or ""
    return "Args:" in doc and "Returns:" in doc


def test_every_public_name_is_documented():
    assert len(set(twgtm.__all__)) == len(twgtm.__all__) and set(twgtm.__all__) <= set(dir(twgtm))
    for name in twgtm.__all__:
        obj = getattr(twgtm, name)
        if name == "__version__":
            continue
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert inspect.getdoc(obj), name
        elif inspect.isclass(obj):
            doc = inspect.getdoc(obj) or ""
            assert doc, name
            params = [p for p in inspect.signature(obj).parameters.values() if p.kind != p.VAR_KEYWORD]
            if params and not dataclasses.is_dataclass(obj):  # the constructor's arguments are documented
                assert "Args:" in doc, name
            for verb in (*VERBS, "run"):
                if verb in vars(obj):
                    assert _documented(getattr(obj, verb)), f"{name}.{verb}"
            if "to_pil" in dir(obj):
                assert "Returns:" in (inspect.getdoc(obj.to_pil) or ""), name
        else:
            assert callable(obj) and _documented(obj), name
