"""Profile files: the real key layouts, base and VAE sources (folder, original file), and every wrong file named."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from twgtm.errors import CheckpointError, ConfigError
from twgtm import load_model

from ..support.profile_files import (narrow_unet_config, narrow_vae_config, random_modules, write_base_file,
                                     write_base_folder, write_catvton_file, write_tryoffanyone_file, write_vae_file)

pytestmark = pytest.mark.usefixtures("one_thread")


class Files(type(__import__("pathlib").Path())):
    """The files' folder, with the modules written to it kept as attributes."""


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    d = Files(tmp_path_factory.mktemp("profile_files"))
    unet, vae = random_modules(8)
    write_base_folder(d / "base", unet, vae)
    write_base_file(d / "sd15-inpainting.safetensors", unet, vae)
    d.expected_cat = write_catvton_file(d / "catvton.safetensors")
    d.expected_toa = write_tryoffanyone_file(d / "toa.safetensors")
    _, other_vae = random_modules(9)
    other_vae.save_pretrained(d / "sd-vae-ft-mse")
    write_vae_file(d / "vae-ft-mse-840000-ema-pruned.safetensors", other_vae)
    write_vae_file(d / "vae-prefixed.safetensors", other_vae, prefix="first_stage_model.")
    d.unet, d.vae, d.other_vae = unet, vae, other_vae
    return d


def _same(module, reference) -> bool:
    ours, theirs = module.state_dict(), reference.state_dict()
    return ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_the_release_files_have_the_real_key_layouts(d):
    cat = load_file(str(d / "catvton.safetensors"))
    assert len(cat) == 80 and sorted({int(k.split(".")[0]) for k in cat}) == list(range(0, 121, 8))
    assert {k.split(".", 1)[1] for k in cat} == {"to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight",
                                                 "to_out.0.bias"}
    toa = load_file(str(d / "toa.safetensors"))
    assert len(toa) == 416 and sorted({int(k.split(".")[0]) for k in toa}) == list(range(7))
    assert "3.0.transformer_blocks.0.attn2.to_k.weight" in toa  # the mid block, whole transformer blocks


def test_base_folder_and_original_file_give_the_same_model(d):
    a = load_model(profile="catvton", weights=d / "catvton.safetensors", base=d / "base").model
    b = load_model(d / "catvton.safetensors", profile="catvton", base=d / "sd15-inpainting.safetensors").model
    assert _same(a.unet, b.unet) and _same(a.vae, d.vae) and _same(b.vae, d.vae)
    ours = a.unet.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in d.expected_cat.items())  # the release's attn1 tensors
    base = d.unet.state_dict()
    assert all(torch.equal(ours[k], base[k]) for k in ours if ".attn1." not in k)
    assert a.config.unet["block_out_channels"] == narrow_unet_config()["block_out_channels"]


@pytest.mark.parametrize("vae", ["sd-vae-ft-mse", "vae-ft-mse-840000-ema-pruned.safetensors", "vae-prefixed.safetensors"])
def test_a_separate_vae_replaces_the_bases(d, vae):
    model = load_model(profile="tryoffanyone", weights=d / "toa.safetensors", base=d / "sd15-inpainting.safetensors",
                       vae=d / vae).model
    assert _same(model.vae, d.other_vae) and not _same(model.vae, d.vae)
    ours = model.unet.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in d.expected_toa.items())


def test_a_file_for_the_other_profile_is_named(d):
    with pytest.raises(CheckpointError, match="CatVTON's attention file.*does try-on.*profile catvton"):
        load_model(profile="tryoffanyone", weights=d / "catvton.safetensors", base=d / "base")
    with pytest.raises(CheckpointError, match="TryOffAnyone's file.*does try-off.*profile tryoffanyone"):
        load_model(profile="catvton", weights=d / "toa.safetensors", base=d / "base")


def test_bad_bases_name_the_file_what_was_expected_and_what_was_found(d, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "model_index.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"has no unet/ or vae/.*found \['model_index.json'\]"):
        load_model(profile="catvton", weights=d / "catvton.safetensors", base=tmp_path / "empty")
    (tmp_path / "no_vae").mkdir()
    d.unet.save_pretrained(tmp_path / "no_vae" / "unet")
    with pytest.raises(CheckpointError, match=r"no_vae has no vae/.*found \['unet/'\]"):
        load_model(profile="catvton", weights=d / "catvton.safetensors", base=tmp_path / "no_vae")
    t2i, vae = random_modules(8, narrow_unet_config(in_channels=4))  # SD1.5 text-to-image: 4 input channels
    write_base_folder(tmp_path / "sd15", t2i, vae)
    write_base_file(tmp_path / "sd15.safetensors", t2i, vae)
    for base in (tmp_path / "sd15", tmp_path / "sd15.safetensors"):
        with pytest.raises(CheckpointError, match="text-to-image UNet .*4 channels.*inpainting base.*takes 9"):
            load_model(profile="catvton", weights=d / "catvton.safetensors", base=base)
    sd2, _ = random_modules(8, narrow_unet_config(cross_attention_dim=1024, use_linear_projection=True))
    write_base_file(tmp_path / "sd2.safetensors", sd2, vae)
    with pytest.raises(CheckpointError, match="not an SD1.5-inpainting UNet \\(an SD2.x or other UNet\\).*1024"):
        load_model(profile="catvton", weights=d / "catvton.safetensors", base=tmp_path / "sd2.safetensors")
    save_file({"first_stage_model.encoder.conv_in.weight": torch.zeros(1)}, str(tmp_path / "vae_only.safetensors"))
    with pytest.raises(CheckpointError, match="holds no SD UNet"):
        load_model(profile="catvton", weights=d / "catvton.safetensors", base=tmp_path / "vae_only.safetensors")


def test_vaes_of_the_wrong_kind(d, tmp_path):
    _, flux_like = random_modules(8, vae_config=narrow_vae_config(latent_channels=16))
    write_vae_file(tmp_path / "ae16.safetensors", flux_like)
    with pytest.raises(CheckpointError, match="16 latent channels.*need an SD1.5 VAE with 4"):
        load_model(profile="catvton", weights=d / "catvton.safetensors", base=d / "base", vae=tmp_path / "ae16.safetensors")
    with pytest.raises(CheckpointError, match="holds no VAE \\(it looks like a UNet\\).*found keys like"):
        load_model(profile="catvton", weights=d / "catvton.safetensors", base=d / "base",
                   vae=d / "base" / "unet" / "diffusion_pytorch_model.safetensors")
    d.other_vae.save_pretrained(tmp_path / "sdxl-vae")
    config = json.loads((tmp_path / "sdxl-vae" / "config.json").read_text())
    (tmp_path / "sdxl-vae" / "config.json").write_text(json.dumps({**config, "scaling_factor": 0.13025}))
    with pytest.raises(CheckpointError, match="scaling factor 0.13025 \\(the SDXL VAE's\\).*0.18215"):
        load_model(profile="catvton", weights=d / "catvton.safetensors", base=d / "base", vae=tmp_path / "sdxl-vae")
    with pytest.raises(ConfigError, match="applies to the CatVTON / TryOffAnyone profiles"):
        load_model(d / "catvton.safetensors", vae=d / "sd-vae-ft-mse")


def test_missing_weights_and_base_say_which_option(d):
    with pytest.raises(CheckpointError, match=r"--weights \(CatVTON try-on weights.*: not given(.|\n)*"
                                              r"models fetch catvton --dest models --accept-licence"):
        load_model(profile="catvton", base=d / "base", option_names={"weights": "--weights"})
    with pytest.raises(CheckpointError, match=r"--base \(SD1.5-inpainting base.*: not given(.|\n)*"
                                              r"then give: --base models/sd-v1-5-inpainting.safetensors"):
        load_model(profile="tryoffanyone", weights=d / "toa.safetensors", option_names={"base": "--base"})
    with pytest.raises(CheckpointError) as err:  # every missing file at once, not one per run
        load_model(profile="catvton", weights=d / "gone.safetensors", vae=d / "gone-vae")
    assert "3 model files are missing" in str(err.value) and "weights= (CatVTON" in str(err.value)
    assert "models fetch catvton sd15-inpainting sd-vae-ft-mse --dest models" in str(err.value)
