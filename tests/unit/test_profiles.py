"""Backbone profiles: tiny files with the key names CatVTON and TryOffAnyone save load and sample."""
import pytest
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

from twgtm.model.attention import PassThroughProcessor
from twgtm.errors import CheckpointError, ConfigError
from twgtm.model.network import TWGTM
from twgtm import ProfilePipeline
from twgtm.families.profiles import load_profile, profile_config


pytestmark = pytest.mark.usefixtures("one_thread")


class ModuleProcessor(torch.nn.Module):
    """Stands in for the projects' processors, which are nn.Modules (so they show up in named_modules)."""

    def __call__(self, attn, hidden_states, *args, **kwargs):
        return hidden_states


def _trained_unet(config):
    """A tiny UNet with the projects' processors installed, as their pipelines hold it."""
    torch.manual_seed(11)
    unet = UNet2DConditionModel(**config.unet)
    unet.set_attn_processor({name: ModuleProcessor() for name in unet.attn_processors})
    return unet


def _dedupe_shared(state):
    """Keep the first name of tensors that share storage (what accelerate does when saving safetensors)."""
    seen, out = set(), {}
    for key, value in state.items():
        if value.data_ptr() in seen:
            continue
        seen.add(value.data_ptr())
        out[key] = value.contiguous()
    return out


def _catvton_file(unet, path):
    modules = torch.nn.ModuleList(m for name, m in unet.named_modules() if "attn1" in name)  # get_trainable_module "attention"
    state = _dedupe_shared(modules.state_dict())
    save_file(state, str(path))
    return state


def _tryoffanyone_file(unet, path):
    modules = torch.nn.ModuleList()
    for blocks in [unet.down_blocks, unet.mid_block, unet.up_blocks]:  # its fine_tuned_modules order
        if hasattr(blocks, "attentions"):
            modules.append(blocks.attentions)
        else:
            for block in blocks:
                if hasattr(block, "attentions"):
                    modules.append(block.attentions)
    state = {k: v.contiguous() for k, v in modules.state_dict().items()}
    save_file(state, str(path))
    return state


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sd15inpaint")
    torch.manual_seed(3)
    base = TWGTM(profile_config("catvton", "tiny"))
    base.unet.save_pretrained(folder / "unet")
    base.vae.save_pretrained(folder / "vae")
    return folder, base


def _inputs():
    g = torch.Generator().manual_seed(0)
    person = torch.rand(1, 3, 37, 29, generator=g) * 2 - 1
    mask = torch.zeros(1, 1, 37, 29)
    mask[:, :, 6:28, 4:25] = 1
    return person, mask


def test_profile_config():
    cfg = profile_config("catvton")
    assert (cfg.concat_axis, cfg.cross_attention, cfg.extended_blocks, cfg.profile) == ("height", False, "none", "catvton")
    assert cfg.unet["in_channels"] == 9 and cfg.inference.working_size == (1024, 768)
    assert profile_config("TryOffAnyone").inference.tryoff_target == "erased_person"
    with pytest.raises(ConfigError, match="catvton"):
        profile_config("idm-vton")


def test_catvton_loads_and_samples(base_folder, tmp_path):
    folder, base = base_folder
    cfg = profile_config("catvton", "tiny")
    trained = _trained_unet(cfg)
    state = _catvton_file(trained, tmp_path / "model.safetensors")
    assert "0.to_q.weight" in state and "0.to_out.0.bias" in state and "1.weight" not in state
    model = load_profile("catvton", tmp_path / "model.safetensors", folder, base="tiny")
    ours, src, base_state = model.unet.state_dict(), trained.state_dict(), base.unet.state_dict()
    attn1 = [k for k in ours if ".attn1." in k]
    assert attn1 and all(torch.equal(ours[k], src[k]) for k in attn1)  # the file's tensors
    assert all(torch.equal(ours[k], base_state[k]) for k in ours if ".attn1." not in k)  # the base elsewhere
    assert all(isinstance(p, PassThroughProcessor) for n, p in model.unet.attn_processors.items() if n.endswith("attn2.processor"))
    pipe = ProfilePipeline(model)
    person, mask = _inputs()
    sizes = []
    handle = model.unet.register_forward_pre_hook(lambda m, a: sizes.append(tuple(a[0].shape)))
    out = pipe.tryon(person, person.flip(-1), mask, steps=2, guidance=2.5)
    handle.remove()
    assert out.images.shape == person.shape and torch.isfinite(out.images).all()
    assert sizes == [(2, 9, 8, 2)] * 2  # CFG batch of 2; 37×29 -> 32×16 per half (cropped) -> latent 4×2, stacked in height
    assert out.working.shape == (1, 3, 32, 16) and out.working.dtype == torch.uint8
    assert pipe.tasks == ("tryon",)


def test_tryoffanyone_loads_and_samples(base_folder, tmp_path):
    folder, base = base_folder
    cfg = profile_config("tryoffanyone", "tiny")
    trained = _trained_unet(cfg)
    state = _tryoffanyone_file(trained, tmp_path / "model.safetensors")
    assert "0.0.transformer_blocks.0.attn1.to_q.weight" in state and "0.0.proj_in.weight" in state
    model = load_profile("tryoffanyone", tmp_path / "model.safetensors", folder, base="tiny")
    ours, src, base_state = model.unet.state_dict(), trained.state_dict(), base.unet.state_dict()
    tuned = [k for k in ours if ".attentions." in k]
    assert tuned and all(torch.equal(ours[k], src[k]) for k in tuned)
    assert all(torch.equal(ours[k], base_state[k]) for k in ours if ".attentions." not in k)
    pipe = ProfilePipeline(model)
    person, mask = _inputs()
    out = pipe.tryoff(person, mask=mask, steps=2)
    assert out.images.shape == person.shape and out.garment_masks is None and out.masks.shape == mask.shape
    assert out.working.shape == (1, 3, 32, 16)
    with pytest.raises(ConfigError, match="garment mask"):
        pipe.tryoff(person, mask_mode="full", steps=1)
    assert pipe.tasks == ("tryoff",)


def test_wrong_files_are_named(base_folder, tmp_path):
    folder, _ = base_folder
    cfg = profile_config("catvton", "tiny")
    _catvton_file(_trained_unet(cfg), tmp_path / "catvton.safetensors")
    with pytest.raises(CheckpointError, match="CatVTON's attention file .* load it with profile catvton"):
        load_profile("tryoffanyone", tmp_path / "catvton.safetensors", folder, base="tiny")
    _tryoffanyone_file(_trained_unet(cfg), tmp_path / "toa.safetensors")
    with pytest.raises(CheckpointError, match="TryOffAnyone's file .* load it with profile tryoffanyone"):
        load_profile("catvton", tmp_path / "toa.safetensors", folder, base="tiny")
    with pytest.raises(CheckpointError, match="not found"):
        load_profile("catvton", tmp_path / "missing.safetensors", folder, base="tiny")
