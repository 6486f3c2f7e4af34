"""`python -m twgtm.bench [--preset sd15|demo|tiny] [--latent HxW ...] [--batch N ...] ...`: table + JSON.

`--family a2a`: Any2AnyTryon's costs (bench/a2a.py); `--batch-job`: the batch command's throughput (bench/batch_job.py).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from .report import markdown
from ..vocab import DTYPE_CHOICES
from ..families.profiles import PROFILES
from .profile import ProfileBenchSettings, profile_markdown, run_profile_benchmark
from .runner import DEFAULT_LATENTS, SECTIONS, BenchSettings, run_benchmark


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 64x96, got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return h, w


def _size_or_none(text: str):
    if text.lower() == "auto":
        return "auto"
    return None if text.lower() in ("none", "off", "0") else _size(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m twgtm.bench", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("--family", default="twgtm", choices=["twgtm", "a2a"], help="a2a: Any2AnyTryon (FLUX) costs")
    p.add_argument("--preset", default="sd15", choices=sorted(DEFAULT_LATENTS), help="model size (random weights); "
                   "with --profile, the size of its base")
    p.add_argument("--profile", default=None, choices=sorted(PROFILES), help="a public profile instead of TWGTM: its step "
                   "against the bare inpainting UNet, one whole call, the estimated peak at its working size")
    p.add_argument("--latent", nargs="+", type=_size, default=None, metavar="HxW",
                   help="latent canvas sizes, the first is the main one (sd15 default: 64x96 = a 512x384 try-on "
                        "with width concat, then 32x48 48x72)")
    p.add_argument("--batch", nargs="+", type=int, default=[1], metavar="N", help="images per call (UNet rows = 2N with CFG)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--dtype", default="float32", choices=DTYPE_CHOICES)
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per contender (median reported)")
    p.add_argument("--call-repeats", type=int, default=None, help="timed repeats of the whole calls (default: --repeats)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds before timing")
    p.add_argument("--steps", type=int, default=4, help="denoising steps of the whole try-on / try-off calls")
    p.add_argument("--guidance", type=float, default=2.5)
    p.add_argument("--attention", default="sdpa", choices=["sdpa", "classic"], help="the main attention backend")
    p.add_argument("--channels-last", action="store_true", help="UNet and VAE in channels-last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the UNet (compiles on the warm-up round)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--peak-tryon", default="auto", metavar="HxW|none",
                   help="measure the peak memory of one whole try-on of this person size (default: 1024x768 on CUDA, none on CPU)")
    p.add_argument("--estimate", type=_size_or_none, default="auto", metavar="HxW|none",
                   help="person size of the estimated peak GPU memory (default 1024x768; --profile: its working size)")
    p.add_argument("--estimate-dtype", default="bfloat16", choices=DTYPE_CHOICES)
    p.add_argument("--check-formula", nargs="*", type=_size, default=[], metavar="HxW",
                   help="person sizes whose whole try-ons (each --batch, CFG batched and sequential) are measured "
                        "against the activation formula (twgtm/sampling/memory_plan.py)")
    p.add_argument("--skip", nargs="*", default=[], choices=SECTIONS, help="leave parts out to save time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the JSON here")
    p.add_argument("-v", "--verbose", action="store_true", help="log every timed run")
    return p


def main(argv=None) -> int:
    if "--batch-job" in (sys.argv[1:] if argv is None else argv):  # the batch command's throughput: batch_job.py
        from .batch_job import main as batch_job_main
        return batch_job_main(argv)
    family = argparse.ArgumentParser(add_help=False)
    family.add_argument("--family", default="twgtm", choices=["twgtm", "a2a"])
    chosen, argv = family.parse_known_args(argv)
    if chosen.family == "a2a":  # Any2AnyTryon on FLUX.1-dev: twgtm/bench/a2a.py
        from .a2a import main as a2a_main
        return a2a_main(argv)
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"--device {args.device}: this torch ({torch.__version__}) sees no CUDA device", file=sys.stderr)
        return 2
    if args.profile:
        return _profile_main(args)
    if args.peak_tryon == "auto":
        peak = (1024, 768) if device.type == "cuda" else None
    else:
        try:
            peak = _size_or_none(args.peak_tryon)
        except argparse.ArgumentTypeError as exc:
            parser().error(f"argument --peak-tryon: {exc}")
    estimate = (1024, 768) if args.estimate == "auto" else args.estimate
    settings = BenchSettings(
        preset=args.preset, latents=list(args.latent or []), batches=args.batch, device=args.device, dtype=args.dtype,
        repeats=args.repeats, call_repeats=args.call_repeats, warmup=args.warmup, steps=args.steps,
        guidance=args.guidance, attention=args.attention,
        channels_last=args.channels_last, compile=args.compile, threads=args.threads, peak_tryon=peak,
        estimate=estimate, estimate_dtype=args.estimate_dtype, check_formula=list(args.check_formula),
        skip=tuple(args.skip), seed=args.seed,
    )

    def save(result):  # after every part, so that a run cut short still leaves its figures
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")

    result = run_benchmark(settings, progress=save)
    text = json.dumps(result, indent=1)
    print(markdown(result))
    print(text)
    return 1 if result.get("errors") else 0


def _profile_main(args) -> int:
    """`--profile`: the public profile's benchmark (twgtm.bench.profile)."""
    settings = ProfileBenchSettings(
        profile=args.profile, base=args.preset, latent=args.latent[0] if args.latent else None, batch=args.batch[0],
        device=args.device, dtype=args.dtype, repeats=args.repeats, warmup=args.warmup, steps=args.steps,
        estimate=None if args.estimate in ("auto", None) else args.estimate, estimate_dtype=args.estimate_dtype,
        threads=args.threads, seed=args.seed)
    result = run_profile_benchmark(settings)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(profile_markdown(result))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
