"""The details of the profiles' sampling that change the picture, each on its own (see twgtm/families/sd_inpaint_sampler.py)."""
import numpy as np
import pytest
import torch
from diffusers.models.attention import BasicTransformerBlock

from twgtm import load_model
from twgtm.errors import ConfigError, InputError, SamplingCancelled
from twgtm.families import preprocess as pp
from twgtm.families.sd_inpaint_sampler import ETA, make_ddim
from twgtm.model.attention import PassThroughProcessor
from twgtm.weights.base_config import scheduler_config

from ..support.profile_files import SCHEDULER, random_modules, write_base_folder, write_catvton_file, write_tryoffanyone_file

pytestmark = pytest.mark.usefixtures("one_thread")
H, W = 128, 64  # the working size of these tests: one latent stride of the real layout is 64 px


@pytest.fixture(scope="module")
def pipes(tmp_path_factory):
    d = tmp_path_factory.mktemp("profiles")
    unet, vae = random_modules(3)
    write_base_folder(d / "base", unet, vae)
    write_catvton_file(d / "catvton.safetensors")
    write_tryoffanyone_file(d / "toa.safetensors")
    catvton = load_model(profile="catvton", weights=d / "catvton.safetensors", base=d / "base")
    toa = load_model(profile="tryoffanyone", weights=d / "toa.safetensors", base=d / "base")
    return {"catvton": catvton, "tryoffanyone": toa, "dir": d}


def _images(b=1, size=(H, W), seed=0):
    """8-bit-exact person images (B,3,H,W) in [-1,1] and a box mask (B,1,H,W)."""
    g = torch.Generator().manual_seed(seed)
    person = torch.randint(0, 256, (b, 3, *size), generator=g).float() / 127.5 - 1
    mask = torch.zeros(b, 1, *size)
    mask[:, :, size[0] // 4: size[0] * 3 // 4, size[1] // 4: size[1] * 3 // 4] = 1
    return person, mask


def test_ddim_is_the_inpainting_models_own_with_eta_one(pipes, tmp_path):
    ddim = make_ddim(scheduler_config(None))
    c = ddim.config
    assert (c.timestep_spacing, c.steps_offset, c.set_alpha_to_one, c.clip_sample, c.prediction_type) == \
        ("leading", 1, False, False, "epsilon")
    assert (c.beta_schedule, c.beta_start, c.beta_end) == ("scaled_linear", 0.00085, 0.012) and ETA == 1.0
    ddim.set_timesteps(50)
    assert ddim.timesteps[0] == 981 and ddim.timesteps[-1] == 1
    assert pipes["catvton"].model.config.inference.scheduler["steps_offset"] == SCHEDULER["steps_offset"]
    unet, vae = random_modules(3)  # a base folder whose own scheduler config says otherwise is followed
    write_base_folder(tmp_path / "base", unet, vae)
    (tmp_path / "base" / "scheduler" / "scheduler_config.json").write_text(
        '{"_class_name": "DDIMScheduler", "steps_offset": 0, "beta_schedule": "scaled_linear", "beta_start": 0.00085, '
        '"beta_end": 0.012, "set_alpha_to_one": false, "clip_sample": false}')
    write_catvton_file(tmp_path / "c.safetensors")
    model = load_model(profile="catvton", weights=tmp_path / "c.safetensors", base=tmp_path / "base").model
    assert model.config.inference.scheduler["steps_offset"] == 0


def test_unet_input_noise_and_posterior_samples_follow_the_published_layout(pipes):
    """[noisy, mask, masked canvas], height concat, [uncond, cond], nearest mask, per-half posterior samples, no text."""
    pipe = pipes["tryoffanyone"]
    person, mask = _images()
    calls = []
    handle = pipe.model.unet.register_forward_pre_hook(
        lambda m, args, kwargs: calls.append((args[0].clone(), args[1].clone(), kwargs.get("encoder_hidden_states"))),
        with_kwargs=True)
    try:
        result = pipe.tryoff(person, mask=mask, seed=11, steps=2, guidance=2.5, size=(H, W))
    finally:
        handle.remove()
    assert [int(t) for _, t, _ in calls] == [501, 1] and all(e is None for _, _, e in calls)
    x = calls[0][0]
    h, w = H // 8, W // 8
    assert x.shape == (2, 9, 2 * h, w)
    noise = torch.randn((1, 4, 2 * h, w), generator=torch.Generator().manual_seed(11))  # the whole canvas, first draw
    assert torch.equal(x[0, :4], noise[0]) and torch.equal(x[1, :4], noise[0])
    binary = pp.binary_mask(pp.pil_mask(mask[0]))  # (1,H,W)
    nearest = torch.nn.functional.interpolate(binary[None], size=(h, w), mode="nearest")[0]
    assert torch.equal(x[:, 4:5, :h], nearest[None].expand(2, -1, -1, -1)) and not x[:, 4, h:].any()
    vae = pipe.model.vae
    pixels = pp.processor_pixels(pp.pil_rgb(person[0]))[None]
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():  # the posterior samples of each half, top first, from one generator seeded with the seed
        top = vae.encode(pixels * (binary[None] < 0.5)).latent_dist.sample(generator=g) * vae.config.scaling_factor
        bottom = vae.encode(pixels).latent_dist.sample(generator=g) * vae.config.scaling_factor
    assert torch.allclose(x[1, 5:, :h], top[0], atol=1e-6) and torch.allclose(x[1, 5:, h:], bottom[0], atol=1e-6)
    assert torch.equal(x[0, 5:, :h], x[1, 5:, :h]) and not x[0, 5:, h:].any()  # uncond: only the condition half zeroed
    assert torch.equal(result.working_masks[0], binary)


def test_cross_attention_skip_adds_the_normed_input():
    """Their skip processor returns its input, so each block adds norm2(h): not zero, not a skipped residual."""
    torch.manual_seed(0)
    block = BasicTransformerBlock(32, 4, 8, cross_attention_dim=16).eval()
    block.attn2.set_processor(PassThroughProcessor())
    h = torch.randn(2, 10, 32)
    with torch.no_grad():
        out = block(h, encoder_hidden_states=None)
        h1 = block.attn1(block.norm1(h)) + h
        h2 = block.norm2(h1) + h1
        expected = block.ff(block.norm3(h2)) + h2
        without = block.ff(block.norm3(h1)) + h1  # what a skipped cross-attention (adding nothing) would give
    assert torch.allclose(out, expected, atol=1e-6) and not torch.allclose(out, without, atol=1e-3)


def test_only_the_top_half_is_decoded_and_rounded_to_8_bits(pipes):
    pipe = pipes["catvton"]
    person, mask = _images()
    shapes = []
    original = pipe.model.vae.decode
    pipe.model.vae.decode = lambda z, *a, **k: (shapes.append(tuple(z.shape)), original(z, *a, **k))[1]
    try:
        result = pipe.tryon(person, person.flip(-1), mask, steps=1, size=(H, W))
    finally:
        pipe.model.vae.decode = original
    assert shapes == [(1, 4, H // 8, W // 8)]  # the person half of the (1,4,2h,w) canvas
    assert result.working.dtype == torch.uint8 and result.working.shape == (1, 3, H, W)
    assert torch.equal(result.images[0], pp.pixels_from_pil(pp.Image.fromarray(result.working[0].permute(1, 2, 0).numpy())))


def test_batch_items_match_single_runs_and_guidance_one_is_one_branch(pipes):
    pipe = pipes["catvton"]
    person, mask = _images(2, seed=4)
    garment = person.flip(-1)
    both = pipe.tryon(person, garment, mask, seed=[7, 9], steps=2, size=(H, W)).working
    one = pipe.tryon(person[1:], garment[1:], mask[1:], seed=9, steps=2, size=(H, W)).working
    diff = (both[1].int() - one[0].int()).abs()
    assert diff.max() <= 1 and diff.float().mean() < 0.01  # the same numbers; batched kernels round differently
    assert (both[0].int() - both[1].int()).abs().float().mean() > 5  # item 0 has its own seed and images
    rows = []
    handle = pipe.model.unet.register_forward_pre_hook(lambda m, a: rows.append(a[0].shape[0]))
    try:
        pipe.tryon(person[:1], garment[:1], mask[:1], steps=2, guidance=1.0, size=(H, W))
    finally:
        handle.remove()
    assert rows == [1, 1]


def test_published_defaults_callback_cancel_and_scheduler(pipes, monkeypatch):
    pipe = pipes["catvton"]
    person, mask = _images()
    seen = []
    pipe.tryon(person, person, mask, steps=3, size=(H, W), callback=lambda i, n, lat: seen.append((i, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(SamplingCancelled, match="after step 1 of 2"):
        pipe.tryon(person, person, mask, steps=2, size=(H, W), callback=lambda i, n, lat: False)
    with pytest.raises(SamplingCancelled, match="before step 1"):
        pipe.tryon(person, person, mask, steps=2, size=(H, W), cancel=True)
    with pytest.raises(ConfigError, match="DDIM .* choose ddim"):
        pipe.tryon(person, person, mask, steps=2, scheduler="euler", size=(H, W))
    counted = []
    monkeypatch.setattr(pipe.sampler, "sample", lambda canvas, request: counted.append(request) or
                        torch.zeros(1, 3, H, W, dtype=torch.uint8))
    pipe.tryon(person, person, mask, size=(H, W))
    assert (counted[0].steps, counted[0].guidance) == (50, 2.5)  # CatVTON's published defaults


def test_no_repaint_unless_asked_and_the_crop_goes_back_into_the_person(pipes):
    pipe = pipes["catvton"]
    person = torch.randint(0, 256, (1, 3, 150, 64)).float() / 127.5 - 1  # taller than 2:1: cropped top and bottom
    mask = torch.zeros(1, 1, 150, 64)
    mask[:, :, 50:100, 16:48] = 1
    plain = pipe.tryon(person, person.flip(-1), mask, steps=2, size=(H, W))
    repainted = pipe.tryon(person, person.flip(-1), mask, steps=2, size=(H, W), repaint=True)
    left, top, right, bottom = pp.aspect_crop_box(64, 150, (H, W))
    assert (top, bottom) == (11, 139)
    outside = torch.ones(150, 64, dtype=torch.bool)
    outside[top:bottom] = False
    assert torch.equal(plain.images[0][:, outside], person[0][:, outside])  # outside the crop box: the input
    person_w = torch.from_numpy(np.array(pp.crop_resize(pp.pil_rgb(person[0]), (H, W)))).permute(2, 0, 1)
    far = torch.ones(H, W, dtype=torch.bool)
    far[30:100, 0:64] = False  # the mask region plus its blur margin (radius 128 // 50 -> 3)
    assert not torch.equal(plain.working[0][:, far], person_w[:, far])  # sampled everywhere without repaint
    assert torch.equal(repainted.working[0][:, far], person_w[:, far])  # repaint: the person outside the mask


def test_working_size(pipes):
    from twgtm.families.profiles import profile_config
    from twgtm.families.results import profile_sampling_size as working_size

    assert profile_config("catvton").inference.working_size == (1024, 768)
    assert profile_config("tryoffanyone").inference.working_size == (512, 384)
    reduced = pipes["catvton"].model.config
    assert reduced.inference.working_size is None and working_size(reduced, None, (300, 200)) == (256, 192)
    with pytest.raises(InputError, match="not a multiple of 64.*use 128x64"):
        working_size(reduced, (120, 70), (300, 200))
