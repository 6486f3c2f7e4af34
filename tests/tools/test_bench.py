"""Benchmark CLI and the fast paths it measures: each switch keeps the result and does what it says."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from twgtm.model.attention import ExtendedAttnProcessor
from twgtm.sampling.memory_replay import LiveBytes, estimate_tryon_peak, measure_live_peak, tensor_bytes
from twgtm.model.config import get_preset
from twgtm.sampling.encoder_cache import EncoderCache, tensor_digest
from twgtm.errors import ConfigError
from twgtm.model.network import build_model
from twgtm.sampling.pipeline import TWGTMPipeline

ROOT = Path(__file__).resolve().parents[2]
FAST = dict(steps=2, guidance=2.5)


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(seed=0):
    torch.manual_seed(seed)
    model = build_model("tiny").eval()
    with torch.no_grad():  # make the SRM branch matter (ZLL starts at zero)
        for n, p in model.named_parameters():
            if ".zll." in n:
                p.normal_(0, 0.2)
    return model


@pytest.fixture()
def pipe():
    return TWGTMPipeline(_model())


def _images(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g) * 2 - 1


def _mask(b, h, w):
    m = torch.zeros(b, 1, h, w)
    m[:, :, h // 5: h * 3 // 4, w // 6: w * 5 // 6] = 1
    return m


def _tryon(pipe, b=2, h=48, w=32, **kw):
    return pipe.tryon(_images(b, h, w), _images(b, h, w, seed=1), _mask(b, h, w), **{**FAST, **kw}).images


# ------------------------------------------------------------------------------------------- the CLI
@pytest.mark.slow  # a Python process of its own
def test_cli_tiny_emits_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "twgtm.bench", "--preset", "tiny", "--batch", "1", "2", "--repeats", "1",
                           "--warmup", "0", "--steps", "1", "--threads", "1", "--estimate", "256x192", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    # (the estimate at a small person: the tiny VAE's 64-px tiles make a tiled 1024x768 replay ~700 tiles, minutes)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| latent (canvas px) |" in proc.stdout and "step_ratio_le_1.10" in proc.stdout
    r = json.loads(out.read_text())
    assert json.loads(proc.stdout[proc.stdout.index("\n{") + 1:]) == r  # the same JSON on stdout
    for key in ("machine", "settings", "steps", "encoders", "calls", "memory", "scaling", "targets", "build_s"):
        assert key in r, key
    main = r["steps"][0]
    assert main["latent"] == [8, 12] and main["batch"] == 1 and main["unet_batch"] == 2
    for name in ("backbone", "twgtm", "twgtm_nocache", "twgtm_noskip", "backbone_classic", "twgtm_classic",
                 "encoders", "encoders_cache_hit"):
        assert main[name]["median_s"] > 0, name
    for key in ("step_ratio", "flop_ratio", "nocache_ratio", "noskip_ratio", "classic_ratio", "encoders_backbone_steps"):
        assert main[key] > 0, key
    assert main["flops"]["twgtm"] > main["flops"]["backbone"] > 0
    assert main["flops"]["twgtm_noskip"] > main["flops"]["twgtm"]  # the null rows skip real work
    assert main["flops"]["twgtm_nocache"] > main["flops"]["twgtm"]  # K'/V' recomputed at every call
    assert len(r["scaling"]["size"]) == 3 and [x["batch"] for x in r["scaling"]["batch"]] == [1, 2]
    assert all(x["backbone_s"] > 0 and x["twgtm_s"] > 0 for x in r["scaling"]["size"] + r["scaling"]["batch"])
    for task in ("tryon", "tryoff"):
        c = r["calls"][task]
        assert c["batched"]["median_s"] > 0 and c["sequential"]["median_s"] > 0 and c["sequential_over_batched"] > 0
    assert r["encoders"]["flops"] > 0 and r["encoders"]["backbone_steps"] > 0
    est = r["memory"]["estimate"]
    assert est["person"] == [256, 192] and est["latent"] == [32, 48] and est["dtype"] == "bfloat16"
    assert est["total_bytes"] > est["parameters_bytes"] > 0 and est["activation_peak_bytes"] > 0
    tiled = r["memory"]["estimate_vae_tiling"]
    assert tiled["vae_tiling"] and tiled["phases_bytes"]["vae_encode"] < est["phases_bytes"]["vae_encode"]
    assert r["memory"]["parameters_bytes"] > 0
    assert set(r["targets"]) >= {"step_ratio_le_1.10", "encoders_le_1_backbone_step", "tryon_cfg_batched_faster",
                                 "estimated_peak_lt_8GB"}


@pytest.mark.slow  # a Python process of its own
def test_cli_checks_the_activation_formula_against_measured_cpu_peaks(tmp_path):
    """--check-formula: whole demo-size try-ons (batch 1 and 2, CFG batched and sequential) measured on the CPU
    (process RSS with freed blocks returned) against twgtm.sampling.memory_plan's estimate: within 25 %."""
    out = tmp_path / "formula.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "twgtm.bench", "--preset", "demo", "--batch", "1", "2", "--repeats", "1",
                           "--warmup", "0", "--steps", "1", "--latent", "8x12", "--threads", "1",
                           "--check-formula", "256x192", "--skip", "classic", "nocache", "noskip", "encoders", "calls",
                           "flops", "estimate", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| measured activation peak MB | formula MB | formula error |" in proc.stdout
    r = json.loads(out.read_text())
    rows = r["memory"]["formula_check"]
    assert [(row["batch"], row["cfg_batched"]) for row in rows] == [(1, True), (1, False), (2, True), (2, False)]
    for row in rows:
        print(f"person {row['person']} batch {row['batch']} CFG {'batched' if row['cfg_batched'] else 'sequential'}: "
              f"measured {row['measured_extra_bytes'] / 2**20:.0f} MiB, formula {row['estimated_bytes'] / 2**20:.0f} MiB "
              f"({row['relative_error'] * 100:+.0f} %)")
        assert row["measured_extra_bytes"] > 20 * 2**20  # a real measurement, well above the allocator's noise
        assert abs(row["relative_error"]) <= 0.25, row
    two = {row["cfg_batched"]: row for row in rows if row["batch"] == 2}
    one = {row["cfg_batched"]: row for row in rows if row["batch"] == 1}
    assert two[True]["measured_extra_bytes"] > 1.5 * one[True]["measured_extra_bytes"]  # it scales with the batch
    assert r["targets"]["activation_formula_within_25pct"]["ok"] is True


@pytest.mark.slow  # a Python process of its own
def test_cli_rejects_bad_sizes():
    proc = subprocess.run([sys.executable, "-m", "twgtm.bench", "--preset", "tiny", "--latent", "64by96"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "HxW" in proc.stderr


# ------------------------------------------------------------------------------------------- attention
def test_sdpa_and_classic_attention_agree(pipe):
    model = pipe.model
    assert model.attention_backend == "sdpa"
    sdpa = _tryon(pipe)
    pipe.configure(attention="classic")
    kinds = {type(p).__name__ for p in model.unet.attn_processors.values()}
    assert kinds == {"ExtendedAttnProcessor", "AttnProcessor"}
    assert all(p.backend == "classic" for p in model.unet.attn_processors.values() if isinstance(p, ExtendedAttnProcessor))
    classic = _tryon(pipe)
    assert torch.allclose(sdpa, classic, atol=1e-4), (sdpa - classic).abs().max()
    pipe.configure(attention="sdpa")
    assert {type(p).__name__ for p in model.unet.attn_processors.values()} == {"ExtendedAttnProcessor", "AttnProcessor2_0"}
    assert torch.equal(_tryon(pipe), sdpa)
    with pytest.raises(ConfigError, match="sdpa"):
        model.set_attention_backend("flash9")


def test_plain_backbone_is_the_backbone_and_restores():
    torch.manual_seed(1)
    model = build_model("tiny").eval()  # ZLL = 0: TWGTM equals its backbone
    x, t = torch.randn(2, 9, 8, 12), torch.tensor([500, 500])
    sam, srm = torch.randn(2, 5, 16), torch.randn(2, 10, 16)
    model.set_reference(srm)
    with torch.no_grad():
        ours = model.unet_step(x, t, sam)
        before = dict(model.unet.attn_processors)
        with model.plain_backbone():
            assert not any(isinstance(p, ExtendedAttnProcessor) for p in model.unet.attn_processors.values())
            plain = model.unet_step(x, t, sam)
    assert model.unet.attn_processors == before
    assert torch.allclose(ours, plain, atol=1e-6)


# ------------------------------------------------------------------------------------------- K'/V' and CFG
def test_kv_cache_switch_same_output_and_counts(pipe):
    blocks = len(pipe.model.extended_attention)
    pipe.model.context.kv_computations = 0
    cached = _tryon(pipe, steps=3)
    assert pipe.model.context.kv_computations == blocks
    pipe.configure(kv_cache=False)
    pipe.model.context.kv_computations = 0
    recomputed = _tryon(pipe, steps=3)
    assert pipe.model.context.kv_computations == 3 * blocks
    assert torch.equal(cached, recomputed)


def test_cfg_batched_sequential_and_null_row_skip_agree(pipe):
    model = pipe.model
    rows = []
    zll = next(iter(model.extended_attention.values())).zll
    handle = zll.register_forward_pre_hook(lambda mod, args: rows.append(args[0].shape[0]))
    try:
        batched = _tryon(pipe, b=2)
        assert rows == [2, 2]  # UNet batch 4 (CFG), but the extended branch runs on the 2 conditional rows only
        rows.clear()
        pipe.configure(skip_null_rows=False)
        unskipped = _tryon(pipe, b=2)
        assert rows == [4, 4]
        rows.clear()
        pipe.configure(skip_null_rows=True, cfg_batched=False)
        sequential = _tryon(pipe, b=2)
        assert rows == [2, 2]  # the unconditional branch (weight 0) skips it entirely
        assert torch.allclose(_tryon(pipe, b=2, cfg_batched=True), batched, atol=0)  # the call's switch wins
    finally:
        handle.remove()
    assert torch.allclose(batched, unskipped, atol=1e-5), (batched - unskipped).abs().max()
    assert torch.allclose(batched, sequential, atol=1e-5), (batched - sequential).abs().max()


@pytest.mark.parametrize("dropped", [[True, False, True], [False, True, False], [True, True, True]])
def test_training_drop_weights_and_null_row_skip(dropped):
    """Dropped items (weight 0): the skip changes nothing at inference; in training every row keeps the branch."""
    model = _model(3)
    model.set_stage(2)
    x, t = torch.randn(3, 9, 8, 12), torch.tensor([100, 500, 900])
    ref = _images(3, 32, 32)
    ids, am = model.tokenize(["upper"] * 3)
    drop = torch.tensor(dropped)
    zll = next(iter(model.extended_attention.values())).zll
    seen = []  # rows reaching ZLL, per UNet call
    hook = zll.register_forward_pre_hook(lambda mod, args: seen.append(args[0].shape[0]))
    kept = 3 - sum(dropped)
    outs = []
    try:
        for skip in (True, False):
            model.context.skip_null_rows = skip
            seen.clear()
            with torch.no_grad():
                outs.append(model(x, t, ref, ids, am, drop=drop).noise_pred)
            if not skip:
                assert seen == [3]
            else:
                assert seen == ([kept] if kept else [])  # all dropped: the branch is skipped altogether
        model.context.skip_null_rows = True
        seen.clear()
        model.zero_grad()
        model(x, t, ref, ids, am, drop=drop).noise_pred.square().mean().backward()  # the training path
        assert seen == [3]  # no skip with gradients: the ZLL weights take part even when all are dropped (DDP)
        assert zll.weight.grad is not None
    finally:
        hook.remove()
        model.context.skip_null_rows = True
    assert torch.allclose(outs[0], outs[1], atol=1e-5)


# ------------------------------------------------------------------------------------------- encoder cache
def test_encoder_cache_hits_skip_encoders_and_misses_on_change(pipe, encoder_calls):
    model = pipe.model
    calls = encoder_calls(model)
    person, garment, mask = _images(1, 48, 32), _images(1, 48, 32, seed=1), _mask(1, 48, 32)
    pipe.encoder_cache.clear()
    first = pipe.tryon(person, garment, mask, **FAST).images
    assert calls == {"sam": 1, "srm": 1}
    again = pipe.tryon(person, garment, mask, **FAST).images
    assert calls == {"sam": 1, "srm": 1}  # hit: encoders skipped
    assert torch.equal(first, again)
    pipe.tryon(person, _images(1, 48, 32, seed=2), mask, **FAST)  # another garment: miss
    assert calls == {"sam": 2, "srm": 2}
    pipe.tryon(person, garment, mask, prompt="dress", **FAST)  # another prompt: miss
    assert calls == {"sam": 3, "srm": 3}
    pipe.tryoff(person, mask_mode="full", **FAST)
    pipe.tryoff(person, mask_mode="bbox", **FAST)  # another mask mode: miss
    pipe.tryoff(person, mask_mode="bbox", **FAST)
    assert calls == {"sam": 5, "srm": 5}
    with torch.no_grad():  # new weights (in place, as a checkpoint load or an optimizer step): miss
        model.sam.global_proj.weight.add_(0.01)
    pipe.tryon(person, garment, mask, **FAST)
    assert calls == {"sam": 6, "srm": 6}
    pipe.configure(encoder_cache=False)
    pipe.tryon(person, garment, mask, **FAST)
    assert calls == {"sam": 7, "srm": 7}
    pipe.configure(encoder_cache=True)
    pipe.tryon(person, garment, mask, **FAST)
    assert calls == {"sam": 7, "srm": 7}  # on again: the entry stored before the switch hits
    # the cache is the pipeline's own object, not an attribute of the model: another pipeline starts empty
    other = TWGTMPipeline(model)
    assert other.options["encoder_cache"] and other.encoder_cache is not pipe.encoder_cache
    assert not any(isinstance(value, EncoderCache) for value in vars(model).values())
    other.tryon(person, garment, mask, **FAST)
    assert calls == {"sam": 8, "srm": 8}
    assert (other.encoder_cache.hits, other.encoder_cache.misses) == (0, 1)


def test_encoder_cache_lru_and_digest():
    cache = EncoderCache(maxsize=2)
    for i in range(3):
        cache.put(("k", i), i)
    assert len(cache) == 2 and cache.get(("k", 0)) is None and cache.get(("k", 2)) == 2
    a = torch.zeros(1, 3, 4, 4)
    b = a.clone()
    b[0, 0, 0, 0] = 1e-6
    assert tensor_digest(a) == tensor_digest(a.clone()) != tensor_digest(b)
    assert tensor_digest(a) != tensor_digest(a.view(1, 3, 2, 8))  # the shape is part of the key
    assert tensor_digest(a.to(torch.bfloat16)) != tensor_digest(a)


# ------------------------------------------------------------------------------------------- VAE, layout, compile
def test_vae_tiling_and_slicing_run_at_the_right_size(pipe, monkeypatch):
    vae = pipe.model.vae
    counts = {"tiled_decode": 0, "tiled_encode": 0, "decode": 0}
    for name, key in (("tiled_decode", "tiled_decode"), ("_tiled_encode", "tiled_encode"), ("_decode", "decode")):
        orig = getattr(vae, name)

        def counted(*a, _orig=orig, _key=key, **k):
            counts[_key] += 1
            return _orig(*a, **k)
        monkeypatch.setattr(vae, name, counted)
    person, garment, mask = _images(2, 96, 72), _images(2, 96, 72, seed=1), _mask(2, 96, 72)
    plain = pipe.tryon(person, garment, mask, steps=1).images
    assert counts["tiled_encode"] == 0 and counts["tiled_decode"] == 0
    pipe.configure(vae_tiling=True, vae_slicing=True)
    assert vae.use_tiling and vae.use_slicing
    counts.update(tiled_decode=0, tiled_encode=0, decode=0)
    tiled = pipe.tryon(person, garment, mask, steps=1).images
    assert tiled.shape == plain.shape == (2, 3, 96, 72)
    assert counts["tiled_encode"] == 2 and counts["tiled_decode"] == 2  # one per item (sliced), each tiled
    assert torch.isfinite(tiled).all()
    pipe.configure(vae_tiling=False, vae_slicing=False)
    assert not vae.use_tiling and not vae.use_slicing


def test_channels_last_same_output(pipe):
    contiguous = _tryon(pipe)
    pipe.configure(channels_last=True)
    w = pipe.model.unet.conv_in.weight
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    assert TWGTMPipeline(pipe.model).options["channels_last"]  # read back from the model
    last = _tryon(pipe)
    assert torch.allclose(contiguous, last, atol=1e-4), (contiguous - last).abs().max()
    pipe.configure(channels_last=False)
    assert pipe.model.unet.conv_in.weight.is_contiguous()


class _CountingUNet(torch.nn.Module):
    """The real UNet behind a call counter: stands where the pipeline keeps its compiled UNet."""

    def __init__(self, unet):
        super().__init__()
        self.unet, self.calls = unet, 0

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.unet(*args, **kwargs)


def test_compile_option_is_off_by_default_and_switchable(pipe):
    unet = pipe.model.unet
    assert not pipe.options["compile_unet"] and pipe.speed.unet is unet
    pipe.configure(compile_unet=True)  # compiles lazily, on the first call: not run here (minutes on a CPU)
    compiled = pipe.speed.unet
    assert pipe.options["compile_unet"] and compiled is not unet and pipe.model.unet is unet  # the model is untouched
    assert [id(p) for p in compiled.parameters()] == [id(p) for p in unet.parameters()]  # the same weights
    pipe.configure(compile_unet=True)
    assert pipe.speed.unet is compiled  # kept, not compiled again
    pipe.configure(compile_unet=False)
    assert pipe.speed.unet is unet
    with pytest.raises(ConfigError, match="unknown pipeline option"):
        pipe.configure(fast=True)


def test_denoising_loop_calls_the_pipelines_unet(pipe):
    """What the compile option installs is what every denoising step calls (here a counting stand-in)."""
    plain = _tryon(pipe, b=1, steps=3)
    counting = _CountingUNet(pipe.model.unet)
    pipe.speed.compiled_unet = counting
    try:
        assert pipe.speed.unet is counting
        assert torch.equal(_tryon(pipe, b=1, steps=3), plain)
        assert counting.calls == 3  # one batched CFG call per step
        pipe.tryoff(_images(1, 48, 32), steps=2, guidance=2.5, cfg_batched=False)
        assert counting.calls == 3 + 4  # sequential CFG: two calls per step
    finally:
        pipe.speed.compiled_unet = None


def test_bf16_pipeline_options_run():
    torch.manual_seed(0)
    pipe16 = TWGTMPipeline(build_model("tiny"), dtype=torch.bfloat16, attention="classic", channels_last=True)
    out = _tryon(pipe16, b=1, steps=1)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


# ------------------------------------------------------------------------------------------- memory accounting
def test_live_bytes_counts_new_storages_only():
    tracker = LiveBytes()
    with tracker:
        a = torch.empty(1000, device="meta")  # 4000 B
        b = a * 2  # +4000
        v = b.view(10, 100)  # a view: nothing new
        b.add_(1)  # in place: nothing new
        del a
        c = v + 1  # +4000, a freed
        del b, v, c
    assert tracker.peak == 8000 and tracker.current == 0


def test_estimate_parts_and_dtype():
    cfg = get_preset("tiny")
    bf16 = estimate_tryon_peak(cfg, height=256, width=192, dtype=torch.bfloat16)
    fp32 = estimate_tryon_peak(cfg, height=256, width=192, dtype=torch.float32)
    assert bf16["latent"] == [32, 48] and bf16["unet_batch"] == 2
    assert bf16["parameters_bytes"] == tensor_bytes(build_model("tiny", dtype=torch.bfloat16))
    assert set(bf16["phases_bytes"]) >= {"vae_encode", "denoise_step", "vae_decode", "encoders"}
    assert fp32["total_bytes"] > bf16["total_bytes"] > bf16["parameters_bytes"]
    bigger = estimate_tryon_peak(cfg, height=512, width=384, dtype=torch.bfloat16)
    assert bigger["activation_peak_bytes"] > 3 * bf16["activation_peak_bytes"]


def test_estimate_close_to_a_real_run():
    """The meta replay agrees with the same accounting on a real CPU try-on (which also holds the inputs)."""
    pipe = TWGTMPipeline(_model(), encoder_cache=False)
    h, w = 256, 192
    person, mask = _images(1, h, w), _mask(1, h, w)
    real = measure_live_peak(lambda: pipe.tryon(person, person, mask, steps=1, size=(h, w)))
    est = estimate_tryon_peak(pipe.config, height=h, width=w, dtype=torch.float32)
    assert 0.7 < est["activation_peak_bytes"] / real < 1.2, (est["activation_peak_bytes"], real)


def test_a_failing_part_is_recorded_and_the_rest_still_runs(monkeypatch):
    from twgtm.bench import runner
    from twgtm.bench.report import markdown

    def broken(*a, **k):
        raise RuntimeError("out of memory (simulated)")
    monkeypatch.setattr(runner, "_measured_tryon", broken)
    saved = []
    s = runner.BenchSettings(preset="tiny", latents=[(8, 12)], repeats=1, warmup=0, steps=1, peak_tryon=(64, 48),
                             skip=("classic", "nocache", "noskip", "estimate"), threads=1)
    r = runner.run_benchmark(s, progress=lambda res: saved.append(json.dumps(res)))
    assert r["errors"] == {"measured_tryon": "RuntimeError: out of memory (simulated)",
                           "measured_tryon_vae_tiling": "RuntimeError: out of memory (simulated)"}
    assert r["steps"][0]["step_ratio"] > 0 and r["calls"]["tryon"]["batched"]["median_s"] > 0
    assert len(saved) >= 4 and json.loads(saved[-1]) == json.loads(json.dumps(r))
    assert "measured_tryon failed" in markdown(r)


# ------------------------------------------------------------------------------------------- public profiles
@pytest.mark.slow  # a Python process of its own
def test_profile_bench_cli_tiny(tmp_path):
    out = tmp_path / "profile.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "twgtm.bench", "--profile", "catvton", "--preset", "tiny", "--latent",
                           "16x8", "--repeats", "1", "--warmup", "0", "--steps", "1", "--threads", "1", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| latent canvas (px) |" in proc.stdout and "estimated peak GPU memory, 1024×768 person" in proc.stdout
    r = json.loads(out.read_text())
    assert r["profile"] == "catvton" and r["latent"] == [16, 8] and r["unet_batch"] == 2
    assert r["inpainting_unet"]["median_s"] > 0 and r["profile_unet"]["median_s"] > 0 and r["step_ratio"] > 0
    assert 0 < r["flops"]["profile_unet"] < r["flops"]["inpainting_unet"]  # the skipped cross-attention's work
    assert r["call"]["steps"] == 1 and r["call"]["seconds"] > 0
    est = r["estimate"]
    assert est["person"] == [1024, 768] and est["canvas_latent"] == [256, 96] and est["dtype"] == "bfloat16"
    assert est["total_bytes"] > est["parameters_bytes"] > 0
    assert set(est["phases_bytes"]) == {"vae_encode", "denoise_step", "vae_decode"}


def test_profile_estimate_close_to_a_real_call():
    """The meta replay of a profile call agrees with the same accounting on a real CPU call."""
    from twgtm.bench.profile import estimate_profile_peak
    from twgtm.families.profiles import profile_config
    from twgtm.families.sd_inpaint_sampler import HalfCanvas, InpaintSampler, SamplingRequest
    from twgtm.model.network import TWGTM

    config = profile_config("tryoffanyone", "tiny")
    h, w = 256, 192
    person, mask = _images(1, h, w), _mask(1, h, w)
    sampler = InpaintSampler(TWGTM(config).eval())
    real = measure_live_peak(lambda: sampler.sample(HalfCanvas(person, mask, person), SamplingRequest([0], 1, 2.5)))
    est = estimate_profile_peak(config, height=h, width=w, dtype=torch.float32)
    assert 0.7 < est["activation_peak_bytes"] / real < 1.3, (est["activation_peak_bytes"], real)
    assert estimate_profile_peak(profile_config("tryoffanyone", "tiny"), height=512, width=384)["canvas_latent"] == [128, 48]
