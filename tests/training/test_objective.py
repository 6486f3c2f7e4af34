"""The diffusion objective: prediction type and zero terminal SNR (training and sampling agree),
timestep sampling, the per-cell loss weights and the solid-colour curriculum."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from training.config import load_config
from training.data import OnTheFly, assemble, build_datasets, draw_timesteps, solid_colours
from training.losses import noise_loss, weighted_noise_loss
from training.stages.diffusion import training_noise_scheduler
from training.trainer import Trainer
from twgtm.data.toy import generate_toy_wardrobe
from twgtm.errors import ConfigError
from twgtm.model.config import get_preset
from twgtm.model.network import build_model
from twgtm.sampling.pipeline import TWGTMPipeline
from twgtm.sampling.schedulers import make_scheduler
from twgtm.weights.checkpoint import load_checkpoint, save_checkpoint

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    generate_toy_wardrobe(root, n=10, seed=3, size=(64, 48), test_fraction=0.2)
    return root


def test_v_prediction_config_needs_v_for_zero_snr():
    config = get_preset("tiny")
    assert (config.prediction_type, config.zero_terminal_snr) == ("epsilon", False)  # old checkpoints read as this
    with pytest.raises(ConfigError, match="zero_terminal_snr needs prediction_type 'v_prediction'"):
        config.replace(zero_terminal_snr=True)
    with pytest.raises(ConfigError, match="prediction_type must be one of"):
        config.replace(prediction_type="sample")
    with pytest.raises(ConfigError, match="model.prediction_type .* must be v_prediction"):
        load_config(CONFIGS / "tiny.yaml", ["data.root=/x", "model.zero_terminal_snr=true"])


def test_zero_snr_schedule_ends_in_pure_noise_and_samples_from_it():
    plain = make_scheduler("ddim")
    plain.set_timesteps(20)
    assert int(plain.timesteps[0]) == 951 and float(plain.alphas_cumprod[-1]) > 1e-3  # SD1.5: leftover signal
    for name in ("ddim", "euler", "dpmpp_2m", "unipc"):
        s = make_scheduler(name, "v_prediction", True)
        s.set_timesteps(20)
        assert s.config.prediction_type == "v_prediction"
        assert int(s.timesteps[0]) == 999, name  # trailing spacing starts at the pure-noise step
    ddpm = training_noise_scheduler(get_preset("tiny").replace(prediction_type="v_prediction", zero_terminal_snr=True))
    assert float(ddpm.alphas_cumprod[-1]) == 0.0


def test_assemble_targets_v_and_draws_high_timesteps():
    torch.manual_seed(0)
    b = 6
    entries = {k: torch.randn(b, 4, 4, 6) for k in ("vton_x0", "vton_masked", "vtoff_x0", "vtoff_masked")}
    entries.update(vton_mask=torch.ones(b, 1, 4, 6), vtoff_mask=torch.ones(b, 1, 4, 6), prompt=["a"] * b,
                   garment=torch.zeros(b, 3, 8, 8), person=torch.zeros(b, 3, 8, 8), garment_mask=torch.zeros(b, 1, 8, 8))
    v_sched = training_noise_scheduler(get_preset("tiny").replace(prediction_type="v_prediction", zero_terminal_snr=True))
    inputs = assemble(entries, v_sched, torch.Generator().manual_seed(1), 0.0, 0.0, "width")
    ab = v_sched.alphas_cumprod[inputs.timesteps].view(-1, 1, 1, 1)
    x0 = entries["vton_x0"]
    assert torch.allclose(inputs.target, ab.sqrt() * inputs.noise - (1 - ab).sqrt() * x0, atol=1e-6)
    eps = assemble(entries, training_noise_scheduler(), torch.Generator().manual_seed(1), 0.0, 0.0, "width")
    assert torch.equal(eps.target, eps.noise)
    high = draw_timesteps(20000, 1000, "high", torch.Generator().manual_seed(0)).float()
    uniform = draw_timesteps(20000, 1000, "uniform", torch.Generator().manual_seed(0)).float()
    assert high.min() >= 0 and high.max() <= 999
    assert abs(uniform.mean() - 499.5) < 10 and abs(high.mean() - 1000 * 2 / 3) < 10  # E[1-u²] = 2/3
    assert (high >= 900).float().mean() > 0.25 > (uniform >= 900).float().mean()


def test_weighted_noise_loss_counts_the_cells_it_says():
    torch.manual_seed(0)
    pred, target = torch.randn(2, 4, 3, 8), torch.randn(2, 4, 3, 8)
    mask = torch.zeros(2, 1, 3, 8)
    mask[:, :, 1:, 1:3] = 1  # inside the target half (columns 0-3)
    assert torch.equal(weighted_noise_loss(pred, target, mask, "width"), noise_loss(pred, target))
    err = ((pred - target) ** 2).mean(1, keepdim=True)  # (2,1,3,8)
    target_half = err[..., :4]
    inside = target_half[mask[..., :4] > 0]
    outside = target_half[mask[..., :4] == 0]
    expected = (10 * inside.sum() + outside.sum()) / (10 * inside.numel() + outside.numel())
    got = weighted_noise_loss(pred, target, mask, "width", inpaint_weight=10.0, reference_weight=0.0)
    assert torch.allclose(got, expected, atol=1e-6)
    pred_ref = pred.clone()
    pred_ref[..., 4:] += 100  # the reference half does not count at weight 0
    assert torch.allclose(weighted_noise_loss(pred_ref, target, mask, "width", 10.0, 0.0), got, atol=1e-6)
    tall = weighted_noise_loss(pred.transpose(-1, -2), target.transpose(-1, -2), mask.transpose(-1, -2), "height",
                               10.0, 0.0)
    assert torch.allclose(tall, got, atol=1e-6)


def test_solid_colours_repaint_the_worn_and_the_flat_garment(toy_root):
    train, _ = build_datasets(load_config(CONFIGS / "tiny.yaml", [f"data.root={toy_root}",
                                                                  "data.solid_colour_fraction=0.5",
                                                                  "data.cache_latents=false"]).data)
    batch = torch.utils.data.default_collate([train[i] for i in range(len(train))])
    assert "garment_region" in batch
    out = solid_colours(batch, 1.0, torch.Generator().manual_seed(0))
    for i in range(len(train)):
        region = batch["garment_region"][i, 0] > 0.5
        cloth = batch["garment_mask"][i, 0] > 0.5
        worn = out["person"][i][:, region]  # (3, n): one colour
        flat = out["garment"][i][:, cloth]
        assert worn.std(1).max() < 1e-6 and torch.allclose(worn[:, 0], flat[:, 0])
        assert worn[:, 0].abs().max() <= 0.9 + 1e-6
        assert torch.equal(out["person"][i][:, ~region], batch["person"][i][:, ~region])
        assert torch.equal(out["garment"][i][:, ~cloth], batch["garment"][i][:, ~cloth])
    none = solid_colours(batch, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(none["person"], batch["person"]) and torch.equal(none["garment"], batch["garment"])
    with pytest.raises(ConfigError, match="data.cache_latents .* must be false"):
        load_config(CONFIGS / "tiny.yaml", [f"data.root={toy_root}", "data.solid_colour_fraction=0.5"])
    with pytest.raises(ConfigError, match="data.dataset .* toy or vitonhd"):
        load_config(CONFIGS / "tiny.yaml", [f"data.root={toy_root}", "data.solid_colour_fraction=0.5",
                                            "data.cache_latents=false", "data.dataset=dresscode"])


def test_on_the_fly_source_recolours_from_its_generator(toy_root):
    model = build_model("tiny").eval()
    train, _ = build_datasets(load_config(CONFIGS / "tiny.yaml", [f"data.root={toy_root}",
                                                                  "data.solid_colour_fraction=1.0",
                                                                  "data.cache_latents=false"]).data)
    source = OnTheFly(model, train, 1, 9, solid_colour_fraction=1.0)
    a = source.batch([0, 1], "cpu", torch.Generator().manual_seed(4))
    b = source.batch([0, 1], "cpu", torch.Generator().manual_seed(4))
    c = source.batch([0, 1], "cpu", torch.Generator().manual_seed(5))
    assert torch.equal(a["vton_x0"], b["vton_x0"]) and not torch.equal(a["vton_x0"], c["vton_x0"])
    plain = OnTheFly(model, train, 1, 9).batch([0, 1], "cpu")
    assert not torch.equal(a["garment"], plain["garment"])


def test_v_prediction_run_exports_a_model_that_samples_as_it_learned(toy_root, tmp_path):
    """A demo-style continuation: init from an epsilon checkpoint, learn v with zero terminal SNR, the
    curriculum and the weights; the exported file says so, reloads so and samples with that scheduler."""
    start = build_model("tiny")
    save_checkpoint(start, tmp_path / "eps.safetensors")
    out = tmp_path / "run"
    config = load_config(CONFIGS / "tiny.yaml", [
        f"data.root={toy_root}", f"output_dir={out}", "train.threads=1", f"model.init={tmp_path / 'eps.safetensors'}",
        "model.prediction_type=v_prediction", "model.zero_terminal_snr=true", "train.timestep_sampling=high",
        "train.inpaint_loss_weight=10", "train.reference_loss_weight=0", "data.solid_colour_fraction=0.5",
        "data.cache_latents=false", "stages.vae.steps=0", "stages.srm.steps=0"])
    Trainer(config, show_progress=False).run()
    exported = load_checkpoint(out / "model.safetensors")
    assert (exported.config.prediction_type, exported.config.zero_terminal_snr) == ("v_prediction", True)
    # init from it without saying anything keeps v (the file's objective comes with its UNet)
    again = build_model("tiny")
    load_checkpoint(out / "model.safetensors", model=again)
    assert again.config.prediction_type == "v_prediction" and again.config.zero_terminal_snr
    seen = []
    pipe = TWGTMPipeline(exported)
    person, garment = torch.rand(1, 3, 64, 48) * 2 - 1, torch.rand(1, 3, 64, 48) * 2 - 1
    mask = torch.zeros(1, 1, 64, 48)
    mask[..., 16:48, 8:40] = 1
    result = pipe.tryon(person, garment, mask, steps=3, guidance=2.0, seed=0,
                        callback=lambda i, n, latents: seen.append(float(latents.abs().max())))
    assert result.images.shape == (1, 3, 64, 48) and torch.isfinite(result.images).all() and len(seen) == 3
    # the same UNet read as epsilon samples something else: the objective is not ignored
    as_eps = load_checkpoint(out / "model.safetensors")
    as_eps.config = as_eps.config.replace(prediction_type="epsilon", zero_terminal_snr=False)
    other = TWGTMPipeline(as_eps).tryon(person, garment, mask, steps=3, guidance=2.0, seed=0)
    assert (other.images - result.images).abs().max() > 1e-3
    assert math.isfinite(float(result.images.mean()))


def test_decoder_only_vae_training_decodes_the_latents_the_unet_samples(toy_root, tmp_path):
    from training.stages.vae import VAETrainer
    vae = build_model("tiny").vae.eval()
    pixels = torch.rand(2, 3, 32, 64) * 2 - 1
    recon, _ = VAETrainer(vae, decode_mode=True)(pixels)
    assert torch.equal(recon, vae.decode(vae.encode(pixels).latent_dist.mode()).sample)
    sampled, _ = VAETrainer(vae)(pixels, torch.Generator().manual_seed(0))
    assert not torch.equal(sampled, recon)
    # with the solid-colour curriculum: the decoder learns, the encoder stays
    config = load_config(CONFIGS / "tiny.yaml", [
        f"data.root={toy_root}", f"output_dir={tmp_path / 'run'}", "train.threads=1", "stages.vae.train=decoder",
        "data.solid_colour_fraction=1.0", "data.cache_latents=false", "stages.stage1.steps=0", "stages.stage2.steps=0",
        "stages.srm.steps=0", "validate.count=0"])
    trainer = Trainer(config, show_progress=False)
    before = {k: v.clone() for k, v in trainer.model.vae.state_dict().items()}
    trainer.run()
    after = trainer.model.vae.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after if k.startswith(("encoder.", "quant_conv.")))
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith("decoder."))


def test_pixels_kept_on_the_device_give_the_batches_read_from_files(toy_root):
    from training.data import PixelCache
    model = build_model("tiny").eval()
    train, _ = build_datasets(load_config(CONFIGS / "tiny.yaml", [f"data.root={toy_root}", "data.cache_latents=false",
                                                                  "data.solid_colour_fraction=0.5"]).data)
    kept = PixelCache(model, train, 2, 9, solid_colour_fraction=0.5, show_progress=False)
    read = OnTheFly(model, train, 2, 9, solid_colour_fraction=0.5)
    a = kept.batch([3, 0, 2], "cpu", torch.Generator().manual_seed(9))
    b = read.batch([3, 0, 2], "cpu", torch.Generator().manual_seed(9))
    assert a["prompt"] == b["prompt"]
    for key in ("vton_x0", "vton_masked", "vtoff_x0", "vtoff_masked", "vton_mask", "vtoff_mask", "garment_mask"):
        assert torch.allclose(a[key], b[key], atol=1e-5), key  # uint8 storage: the files are 8-bit already


@pytest.mark.slow  # torch.compile: about two minutes
def test_compiled_training_forward_trains_like_the_eager_one(toy_root, tmp_path):
    """train.compile runs the UNet through torch.compile (aot_eager here: the same graph capture and
    autograd as inductor without its code generation); the weights match an eager run's."""
    common = [f"data.root={toy_root}", "train.threads=1", "stages.vae.steps=0", "stages.srm.steps=0",
              "stages.stage1.steps=0", "stages.stage2.steps=2", "train.ema_decay=0", "data.cache_latents=false",
              "data.cache_pixels=true", "model.prediction_type=v_prediction", "model.zero_terminal_snr=true",
              "validate.count=0"]
    eager = Trainer(load_config(CONFIGS / "tiny.yaml", [*common, f"output_dir={tmp_path / 'e'}"]), show_progress=False)
    eager.run()
    compiled = Trainer(load_config(CONFIGS / "tiny.yaml", [*common, f"output_dir={tmp_path / 'c'}",
                                                           "train.compile=aot_eager"]), show_progress=False)
    compiled.run()
    assert compiled.model.unet._compiled_call_impl is not None  # it did go through torch.compile
    a, b = eager.model.unet.state_dict(), compiled.model.unet.state_dict()
    assert a.keys() == b.keys()
    assert max(float((a[k].float() - b[k].float()).abs().max()) for k in a) < 1e-4
    start = build_model("tiny").unet.state_dict()
    assert any(not torch.equal(start[k], b[k]) for k in b)


def test_encoding_each_items_own_task_gives_the_inputs_of_encoding_both(toy_root):
    """With the task split drawn first, a batch encodes only each item's canvases (half the VAE work)
    and `assemble` builds the same UNet inputs, targets and masks as from both tasks' latents."""
    from training.data import draw_tasks

    torch.manual_seed(0)
    model = build_model("tiny").eval()
    train, _ = build_datasets(load_config(CONFIGS / "tiny.yaml", [f"data.root={toy_root}"]).data)
    source = OnTheFly(model, train, 2, 9)
    sched = training_noise_scheduler(model.config)
    tryoff = draw_tasks(4, torch.Generator().manual_seed(9), 0.5)
    assert 0 < int(tryoff.sum()) < 4  # both tasks in the batch
    both = assemble(source.batch([0, 1, 2, 3], "cpu"), sched, torch.Generator().manual_seed(9), 0.5, 0.3, "width")
    own = source.batch([0, 1, 2, 3], "cpu", tryoff=tryoff)
    generator = torch.Generator().manual_seed(9)
    assert torch.equal(draw_tasks(4, generator, 0.5), tryoff)
    only = assemble(own, sched, generator, 0.5, 0.3, "width", tryoff=tryoff)
    assert torch.equal(only.tryoff, both.tryoff) and torch.equal(only.drop, both.drop)
    assert torch.equal(only.timesteps, both.timesteps) and torch.equal(only.mask, both.mask)
    for name in ("unet_input", "target", "reference"):
        assert torch.allclose(getattr(only, name), getattr(both, name), atol=1e-5), name


def test_a_run_that_trains_the_unet_exports_its_canvas_size_as_the_working_size(toy_root, tmp_path):
    """The sampler letterboxes inputs to the size the UNet learned at: a UNet trained on 64x48 halves
    and sampled on 128x96 ones sees every garment at twice the scale it knows."""
    start = build_model("tiny")
    start.config.inference.working_size = (128, 96)
    save_checkpoint(start, tmp_path / "start.safetensors")
    common = [f"data.root={toy_root}", "train.threads=1", f"model.init={tmp_path / 'start.safetensors'}",
              "stages.vae.steps=0", "stages.stage1.steps=0", "validate.count=0"]
    unet = load_config(CONFIGS / "tiny.yaml", [*common, f"output_dir={tmp_path / 'unet'}", "stages.stage2.steps=1",
                                               "stages.srm.steps=0"])
    exported = load_checkpoint(Trainer(unet, show_progress=False).run())
    assert exported.config.inference.working_size == (64, 48)
    assert TWGTMPipeline(exported).working_size() == (64, 48)
    srm_only = load_config(CONFIGS / "tiny.yaml", [*common, f"output_dir={tmp_path / 'srm'}", "stages.stage2.steps=0",
                                                   "stages.srm.steps=1"])
    kept = load_checkpoint(Trainer(srm_only, show_progress=False).run())
    assert kept.config.inference.working_size == (128, 96)  # the UNet was not trained: its size stays
