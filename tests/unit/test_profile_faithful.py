"""Our CatVTON / TryOffAnyone sampling against their published inference, re-derived here from scratch.

The reference below is written for this test from the projects' code (CatVTON: app.py, model/pipeline.py,
model/utils.py, utils.py; TryOffAnyone: src/inference.py, src/model/pipeline.py, src/preprocessing.py):
a diffusers UNet2DConditionModel and AutoencoderKL loaded from the base folder, their skip processor on
every cross-attention, the release file loaded with accelerate's `load_checkpoint_in_model` into the
module list their code builds, DDIMScheduler.from_pretrained(base, subfolder="scheduler"), their Pillow
pre-processing and their loop. It shares no code with twgtm.families. The files are random weights
with the real key layouts on the real SD1.5-inpainting layout with narrow channels (random weights at
full width take ~9 s per UNet call at this size on a 2-core CPU; `TWGTM_FULL_WIDTH=1` runs the CatVTON
check at full width, in minutes).
"""
import os

import numpy as np
import pytest
import torch
from accelerate import load_checkpoint_in_model
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor2_0
from PIL import Image, ImageFilter

from twgtm import load_model
from twgtm.weights.base_config import sd15_unet, sd15_vae

from ..support.profile_files import (random_modules, write_base_folder, write_catvton_file,
                                     write_tryoffanyone_file)

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = (256, 192)  # (H, W) of each half
SEED, STEPS, GUIDANCE = 36, 4, 2.5


# ----- the reference: the projects' inference, re-derived -----------------------------------------
class Skip(torch.nn.Module):
    """Their cross-attention processor: returns its (normed) input."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None):
        return hidden_states


class SelfAttention(torch.nn.Module):
    """CatVTON's attn1 processor: SDPA attention, as a module (so named_modules lists it)."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        return AttnProcessor2_0()(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


def reference_models(base, release, project):
    """UNet, VAE and DDIM as the project's pipeline builds them from the base folder and its release."""
    scheduler = DDIMScheduler.from_pretrained(str(base), subfolder="scheduler")
    vae = AutoencoderKL.from_pretrained(str(base), subfolder="vae").eval()
    unet = UNet2DConditionModel.from_pretrained(str(base), subfolder="unet").eval()
    if project == "catvton":  # init_adapter: attn1 keeps (a module copy of) SDPA, attn2 skipped; then "attention"
        unet.set_attn_processor({n: SelfAttention() if n.endswith("attn1.processor") else Skip() for n in unet.attn_processors})
        trainable = torch.nn.ModuleList(m for n, m in unet.named_modules() if "attn1" in n)
    else:  # skip_cross_attentions, then fine_tuned_modules
        unet.set_attn_processor({n: p if n.endswith("attn1.processor") else Skip() for n, p in unet.attn_processors.items()})
        trainable = torch.nn.ModuleList()
        for blocks in [unet.down_blocks, unet.mid_block, unet.up_blocks]:
            if hasattr(blocks, "attentions"):
                trainable.append(blocks.attentions)
            else:
                for block in blocks:
                    if hasattr(block, "attentions"):
                        trainable.append(block.attentions)
    load_checkpoint_in_model(trainable, str(release))
    return unet, vae, scheduler


def crop_resize(image, width, height):
    """CatVTON utils.resize_and_crop."""
    w, h = image.size
    if w / h < width / height:
        new_w, new_h = w, w * height // width
    else:
        new_w, new_h = h * width // height, h
    image = image.crop(((w - new_w) // 2, (h - new_h) // 2, (w + new_w) // 2, (h + new_h) // 2))
    return image.resize((width, height), Image.LANCZOS)


def pad_resize(image, width, height):
    """CatVTON utils.resize_and_padding."""
    w, h = image.size
    if w / h < width / height:
        new_w, new_h = w * height // h, height
    else:
        new_w, new_h = width, h * width // w
    image = image.resize((new_w, new_h), Image.LANCZOS)
    page = Image.new("RGB", (width, height), (255, 255, 255))
    page.paste(image, ((width - new_w) // 2, (height - new_h) // 2))
    return page


def reference_loop(unet, vae, scheduler, image, condition, mask, steps, guidance, generator):
    """Their __call__ from the prepared tensors on: encode both halves, concat in height, CFG, DDIM eta 1, decode top."""
    masked_image = image * (mask < 0.5)
    encode = lambda x: vae.encode(x.to(memory_format=torch.contiguous_format).float()).latent_dist.sample() \
        * vae.config.scaling_factor  # noqa: E731 - global RNG, as their code
    masked_latent = encode(masked_image)
    condition_latent = encode(condition)
    mask_latent = torch.nn.functional.interpolate(mask, size=masked_latent.shape[-2:], mode="nearest")
    masked_concat = torch.cat([masked_latent, condition_latent], dim=-2)
    mask_concat = torch.cat([mask_latent, torch.zeros_like(mask_latent)], dim=-2)
    latents = torch.randn(masked_concat.shape, generator=generator, dtype=torch.float32)
    scheduler.set_timesteps(steps)
    latents = latents * scheduler.init_noise_sigma
    masked_concat = torch.cat([torch.cat([masked_latent, torch.zeros_like(condition_latent)], dim=-2), masked_concat])
    mask_concat = torch.cat([mask_concat] * 2)
    for t in scheduler.timesteps:
        x = scheduler.scale_model_input(torch.cat([latents] * 2), t)
        x = torch.cat([x, mask_concat, masked_concat], dim=1)
        eps = unet(x, t, encoder_hidden_states=None, return_dict=False)[0]
        uncond, cond = eps.chunk(2)
        eps = uncond + guidance * (cond - uncond)
        latents = scheduler.step(eps, t, latents, generator=generator, eta=1.0).prev_sample
    latents = latents.split(latents.shape[-2] // 2, dim=-2)[0]
    latents = 1 / vae.config.scaling_factor * latents
    out = vae.decode(latents).sample
    out = (out / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().numpy()
    return (out * 255).round().astype("uint8")[0]  # (H,W,3)


@torch.no_grad()
def reference_catvton(base, release, person, garment, mask, steps, guidance, seed):
    """CatVTON's app flow: crop person and mask, pad the garment, blur the mask (9), the pipeline's loop."""
    unet, vae, scheduler = reference_models(base, release, "catvton")
    width, height = SIZE[1], SIZE[0]
    person, garment = crop_resize(person, width, height), pad_resize(garment, width, height)
    mask = crop_resize(mask, width, height).filter(ImageFilter.GaussianBlur(9))
    image = torch.from_numpy(np.array(person)[None].transpose(0, 3, 1, 2)).float() / 127.5 - 1.0
    cond = torch.from_numpy(np.array(garment)[None].transpose(0, 3, 1, 2)).float() / 127.5 - 1.0
    m = np.array(mask.convert("L"))[None, None].astype(np.float32) / 255.0
    m[m < 0.5], m[m >= 0.5] = 0, 1
    torch.manual_seed(seed)  # their posterior samples read the global generator: seeded here
    return reference_loop(unet, vae, scheduler, image, cond, torch.from_numpy(m), steps, guidance,
                          torch.Generator("cpu").manual_seed(seed))


@torch.no_grad()
def reference_tryoffanyone(base, release, person, mask, steps, guidance, seed):
    """TryOffAnyone's script: plain resize, diffusers' image processors, its pipeline's loop."""
    from diffusers.image_processor import VaeImageProcessor

    unet, vae, scheduler = reference_models(base, release, "tryoffanyone")
    width, height = SIZE[1], SIZE[0]
    person = person.convert("RGB").resize((width, height))
    mask_processor = VaeImageProcessor(vae_scale_factor=8, do_normalize=False, do_binarize=True, do_convert_grayscale=True)
    m = mask_processor.preprocess(mask, height, width)[0][None]
    image = VaeImageProcessor(vae_scale_factor=8).preprocess(person, height, width)[0][None].float()
    m[m < 0.5], m[m >= 0.5] = 0, 1
    torch.manual_seed(seed)
    return reference_loop(unet, vae, scheduler, image, image, m, steps, guidance,
                          torch.Generator("cpu").manual_seed(seed))


# ----- fixtures and comparisons -------------------------------------------------------------------
def _pictures(size=(300, 212), seed=3):
    """A person, a garment of another aspect ratio and a garment mask with soft edges, as 8-bit images."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    person = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) * 97 % 256)], -1).astype(np.uint8)
    person = np.clip(person + rng.integers(-20, 20, person.shape), 0, 255).astype(np.uint8)
    garment = rng.integers(0, 256, (140, 170, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 5: h * 3 // 4, w // 5: w * 4 // 5] = 255
    return Image.fromarray(person), Image.fromarray(garment), Image.fromarray(mask, "L")


def _tensor(image):
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def _mask_tensor(mask):
    return torch.from_numpy(np.array(mask)).float()[None, None] / 255.0


def _report(name, ours, theirs):
    diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    print(f"{name}: mean |diff| {diff.mean():.4f} / 255, max {diff.max()} / 255 over {diff.size} values")
    return diff


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("faithful")
    unet, vae = random_modules(17)
    write_base_folder(d / "sd15-inpainting", unet, vae)
    write_catvton_file(d / "CatVTON" / "mix-48k-1024" / "attention" / "model.safetensors", seed=23)
    write_tryoffanyone_file(d / "tryOffAnyone" / "model.safetensors", seed=29)
    return d


def test_catvton_matches_its_published_inference(files):
    person, garment, mask = _pictures()
    release = files / "CatVTON" / "mix-48k-1024" / "attention"
    theirs = reference_catvton(files / "sd15-inpainting", release, person, garment, mask, STEPS, GUIDANCE, SEED)
    pipe = load_model(profile="catvton", weights=release / "model.safetensors", base=files / "sd15-inpainting")
    result = pipe.tryon(_tensor(person), _tensor(garment), _mask_tensor(mask), seed=SEED, steps=STEPS,
                                        guidance=GUIDANCE, size=SIZE)
    ours = result.working[0].permute(1, 2, 0).numpy()
    diff = _report("CatVTON", ours, theirs)
    assert ours.shape == theirs.shape == (*SIZE, 3)
    assert diff.mean() <= 1.0 and theirs.std() > 10  # within rounding, on a picture that is not flat


def test_tryoffanyone_matches_its_published_inference(files):
    person, _garment, mask = _pictures(seed=4)
    release = files / "tryOffAnyone"
    theirs = reference_tryoffanyone(files / "sd15-inpainting", release, person, mask, STEPS, GUIDANCE, SEED)
    pipe = load_model(profile="tryoffanyone", weights=release / "model.safetensors", base=files / "sd15-inpainting")
    result = pipe.tryoff(_tensor(person), mask=_mask_tensor(mask), seed=SEED, steps=STEPS,
                                         guidance=GUIDANCE, size=SIZE)
    ours = result.working[0].permute(1, 2, 0).numpy()
    diff = _report("TryOffAnyone", ours, theirs)
    assert ours.shape == theirs.shape == (*SIZE, 3)
    assert diff.mean() <= 1.0 and theirs.std() > 10


@pytest.mark.skipif(os.environ.get("TWGTM_FULL_WIDTH") != "1", reason="full-width SD1.5 weights: set TWGTM_FULL_WIDTH=1")
def test_catvton_matches_at_full_width(tmp_path):
    """The same check on the real SD1.5-inpainting config at full width (random weights), 2 steps at 256×192."""
    unet, vae = random_modules(17, sd15_unet(), sd15_vae())
    write_base_folder(tmp_path / "sd15-inpainting", unet, vae)
    del unet, vae
    release = tmp_path / "CatVTON" / "mix-48k-1024" / "attention"
    write_catvton_file(release / "model.safetensors", sd15_unet(), seed=23)
    person, garment, mask = _pictures()
    theirs = reference_catvton(tmp_path / "sd15-inpainting", release, person, garment, mask, 2, GUIDANCE, SEED)
    pipe = load_model(profile="catvton", weights=release / "model.safetensors", base=tmp_path / "sd15-inpainting")
    assert pipe.config.name == "sd15-catvton" and pipe.config.inference.working_size == (1024, 768)
    result = pipe.tryon(_tensor(person), _tensor(garment), _mask_tensor(mask), seed=SEED, steps=2,
                                        guidance=GUIDANCE, size=SIZE)
    diff = _report("CatVTON full width", result.working[0].permute(1, 2, 0).numpy(), theirs)
    assert diff.mean() <= 1.0
