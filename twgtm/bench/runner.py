"""The benchmark itself: what is measured, on which inputs, and the JSON it returns.

One denoising step is one UNet call of a guided sampler with its CFG branches batched: the UNet
batch is 2 x `batch` rows, [unconditional | conditional], on the latent canvas of the given size.
Contenders on the same inputs, interleaved (see `timing.round_robin`):

- `backbone`: the bare 9-channel UNet, same weights, plain diffusers attention processors;
- `twgtm`: extended attention on, K'/V' cached, the null (unconditional) rows skipped;
- `twgtm_nocache`: K'/V' recomputed at every call;
- `twgtm_noskip`: the extended branch also run (and multiplied by 0) on the null rows;
- `backbone_classic`, `twgtm_classic`: the same with explicit-softmax attention instead of SDPA;
- `encoders`: SAM + SRM once on the reference batch; `encoders_cache_hit`: the same through the
  pipeline's encoder cache after a first call (the cost of hashing the image);
- whole `tryon` / `tryoff` calls (`--steps` steps, guidance 2.5) with CFG batched vs sequential,
  encoder cache off.
The sd15 weights are random, built directly in the target dtype on the target device: the figures
are of cost, not of quality.
"""
from __future__ import annotations

import contextlib
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field

import torch

from .. import TWGTMPipeline
from ..model.network import TWGTM, build_model
from ..sampling.memory_replay import estimate_tryon_peak, measure_live_peak, tensor_bytes
from ..vocab import parse_dtype
from .flops import count_flops
from .memory import PeakMemory, check_formula, rss_follows_tensors
from .timing import Contender, memory_pass, round_robin, timed, synchronize

log = logging.getLogger("twgtm")

SECTIONS = ("classic", "nocache", "noskip", "encoders", "calls", "flops", "estimate")
DEFAULT_LATENTS = {"sd15": [(64, 96), (32, 48), (48, 72)], "demo": [(32, 48), (16, 24), (48, 72)],
                   "tiny": [(8, 12), (4, 6), (16, 24)]}
GIB = 2 ** 30


@dataclass
class BenchSettings:
    """What to measure; see `python -m twgtm.bench --help`."""

    preset: str = "sd15"
    latents: list = field(default_factory=list)  # [(h, w)], the first is the main size; [] = the preset's
    batches: list = field(default_factory=lambda: [1])
    device: str = "cpu"
    dtype: str = "float32"
    repeats: int = 3
    call_repeats: int | None = None  # repeats of the whole calls; None = `repeats`
    warmup: int = 1
    steps: int = 4
    guidance: float = 2.5
    attention: str = "sdpa"
    channels_last: bool = False
    compile: bool = False
    threads: int | None = None
    peak_tryon: tuple | None = None  # (H, W) person size of a measured whole try-on, or None
    estimate: tuple | None = (1024, 768)  # person size of the estimated peak, or None
    estimate_dtype: str = "bfloat16"
    check_formula: list = field(default_factory=list)  # [(H, W)] person sizes: measured peaks vs the formula
    skip: tuple = ()
    seed: int = 0

    def resolved_latents(self) -> list[tuple[int, int]]:
        """The latent sizes, main first."""
        return [tuple(map(int, x)) for x in (self.latents or DEFAULT_LATENTS.get(self.preset, DEFAULT_LATENTS["sd15"]))]


def build_random(preset: str, device: torch.device, dtype: torch.dtype) -> TWGTM:
    """A TWGTM with random weights created directly in `dtype` on `device` (no float32 copy, no transfer)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = TWGTM(preset)
    finally:
        torch.set_default_dtype(previous)
    return model.to(dtype=dtype).eval()


def machine(device: torch.device) -> dict:
    """Where the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_cores": os.cpu_count(), "arch": platform.machine(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(), "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_memory_bytes"] = torch.cuda.get_device_properties(device).total_memory
    return info


class _Steps:
    """Inputs and contenders of one denoising step at one latent size and batch, for one model."""

    def __init__(self, model: TWGTM, latent: tuple[int, int], batch: int, sam: torch.Tensor, srm: torch.Tensor | None,
                 dtype: torch.dtype, seed: int, unet=None):
        self.model = model
        self.unet = unet  # the pipeline's compiled UNet (--compile), else None: the model's own
        device = next(model.parameters()).device
        rows = 2 * batch
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(rows, 9, *latent, generator=g)
        self.x = x.to(device, dtype) if device.type != "meta" else torch.empty(x.shape, device=device, dtype=dtype)
        self.t = torch.full((rows,), 500, device=device)
        self.sam = torch.cat([torch.zeros_like(sam), sam]).to(dtype)  # [null | conditional] context tokens
        self.srm = srm
        self.weight = torch.cat([torch.zeros(batch), torch.ones(batch)])  # the CFG SRM weights (plan built on the CPU)

    def install(self) -> None:
        """F_SRM and the CFG weights, as the sampler installs them once per call."""
        self.model.set_reference(self.srm, self.weight)

    def run(self) -> None:
        """One UNet call."""
        self.model.unet_step(self.x, self.t, self.sam, unet=self.unet)

    @contextlib.contextmanager
    def variant(self, backbone: bool = False, cache: bool = True, skip: bool = True, backend: str | None = None):
        """Switch the model to one contender's configuration for the block, then back."""
        model, ctx = self.model, self.model.context
        saved = (model.attention_backend, ctx.cache_enabled, ctx.skip_null_rows)
        if backend is not None and backend != model.attention_backend:
            model.set_attention_backend(backend)
        ctx.cache_enabled, ctx.skip_null_rows = cache, skip
        try:
            with model.plain_backbone() if backbone else contextlib.nullcontext():
                yield
        finally:
            ctx.cache_enabled, ctx.skip_null_rows = saved[1], saved[2]
            if model.attention_backend != saved[0]:
                model.set_attention_backend(saved[0])

    def contenders(self, names: list[str], other_backend: str) -> list[Contender]:
        """The named step contenders (see the module docstring)."""
        configs = {
            "backbone": dict(backbone=True), "twgtm": {}, "twgtm_nocache": dict(cache=False),
            "twgtm_noskip": dict(skip=False), "backbone_classic": dict(backbone=True, backend=other_backend),
            "twgtm_classic": dict(backend=other_backend),
        }
        return [Contender(n, self.run, lambda c=configs[n]: self.variant(**c)) for n in names]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


@contextlib.contextmanager
def _section(result: dict, name: str, progress):
    """Run one part of the benchmark; an error is logged and recorded, and the other parts still run."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - one broken part must not cost the whole run (a short GPU window)
        log.exception("section %s failed", name)
        result.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
    if progress is not None:
        progress(result)


@dataclass
class _Run:
    """What every part of one benchmark run shares: the settings, the model and its twins, the inputs."""

    settings: BenchSettings
    device: torch.device
    dtype: torch.dtype
    model: TWGTM
    pipe: TWGTMPipeline
    meta: TWGTM | None  # the meta-device twin for FLOP counts (None: --skip flops)
    latents: list  # [(h, w)], the main size first
    batches: list  # [int], the first is the main batch
    other_backend: str  # the attention backend compared with --attention
    generator: torch.Generator
    references: dict = field(default_factory=dict)  # batch -> reference images (B,3,H,W)
    features: dict = field(default_factory=dict)  # batch -> their SAM/SRM features

    @property
    def main(self) -> tuple[int, int]:
        """The main latent size."""
        return self.latents[0]

    @property
    def vae_stride(self) -> int:
        """Pixels per latent cell."""
        return self.model.config.vae_scale_factor

    def person_size(self, latent: tuple[int, int]) -> tuple[int, int]:
        """The person (H, W) whose two-image canvas has this latent size."""
        h, w, f = latent[0], latent[1], self.vae_stride
        return (h * f, w * f // 2) if self.model.config.concat_axis == "width" else (h * f // 2, w * f)


def _start(settings: BenchSettings) -> tuple[_Run, dict]:
    """Set the device and threads, build the random model, its pipeline and meta twin; the result's header."""
    device, dtype = torch.device(settings.device), parse_dtype(settings.dtype)
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # random weights: keep denormals from distorting CPU timings
    if settings.threads:
        torch.set_num_threads(int(settings.threads))
    latents = settings.resolved_latents()
    torch.manual_seed(settings.seed)
    start = time.perf_counter()
    model = build_random(settings.preset, device, dtype)
    synchronize(device)
    build_s = time.perf_counter() - start
    log.info("built %s on %s in %s in %.1f s", settings.preset, device, settings.dtype, build_s)
    pipe = TWGTMPipeline(model, attention=settings.attention, channels_last=settings.channels_last,
                         compile_unet=settings.compile, encoder_cache=False)
    meta = None
    if "flops" not in settings.skip:
        meta = build_model(settings.preset, device="meta").eval()
        meta.set_attention_backend(settings.attention)
        meta.set_extended_attention(True)
    run = _Run(settings, device, dtype, model, pipe, meta, latents, [int(b) for b in settings.batches],
               "classic" if settings.attention == "sdpa" else "sdpa", torch.Generator().manual_seed(settings.seed))
    result = {"machine": machine(device), "settings": {**asdict(settings), "latents": [list(x) for x in latents]},
              "preset": settings.preset, "device": str(device), "dtype": settings.dtype, "build_s": build_s,
              "parameters": sum(p.numel() for p in model.parameters()), "parameters_bytes": tensor_bytes(model),
              "steps": []}
    return run, result


def _encode_references(run: _Run) -> None:
    """Reference images and their features, one set per batch size."""
    for batch in run.batches:
        run.references[batch] = (torch.rand(batch, 3, *run.person_size(run.main), generator=run.generator) * 2 - 1
                                 ).to(run.device)
        ids, mask = run.model.tokenize(["upper"] * batch, device=run.device)
        run.features[batch] = run.model.encode_reference(run.references[batch].to(run.dtype), ids, mask)


def _steps_section(run: _Run, result: dict, progress) -> dict:
    """The denoising-step rows: every batch at the main size, every other size at the main batch; the main row."""
    plan = [(run.main, b) for b in run.batches] + [(latent, run.batches[0]) for latent in run.latents[1:]]
    for latent, batch in plan:
        with _section(result, f"steps {latent[0]}x{latent[1]} batch {batch}", progress):
            result["steps"].append(_step_row(run, latent, batch, is_main=(latent, batch) == plan[0]))
    first = result["steps"][0] if result["steps"] else {}
    return first if (first.get("latent"), first.get("batch")) == (list(run.main), run.batches[0]) else {}


def _encoders_section(run: _Run, result: dict, main_row: dict, progress) -> None:
    """SAM + SRM once, against one backbone step, in time and (unless skipped) FLOPs."""
    if "encoders" not in main_row:
        return
    with _section(result, "encoders", progress):
        batch = run.batches[0]
        encoders = {"batch": batch, "reference_px": list(run.person_size(run.main)), "timing": main_row["encoders"],
                    "backbone_steps": main_row["encoders_backbone_steps"], "cache_hit": main_row["encoders_cache_hit"]}
        result["encoders"] = encoders
        if "flops" not in run.settings.skip and "flops" in main_row:
            ids, mask = run.model.tokenize(["upper"] * batch, device=run.device)
            reference = run.references[batch].to(run.dtype)
            encoders["flops"] = count_flops(lambda: run.model.encode_reference(reference, ids, mask), run.model)
            encoders["flop_backbone_steps"] = _ratio(encoders["flops"], main_row["flops"]["backbone"])


def _memory_section(run: _Run, result: dict, main_row: dict, progress) -> dict:
    """Peaks of the main step, the estimated try-on peak, a measured try-on, the formula check."""
    settings = run.settings
    memory = result["memory"] = {
        "parameters_bytes": result["parameters_bytes"],
        "peak_kind": "torch.cuda.max_memory_allocated" if run.device.type == "cuda" else "process RSS high-water mark",
        "peak_extra_means": "peak minus the bytes in use just before the run (activations, not weights)"}
    if main_row:
        memory["step_peak_extra_bytes"] = {n: main_row[n].get("peak_extra_bytes") for n in ("backbone", "twgtm")}
    if settings.estimate and "estimate" not in settings.skip:
        with _section(result, "estimate", progress):
            target = parse_dtype(settings.estimate_dtype)
            ids, mask = run.model.tokenize(["upper"], device=run.device)
            reference = run.references[run.batches[0]][:1].to(run.dtype)
            encoder_bytes = measure_live_peak(lambda: run.model.encode_reference(reference, ids, mask))
            encoder_bytes = int(encoder_bytes * torch.finfo(target).bits / torch.finfo(run.dtype).bits)
            for key, tiling in (("estimate", False), ("estimate_vae_tiling", True)):
                memory[key] = estimate_tryon_peak(run.model.config, height=settings.estimate[0],
                                                  width=settings.estimate[1], dtype=target, vae_tiling=tiling,
                                                  encoder_activation_bytes=encoder_bytes)
    if settings.peak_tryon:
        with _section(result, "measured_tryon", progress):
            memory["measured_tryon"] = _measured_tryon(run.pipe, settings, run.generator)
        with _section(result, "measured_tryon_vae_tiling", progress):
            run.pipe.configure(vae_tiling=True)
            try:
                memory["measured_tryon_vae_tiling"] = _measured_tryon(run.pipe, settings, run.generator)
            finally:
                run.pipe.configure(vae_tiling=False)
    if settings.check_formula:
        with _section(result, "formula_check", progress):
            memory["formula_check"] = check_formula(run.pipe, [tuple(x) for x in settings.check_formula], run.batches,
                                                    guidance=settings.guidance, seed=settings.seed)
    return memory


def _calls_section(run: _Run, result: dict, memory: dict, progress) -> None:
    """Whole try-on / try-off calls, CFG batched against sequential."""
    if "calls" in run.settings.skip:
        return
    with _section(result, "calls", progress):
        result["calls"] = _calls(run.pipe, run.person_size(run.main), run.batches[0], run.settings, run.generator)
        memory["tryon_call_peak_extra_bytes"] = {k: result["calls"]["tryon"][k].get("peak_extra_bytes")
                                                 for k in ("batched", "sequential")}


def _scaling(result: dict, main: tuple[int, int], main_batch: int) -> dict:
    """Step time against the canvas size (at the main batch) and against the batch (at the main size)."""
    steps = result["steps"]
    by_size = [r for r in steps if r["batch"] == main_batch]
    return {
        "size": [{"latent": r["latent"], "cells": r["latent"][0] * r["latent"][1], "backbone_s": r["backbone"]["median_s"],
                  "twgtm_s": r["twgtm"]["median_s"], "step_ratio": r["step_ratio"]}
                 for r in sorted(by_size, key=lambda r: r["latent"][0] * r["latent"][1])],
        "batch": [{"batch": r["batch"], "unet_batch": r["unet_batch"], "backbone_s": r["backbone"]["median_s"],
                   "twgtm_s": r["twgtm"]["median_s"], "step_ratio": r["step_ratio"]}
                  for r in steps if r["latent"] == list(main)],
    }


def run_benchmark(settings: BenchSettings, progress=None) -> dict:
    """Run everything `settings` asks for; returns the JSON-ready result (see `report.markdown`).

    Order: steps (with the encoders), memory (estimate, measured try-on), whole calls. `progress`,
    when given, is called with the result so far after each part (the CLI saves it to --json).
    """
    run, result = _start(settings)
    with torch.no_grad():
        _encode_references(run)
        main_row = _steps_section(run, result, progress)
        _encoders_section(run, result, main_row, progress)
        memory = _memory_section(run, result, main_row, progress)
        _calls_section(run, result, memory, progress)
    result["scaling"] = _scaling(result, run.main, run.batches[0])
    result["targets"] = _targets(result)
    if progress is not None:
        progress(result)
    return result


def _step_row(run: _Run, latent: tuple[int, int], batch: int, is_main: bool) -> dict:
    """Time (and count, and measure) the step contenders at one latent size and batch."""
    model, pipe, settings = run.model, run.pipe, run.settings
    skip = set(settings.skip)
    names = ["backbone", "twgtm"]
    if is_main:
        names += [n for n, sec in (("twgtm_nocache", "nocache"), ("twgtm_noskip", "noskip")) if sec not in skip]
        if "classic" not in skip:
            names += ["backbone_classic", "twgtm_classic"]
    features = run.features[batch]
    bench = _Steps(model, latent, batch, features.sam_tokens, features.srm_tokens, run.dtype, settings.seed,
                   unet=pipe.speed.compiled_unet)
    bench.install()
    contenders = bench.contenders(names, run.other_backend)
    prompts = ["upper"] * batch
    reference = run.references[batch]
    if is_main and "encoders" not in skip:
        ids, mask = model.tokenize(prompts, device=run.device)
        reference_d = reference.to(run.dtype)
        contenders.append(Contender("encoders", lambda: model.encode_reference(reference_d, ids, mask)))
        pipe.configure(encoder_cache=True)
        pipe.encoder_cache.clear()
        pipe.encode_reference(reference, prompts, mode="bench")  # the first call fills the cache
        contenders.append(Contender("encoders_cache_hit", lambda: pipe.encode_reference(reference, prompts, mode="bench")))
    log.info("step: latent %dx%d, batch %d (UNet batch %d): %s", *latent, batch, 2 * batch,
             ", ".join(c.name for c in contenders))
    try:
        timings = round_robin(contenders, run.device, settings.repeats, settings.warmup, log=log.debug)
        memory_pass([c for c in contenders if c.name in ("backbone", "twgtm")], timings, run.device)
    finally:
        pipe.configure(encoder_cache=False)
        model.context.clear()
    row = {"latent": list(latent), "canvas_px": [latent[0] * run.vae_stride, latent[1] * run.vae_stride],
           "batch": batch, "unet_batch": 2 * batch, **{n: t.as_dict() for n, t in timings.items()}}
    row["step_ratio"] = _ratio(timings["twgtm"].median, timings["backbone"].median)
    for n in ("twgtm_nocache", "twgtm_noskip"):
        if n in timings:
            row[n.replace("twgtm_", "") + "_ratio"] = _ratio(timings[n].median, timings["backbone"].median)
    if "twgtm_classic" in timings:
        row["classic_ratio"] = _ratio(timings["twgtm_classic"].median, timings["backbone_classic"].median)
    if "encoders" in timings:
        row["encoders_backbone_steps"] = _ratio(timings["encoders"].median, timings["backbone"].median)
    log.info("  backbone %.1f ms, twgtm %.1f ms, ratio %.3f", timings["backbone"].median * 1e3,
             timings["twgtm"].median * 1e3, row["step_ratio"])
    if run.meta is not None:
        try:
            row["flops"] = _step_flops(run.meta, latent, batch, [n for n in names if not n.endswith("classic")],
                                       settings.seed)
            row["flop_ratio"] = _ratio(row["flops"]["twgtm"], row["flops"]["backbone"])
        except Exception as exc:  # noqa: BLE001 - keep the timings
            log.exception("FLOP count failed")
            row["flops_error"] = f"{type(exc).__name__}: {exc}"
    return row


def _step_flops(meta: TWGTM, latent, batch: int, names: list[str], seed: int) -> dict:
    """FLOPs of each step contender on the meta twin (K'/V' cached contenders counted after a first call)."""
    cfg = meta.config
    s_tokens = cfg.taskformer["num_queries"] + (cfg.srm_image_size[0] // 16) * (cfg.srm_image_size[1] // 16)
    sam = torch.empty(batch, 1 + cfg.num_query_tokens, cfg.cross_attention_dim, device="meta")
    srm = torch.empty(batch, s_tokens, cfg.srm_dim, device="meta")
    bench = _Steps(meta, latent, batch, sam, srm, torch.float32, seed)
    bench.install()
    out = {}
    try:
        with torch.no_grad():
            bench.run()  # fills the K'/V' cache
            for c in bench.contenders(names, "classic"):
                with c.setup():
                    out[c.name] = count_flops(c.run, meta)
    finally:
        meta.context.clear()
    return out


def _calls(pipe: TWGTMPipeline, person_px: tuple[int, int], batch: int, settings: BenchSettings,
           generator: torch.Generator) -> dict:
    """Whole try-on and try-off calls, CFG batched vs sequential, interleaved."""
    h, w = person_px
    person = torch.rand(batch, 3, h, w, generator=generator) * 2 - 1
    garment = torch.rand(batch, 3, h, w, generator=generator) * 2 - 1
    mask = torch.zeros(batch, 1, h, w)
    mask[:, :, h // 5: h * 3 // 4, w // 6: w * 5 // 6] = 1
    kw = dict(steps=settings.steps, guidance=settings.guidance, size=(h, w), seed=settings.seed)
    contenders = [
        Contender("tryon_batched", lambda: pipe.tryon(person, garment, mask, cfg_batched=True, **kw)),
        Contender("tryon_sequential", lambda: pipe.tryon(person, garment, mask, cfg_batched=False, **kw)),
        Contender("tryoff_batched", lambda: pipe.tryoff(person, mask_mode="full", cfg_batched=True, **kw)),
        Contender("tryoff_sequential", lambda: pipe.tryoff(person, mask_mode="full", cfg_batched=False, **kw)),
    ]
    log.info("calls: person %dx%d, batch %d, %d steps: %s", h, w, batch, settings.steps, ", ".join(c.name for c in contenders))
    timings = round_robin(contenders, pipe.device, settings.call_repeats or settings.repeats, settings.warmup, log=log.debug)
    one = dict(kw, steps=1)  # the peak does not depend on the number of steps
    memory_pass([Contender("tryon_batched", lambda: pipe.tryon(person, garment, mask, cfg_batched=True, **one)),
                 Contender("tryon_sequential", lambda: pipe.tryon(person, garment, mask, cfg_batched=False, **one))],
                timings, pipe.device)
    out = {"person_px": [h, w], "batch": batch, "steps": settings.steps, "guidance": settings.guidance}
    for task in ("tryon", "tryoff"):
        batched, sequential = timings[f"{task}_batched"], timings[f"{task}_sequential"]
        out[task] = {"batched": batched.as_dict(), "sequential": sequential.as_dict(),
                     "sequential_over_batched": _ratio(sequential.median, batched.median)}
    return out


def _measured_tryon(pipe: TWGTMPipeline, settings: BenchSettings, generator: torch.Generator) -> dict:
    """One whole try-on of a `peak_tryon`-sized person (CFG batched), its seconds and measured peak memory."""
    h, w = settings.peak_tryon
    person = torch.rand(1, 3, h, w, generator=generator) * 2 - 1
    garment = torch.rand(1, 3, h, w, generator=generator) * 2 - 1
    mask = torch.zeros(1, 1, h, w)
    mask[:, :, h // 5: h * 3 // 4, w // 6: w * 5 // 6] = 1
    log.info("measured try-on: person %dx%d, %d steps", h, w, settings.steps)

    def call():
        pipe.tryon(person, garment, mask, steps=settings.steps, guidance=settings.guidance, size=(h, w), seed=settings.seed)
    synchronize(pipe.device)
    with rss_follows_tensors() if pipe.device.type == "cpu" else contextlib.nullcontext():
        with PeakMemory(pipe.device) as peak:
            seconds = timed(call, pipe.device)
    return {"person": [h, w], "dtype": settings.dtype, "steps": settings.steps, "vae_tiling": bool(pipe.options["vae_tiling"]),
            "seconds": seconds, "peak_bytes": peak.peak,
            "peak_extra_bytes": peak.extra, "peak_kind": "torch.cuda.max_memory_allocated"
            if pipe.device.type == "cuda" else "process RSS high-water mark"}


def _targets(result: dict) -> dict:
    """The benchmark's targets, each with its value and whether it is met (None: not measured)."""
    main = result["steps"][0] if result["steps"] else {}

    def target(value, ok):
        return {"value": value, "ok": None if value is None else bool(ok(value))}
    targets = {"step_ratio_le_1.10": target(main.get("step_ratio"), lambda v: v <= 1.10)}
    if "flop_ratio" in main:
        targets["flop_ratio_le_1.10"] = target(main["flop_ratio"], lambda v: v <= 1.10)
    if "encoders" in result:
        targets["encoders_le_1_backbone_step"] = target(result["encoders"]["backbone_steps"], lambda v: v <= 1.0)
    if "calls" in result:
        for task in ("tryon", "tryoff"):
            ratio = result["calls"][task]["sequential_over_batched"]
            targets[f"{task}_cfg_batched_faster"] = target(ratio, lambda v: v > 1.0)
    mem = result.get("memory", {})
    if "estimate" in mem:
        targets["estimated_peak_lt_8GB"] = target(mem["estimate"]["total_bytes"] / 1e9, lambda v: v < 8.0)
    if mem.get("formula_check"):
        worst = max(abs(row["relative_error"]) for row in mem["formula_check"])
        targets["activation_formula_within_25pct"] = target(worst, lambda v: v <= 0.25)
    if "measured_tryon" in mem and result["device"].startswith("cuda"):
        targets["measured_peak_lt_8GB"] = target(mem["measured_tryon"]["peak_bytes"] / 1e9, lambda v: v < 8.0)
    if "measured_tryon_vae_tiling" in mem and result["device"].startswith("cuda"):
        peak = mem["measured_tryon_vae_tiling"]["peak_bytes"] / 1e9
        targets["measured_peak_vae_tiling_lt_8GB"] = target(peak, lambda v: v < 8.0)
    return targets
