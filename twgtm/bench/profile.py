"""`python -m twgtm.bench --profile catvton|tryoffanyone`: what a public profile costs per step and in memory.

One denoising step is one UNet call of the profile's sampler: the CFG batch of 2 x `batch` rows on the
profile's canvas (the two halves stacked in height). Contenders on the same inputs, interleaved:
- `inpainting_unet`: the bare SD1.5-inpainting UNet as the plain inpainting pipeline calls it: the same
  weights, cross-attention on 77 text tokens (768 wide), plain diffusers processors;
- `profile_unet`: the profile's UNet: cross-attention skipped (each block adds norm2(h)), no text.
Also their FLOPs (meta-device twins), one whole call of the profile's pipeline (`--steps` steps: its
pre-processing, both halves encoded, the top half decoded, the result put back), and the estimated peak GPU memory of one call at the profile's working size
(CatVTON 1024x768) in bf16, by the meta-device replay of `memory.py`: each half VAE-encoded, one CFG
step, the top half decoded. Random weights, built in the target dtype on the target device: cost, not quality.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import asdict, dataclass

import torch
from diffusers.models.attention_processor import AttnProcessor2_0

from .. import ProfilePipeline
from ..families.profiles import get_profile, profile_config
from ..model.network import build_model
from ..sampling.memory_replay import LiveBytes, fused_attention_standin, tensor_bytes
from ..vocab import parse_dtype
from .flops import count_flops
from .runner import _ratio, build_random, machine
from .timing import Contender, memory_pass, round_robin, synchronize, timed

log = logging.getLogger("twgtm")
TEXT_TOKENS = 77  # the SD1.5 text encoder's sequence, what the bare inpainting UNet attends to


@dataclass
class ProfileBenchSettings:
    """What to measure; see `python -m twgtm.bench --help` (the --profile options)."""

    profile: str = "catvton"
    base: str = "sd15"  # the size preset of the base ('tiny' in tests)
    latent: tuple | None = None  # (h, w) of the latent canvas (both halves); None = the working size's
    batch: int = 1
    device: str = "cpu"
    dtype: str = "float32"
    repeats: int = 3
    warmup: int = 1
    steps: int = 2  # of the whole call; 0 skips it
    estimate: tuple | None = None  # (H, W) person size of the estimated peak; None = the working size
    estimate_dtype: str = "bfloat16"
    threads: int | None = None
    seed: int = 0


@contextlib.contextmanager
def cross_attention_on(unet):
    """Within the block every attention runs diffusers' SDPA processor: the bare inpainting UNet."""
    saved = unet.attn_processors
    unet.set_attn_processor(AttnProcessor2_0())
    try:
        yield unet
    finally:
        unet.set_attn_processor(saved)


def _inputs(model, latent, batch, dtype, seed):
    """(UNet input (2B,9,h,w), timesteps, text tokens (2B,77,768)) on the model's device."""
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    rows = 2 * batch
    meta = device.type == "meta"
    x = torch.empty(rows, 9, *latent, device=device, dtype=dtype) if meta else \
        torch.randn(rows, 9, *latent, generator=g).to(device, dtype)
    text = torch.empty(rows, TEXT_TOKENS, model.config.cross_attention_dim, device=device, dtype=dtype) if meta else \
        torch.randn(rows, TEXT_TOKENS, model.config.cross_attention_dim, generator=g).to(device, dtype)
    return x, torch.tensor(500, device=device), text


def _contenders(model, latent, batch, dtype, seed) -> list[Contender]:
    """The backbone and profile step contenders on one set of inputs."""
    x, t, text = _inputs(model, latent, batch, dtype, seed)
    unet = model.unet
    return [Contender("inpainting_unet", lambda: unet(x, t, encoder_hidden_states=text).sample,
                      lambda: cross_attention_on(unet)),
            Contender("profile_unet", lambda: unet(x, t, encoder_hidden_states=None).sample)]


def estimate_profile_peak(config, *, height: int, width: int, batch: int = 1, dtype=torch.bfloat16) -> dict:
    """Estimated peak GPU bytes of one profile call on a `height` x `width` person (meta replay, fused attention)."""
    model = build_model(config, device="meta", dtype=dtype).eval()
    params = tensor_bytes(model)
    f = config.vae_scale_factor
    h, w = height // f, width // f
    tracker = LiveBytes()
    with torch.no_grad(), fused_attention_standin(), tracker:
        tracker.phase("vae_encode")  # each half on its own; the first latent is held while the second is encoded
        top = model.vae.encode(torch.empty(batch, 3, height, width, dtype=dtype, device="meta")).latent_dist.mean
        bottom = model.vae.encode(torch.empty(batch, 3, height, width, dtype=dtype, device="meta")).latent_dist.mean
        tracker.phase("denoise_step")
        canvas = torch.cat([top, bottom], dim=-2)  # (B,4,2h,w)
        masked = torch.cat([torch.cat([top, torch.zeros_like(bottom)], dim=-2), canvas])  # (2B,4,2h,w)
        mask = torch.empty(2 * batch, 1, 2 * h, w, dtype=dtype, device="meta")
        latents = torch.empty(batch, 4, 2 * h, w, dtype=dtype, device="meta")
        x = torch.cat([torch.cat([latents, latents]), mask, masked], dim=1)  # (2B,9,2h,w)
        eps = model.unet(x, torch.zeros((), device="meta"), encoder_hidden_states=None).sample
        latents = latents - eps[:batch]  # the guidance combination and scheduler step, roughly
        del x, eps, masked, mask, canvas, top, bottom
        tracker.phase("vae_decode")
        image = model.vae.decode(latents.split(h, dim=-2)[0]).sample  # the top half only
        del image
    return {"person": [height, width], "canvas_latent": [2 * h, w], "batch": batch, "unet_batch": 2 * batch,
            "dtype": str(dtype).removeprefix("torch."), "parameters_bytes": params, "phases_bytes": dict(tracker.phases),
            "activation_peak_bytes": tracker.peak, "total_bytes": params + tracker.peak,
            "method": "meta-device replay with live-storage accounting, fused attention assumed (twgtm/bench/profile.py)"}


def _whole_call(model, latent, batch, s: ProfileBenchSettings) -> dict:
    """One call of the profile's pipeline (its task, guidance 2.5) on a person of the canvas's half size."""
    f = model.config.vae_scale_factor
    h, w = latent[0] * f // 2, latent[1] * f
    g = torch.Generator().manual_seed(s.seed)
    person = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    mask = torch.zeros(batch, 1, h, w)
    mask[:, :, h // 5: h * 3 // 4, w // 6: w * 5 // 6] = 1
    pipe = ProfilePipeline(model)
    kw = dict(seed=s.seed, steps=s.steps, guidance=2.5, size=(h, w))
    if pipe.spec.task == "tryon":
        call = lambda: pipe.tryon(person, person.flip(-1), mask, **kw)  # noqa: E731
    else:
        call = lambda: pipe.tryoff(person, mask=mask, **kw)  # noqa: E731
    seconds = timed(call, next(model.parameters()).device)
    return {"person_px": [h, w], "batch": batch, "steps": s.steps, "seconds": seconds}


def run_profile_benchmark(s: ProfileBenchSettings) -> dict:
    """Run everything `s` asks for; returns the JSON-ready result (see `profile_markdown`)."""
    device, dtype = torch.device(s.device), parse_dtype(s.dtype)
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    if s.threads:
        torch.set_num_threads(int(s.threads))
    spec = get_profile(s.profile)
    config = profile_config(spec.name, s.base)
    working = config.inference.working_size or spec.working_size
    f = config.vae_scale_factor
    latent = tuple(s.latent) if s.latent else (2 * working[0] // f, working[1] // f)
    torch.manual_seed(s.seed)
    start = time.perf_counter()
    model = build_random(config, device, dtype)
    synchronize(device)
    build_s = time.perf_counter() - start
    log.info("built profile %s (%s base) on %s in %s in %.1f s", spec.name, s.base, device, s.dtype, build_s)
    result = {"machine": machine(device), "settings": asdict(s), "profile": spec.name, "base": s.base,
              "device": str(device), "dtype": s.dtype, "build_s": build_s, "latent": list(latent),
              "canvas_px": [latent[0] * f, latent[1] * f], "batch": s.batch, "unet_batch": 2 * s.batch,
              "parameters": sum(p.numel() for p in model.parameters()), "parameters_bytes": tensor_bytes(model)}
    with torch.no_grad():
        contenders = _contenders(model, latent, s.batch, dtype, s.seed)
        log.info("step: latent %dx%d, UNet batch %d: the inpainting UNet with text vs the profile's", *latent, 2 * s.batch)
        timings = round_robin(contenders, device, s.repeats, s.warmup, log=log.debug)
        memory_pass(contenders, timings, device)
        result.update({n: t.as_dict() for n, t in timings.items()})
        result["step_ratio"] = _ratio(timings["profile_unet"].median, timings["inpainting_unet"].median)
        meta = build_model(config, device="meta").eval()
        flops = {c.name: count_flops(lambda c=c: _run(c), meta) for c in _contenders(meta, latent, s.batch,
                                                                                       torch.float32, s.seed)}
        result["flops"], result["flop_ratio"] = flops, _ratio(flops["profile_unet"], flops["inpainting_unet"])
        if s.steps > 0:
            result["call"] = _whole_call(model, latent, s.batch, s)
    size = tuple(s.estimate) if s.estimate else tuple(spec.working_size)
    result["estimate"] = estimate_profile_peak(profile_config(spec.name, s.base), height=size[0], width=size[1],
                                               dtype=parse_dtype(s.estimate_dtype))
    return result


def _run(contender: Contender) -> None:
    """A contender's run inside its setup."""
    with contender.setup():
        contender.run()


def profile_markdown(r: dict) -> str:
    """The profile benchmark as a markdown table."""
    m, e = r["machine"], r["estimate"]
    where = m.get("gpu") or f"{m['cpu']} ({m['cpu_cores']} cores, {m['torch_threads']} torch threads)"
    lines = [f"**Profile benchmark** — `{r['profile']}` on the `{r['base']}` base, {r['device']} {r['dtype']}, {where}, "
             f"torch {m['torch']}; random weights; median of {r['settings']['repeats']} interleaved repeats.", "",
             "| latent canvas (px) | UNet rows | inpainting UNet with text ms | profile UNet ms | step ratio | FLOP ratio "
             "| peak extra MB (inpainting / profile) |", "|---|---:|---:|---:|---:|---:|---:|",
             f"| {r['latent'][0]}×{r['latent'][1]} ({r['canvas_px'][0]}×{r['canvas_px'][1]}) | {r['unet_batch']} "
             f"| {r['inpainting_unet']['median_s'] * 1e3:,.1f} | {r['profile_unet']['median_s'] * 1e3:,.1f} "
             f"| {r['step_ratio']:.3f} | {r['flop_ratio']:.4f} | {r['inpainting_unet'].get('peak_extra_bytes', 0) / 1e6:,.0f} "
             f"/ {r['profile_unet'].get('peak_extra_bytes', 0) / 1e6:,.0f} |", "", "| figure | value |", "|---|---|",
             f"| parameters ({r['dtype']}) | {r['parameters'] / 1e6:,.1f} M, {r['parameters_bytes'] / 1e9:.2f} GB |"]
    if "call" in r:
        c = r["call"]
        lines.append(f"| one call, person {c['person_px'][0]}×{c['person_px'][1]}, {c['steps']} steps | {c['seconds']:.2f} s |")
    phases = ", ".join(f"{k} {v / 1e9:.2f}" for k, v in e["phases_bytes"].items())
    lines.append(f"| estimated peak GPU memory, {e['person'][0]}×{e['person'][1]} person, {e['dtype']}, CFG batched "
                 f"| {e['total_bytes'] / 1e9:.2f} GB = parameters {e['parameters_bytes'] / 1e9:.2f} + activations "
                 f"{e['activation_peak_bytes'] / 1e9:.2f} (per phase: {phases}) |")
    return "\n".join(lines)
