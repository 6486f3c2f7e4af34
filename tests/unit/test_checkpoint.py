"""Checkpoints: save -> load gives identical samples; each bad file gets its clear error; base parts load."""
import json
import os

import pytest
import torch
from safetensors.torch import save_file

from twgtm.weights.base_parts import load_clip, load_swin, load_unet_vae, shipped_config
from twgtm.weights.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from twgtm.model.config import get_preset
from twgtm.errors import CheckpointError, ConfigError
from twgtm.model.network import build_model
from twgtm.sampling.pipeline import TWGTMPipeline

from ..support.ldm_keys import unet_to_ldm, vae_to_ldm


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("tiny")
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".zll." in n:
                p.normal_(0, 0.2)
    path = save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")
    return model, path


def _sample(model):
    g = torch.Generator().manual_seed(1)
    person = torch.rand(1, 3, 40, 24, generator=g) * 2 - 1
    mask = torch.zeros(1, 1, 40, 24)
    mask[:, :, 8:30, 4:20] = 1
    pipe = TWGTMPipeline(model)
    return pipe.tryon(person, person.flip(-1), mask, steps=2, seed=3).images, pipe.tryoff(person, steps=2, seed=3).images


def test_round_trip_gives_identical_samples(saved):
    model, path = saved
    loaded = load_checkpoint(path)
    for a, b in zip(_sample(model), _sample(loaded)):
        assert torch.equal(a, b)
    assert json.loads(read_metadata(path)["config"])["name"] == "tiny"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not safetensors' private 0600


def test_loading_into_a_model_brings_the_latent_scale(tmp_path):
    # Training's `model.init` loads a checkpoint into a freshly built preset: its VAE latent scale (set by the
    # vae stage, kept in the config) must come along, or the UNet trains and samples on mis-scaled latents.
    torch.manual_seed(0)
    trained = build_model("tiny")
    trained.vae.register_to_config(scaling_factor=0.37)
    trained.config.vae["scaling_factor"] = 0.37
    path = save_checkpoint(trained, tmp_path / "scaled.safetensors")
    fresh = build_model("tiny")
    assert fresh.latent_scale == 1.0
    loaded = load_checkpoint(path, model=fresh)
    assert loaded is fresh and fresh.latent_scale == pytest.approx(0.37)
    assert fresh.config.vae["scaling_factor"] == pytest.approx(0.37)  # saved again with the model
    pixels = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.allclose(fresh.encode(pixels), trained.encode(pixels))
    assert torch.allclose(fresh.decode(trained.encode(pixels)), trained.decode(trained.encode(pixels)))
    unet_only = save_checkpoint(trained, tmp_path / "unet.safetensors", parts=["unet"])
    other = build_model("tiny")
    load_checkpoint(unet_only, model=other)
    assert other.latent_scale == 1.0  # a file without the VAE leaves the model's VAE and scale alone


def test_missing_file_names_the_folder(tmp_path):
    with pytest.raises(CheckpointError, match=str(tmp_path)) as err:
        load_checkpoint(tmp_path / "nope.safetensors")
    assert "not found" in str(err.value)


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".bin"])
def test_pickle_files_are_refused(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(path)


def test_truncated_and_corrupt_files(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut short"):
        load_checkpoint(cut)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a safetensors file at all: it is zero bytes only"):
        load_checkpoint(junk)


NOT_SAFETENSORS = [  # what a wrongly downloaded or mis-named file holds, and the words that name it
    (lambda tmp: torch.save({"w": torch.zeros(2)}, tmp), "zip archive: PyTorch's torch.save format"),
    (lambda tmp: tmp.write_bytes(b"<!DOCTYPE html>\n<html><body>Sign in</body></html>"), "a web page (HTML)"),
    (lambda tmp: tmp.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n"), "git lfs pull"),
    (lambda tmp: tmp.write_bytes(b""), "an empty file"),
    (lambda tmp: tmp.write_text('{"_class_name": "UNet2DConditionModel"}\n' * 4), "a text file"),
    (lambda tmp: tmp.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(64)), "a GGUF file"),
]


@pytest.mark.parametrize("write, kind", NOT_SAFETENSORS)
def test_a_file_that_is_not_safetensors_is_called_that(tmp_path, write, kind):
    path = tmp_path / "model.safetensors"
    write(path)
    for read in (load_checkpoint, read_metadata):
        with pytest.raises(CheckpointError) as caught:
            read(path)
        message = str(caught.value)
        assert "not a safetensors file at all" in message and kind in message, message
        assert "cut short" not in message


def test_foreign_safetensors(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"conv.weight": torch.zeros(2, 2)}, str(path), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a TWGTM checkpoint"):
        load_checkpoint(path)


def test_mismatched_keys_are_named(saved, tmp_path):
    model, path = saved
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    state = load_file(str(path))
    state.pop("unet.conv_in.bias")
    state["unet.not_a_layer.weight"] = torch.zeros(1)
    state["unet.conv_out.weight"] = torch.zeros(3, 3, 1, 1)
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad), metadata=meta)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(bad)
    text = str(err.value)
    assert "missing keys: unet.conv_in.bias" in text
    assert "unexpected keys: unet.not_a_layer.weight" in text
    assert "mis-shaped keys: unet.conv_out.weight file (3, 3, 1, 1)" in text


def _tiny_pair():
    torch.manual_seed(5)
    return build_model("tiny"), build_model("tiny")


def _assert_same(src, dst, part):
    a, b = getattr(src, part).state_dict(), getattr(dst, part).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_base_parts_from_diffusers_folder(tmp_path):
    src, dst = _tiny_pair()
    src.unet.save_pretrained(tmp_path / "unet")
    src.vae.save_pretrained(tmp_path / "vae")
    load_unet_vae(dst, tmp_path)
    _assert_same(src, dst, "unet")
    _assert_same(src, dst, "vae")
    (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="vae weights not found"):
        load_unet_vae(dst, tmp_path)


def test_base_parts_from_original_single_file(tmp_path):
    src, dst = _tiny_pair()
    cfg = src.config
    up_attn = ["CrossAttn" in t for t in cfg.unet["up_block_types"]]
    state = {**unet_to_ldm(src.unet.state_dict(), cfg.unet["layers_per_block"], up_attn),
             **vae_to_ldm(src.vae.state_dict(), len(cfg.vae["block_out_channels"]))}
    assert "model.diffusion_model.input_blocks.0.0.weight" in state and "first_stage_model.encoder.mid.attn_1.q.weight" in state
    path = tmp_path / "sd15-inpainting.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    load_unet_vae(dst, path)
    _assert_same(src, dst, "unet")
    _assert_same(src, dst, "vae")
    other = tmp_path / "unet-only.safetensors"
    save_file({k: v.contiguous() for k, v in state.items() if k.startswith("model.")}, str(other))
    with pytest.raises(CheckpointError, match="first_stage_model"):
        load_unet_vae(dst, other)


def test_base_keys_mismatch_named(tmp_path):
    src, _ = _tiny_pair()
    src.unet.save_pretrained(tmp_path / "unet")
    other = build_model(get_preset("tiny").replace(unet={**get_preset("tiny").unet, "block_out_channels": [8, 16]}))
    with pytest.raises(CheckpointError, match="mis-shaped keys"):
        load_unet_vae(other, tmp_path, parts=("unet",))


def test_clip_from_transformers_folder(tmp_path):
    src, dst = _tiny_pair()
    src.sam.clip.save_pretrained(tmp_path / "clip")
    load_clip(dst, tmp_path / "clip")
    assert all(torch.equal(a, b) for a, b in zip(src.sam.clip.state_dict().values(), dst.sam.clip.state_dict().values()))
    with pytest.raises(CheckpointError, match="config.json"):
        load_clip(dst, tmp_path)


def test_swin_from_timm_file_and_folder(tmp_path):
    import timm

    _, dst = _tiny_pair()
    spec = dict(get_preset("tiny").swin)
    torch.manual_seed(4)
    plain = timm.create_model(spec.pop("name"), pretrained=False, **spec)  # timm's own key layout
    state = {k: v.contiguous() for k, v in plain.state_dict().items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    load_swin(dst, tmp_path / "model.safetensors")
    net = dst.srm.backbone.net.state_dict()
    for i in range(3):  # stages 1-3 land in the features_only backbone
        key = f"layers.{i}.blocks.0.attn.qkv.weight"
        assert torch.equal(net[key.replace(f"layers.{i}", f"layers_{i}")], state[key])
    assert torch.equal(net["patch_embed.proj.weight"], state["patch_embed.proj.weight"])
    # at the tiny SRM size timm shrinks stage 3's window; its bias table is resized to fit
    table = "layers.2.blocks.0.attn.relative_position_bias_table"
    assert net[table.replace("layers.2", "layers_2")].shape[0] < state[table].shape[0]
    assert torch.equal(net["layers_0.blocks.0.attn.relative_position_bias_table"],
                       state["layers.0.blocks.0.attn.relative_position_bias_table"])
    load_swin(dst, tmp_path)  # the folder holding model.safetensors
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_swin(dst, tmp_path / "empty")
    del state["layers.1.blocks.0.attn.qkv.weight"]
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(CheckpointError, match=r"partial.safetensors.*\n.*missing keys: layers_1.blocks.0.attn.qkv.weight"):
        load_swin(dst, tmp_path / "partial.safetensors")


def test_sd15_training_without_pretrained_encoders_warns(tmp_path, caplog):
    from training.config import load_config
    from training.trainer import build_training_model

    config = load_config(None, ["model.preset=tiny", "data.root=/somewhere"])
    with caplog.at_level("WARNING", logger="twgtm"):
        build_training_model(config)
    assert "model.clip is not set" in caplog.text and "model.swin is not set" in caplog.text


def test_shipped_configs_match_sd15_preset():
    preset = get_preset("sd15")
    for part in ("unet", "vae"):
        shipped = shipped_config(part)
        assert all(shipped[k] == v for k, v in getattr(preset, part).items()), part
    assert shipped_config("unet")["in_channels"] == 9


def test_inference_settings_are_typed_and_read_from_older_configs():
    """The config's untyped `extra` of older files is read as typed `inference` settings; bad values are named."""
    from twgtm.model.config import InferenceSettings, TWGTMConfig, get_preset

    demo = get_preset("demo")
    assert demo.inference == InferenceSettings(working_size=(128, 96)) and get_preset("tiny").inference.working_size is None
    old = {**demo.to_dict(), "extra": {}}  # what checkpoints written before the typed settings hold
    del old["inference"]
    assert TWGTMConfig.from_dict(old).inference.working_size == (128, 96)  # the preset's, as those files meant
    profile = {"reference_encoders": False, "working_size": [1024, 768], "tryoff_target": "erased_person",
               "task": "tryoff"}
    read = TWGTMConfig.from_dict({**old, "name": "sd15-tryoffanyone", "extra": profile}).inference
    assert (read.working_size, read.reference_encoders, read.tryoff_target, read.task) == \
        ((1024, 768), False, "erased_person", "tryoff")
    assert TWGTMConfig.from_dict(json.loads(demo.to_json())) == demo  # a round trip through the metadata's JSON
    with pytest.raises(ConfigError, match=r"unknown TWGTM inference settings \['colour'\]"):
        TWGTMConfig.from_dict({**old, "extra": {"colour": 1}})
    with pytest.raises(ConfigError, match="tryoff_target must be one of"):
        InferenceSettings(tryoff_target="person")
    with pytest.raises(ConfigError, match="working_size must be"):
        demo.replace(inference={"working_size": [0, 96]})
