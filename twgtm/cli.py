"""Command line: `python -m twgtm <command>`. Each command is a function registered in COMMANDS."""
from __future__ import annotations

import argparse
import json
import logging
import sys

from .errors import TWGTMError
from .vocab import DTYPE_CHOICES, GARMENT_CATEGORIES, TRYOFF_MASK_MODES

COMMANDS = {}


def command(name: str, help: str):
    """Register `fn(parser)` as the argument builder of a sub-command; it returns the runner."""
    def wrap(fn):
        COMMANDS[name] = (help, fn)
        return fn
    return wrap


@command("info", "parameter count of each part of a preset (built on the meta device: instant)")
def _info(parser: argparse.ArgumentParser):
    parser.add_argument("--preset", default="sd15", help="size preset: sd15, demo or tiny")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def run(args):
        from .model.network import build_model

        model = build_model(args.preset, device="meta")
        counts = model.parameter_counts()
        counts["total"] = sum(counts.values())
        if args.json:
            print(json.dumps({"preset": args.preset, "parameters": counts}, indent=2))
            return 0
        print(f"TWGTM preset {args.preset!r}: parameters per part")
        for part, n in counts.items():
            print(f"  {part:<20} {n:>14,}  ({n / 1e6:8.2f} M)")
        return 0

    return run


# ----- model files, shared by the sampling commands, demo and `python -m twgtm.eval` ------------------
MODEL_FLAGS = {"base": "--base", "clip": "--clip", "swin": "--swin"}  # how errors name load_model's options


def add_part_arguments(group) -> None:
    """The options that supply the parts a checkpoint lacks (--base, --clip, --swin), or a profile's."""
    group.add_argument("--base", help="SD1.5-inpainting UNet/VAE for a checkpoint without them or for --profile: a "
                       "diffusers folder (unet/, vae/) or one original-format .safetensors")
    group.add_argument("--clip", help="CLIP image encoder for a checkpoint without it: a CLIPVisionModelWithProjection "
                       "folder or its .safetensors")
    group.add_argument("--swin", help="Swin backbone for a checkpoint without it: timm Swin .safetensors (or its folder)")
    group.add_argument("--profile", help="run public weights through a backbone profile: catvton (try-on) or "
                       "tryoffanyone (try-off); --checkpoint is then the project's file and --base is needed")
    group.add_argument("--preset", help="size preset of the --profile model (default sd15)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--checkpoint, the part options, --device and --dtype."""
    group = parser.add_argument_group("model files")
    group.add_argument("--checkpoint", help="TWGTM .safetensors checkpoint (default: the shipped demo model); "
                       "with --profile, that project's weights file")
    add_part_arguments(group)
    group.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 ... (default cpu)")
    group.add_argument("--dtype", choices=DTYPE_CHOICES, default="fp32", help="weights precision (default fp32)")


def part_options(args) -> dict:
    """The load_model keywords of parsed add_part_arguments options."""
    return dict(profile=args.profile, preset=args.preset, base=args.base, clip=args.clip, swin=args.swin,
                option_names=MODEL_FLAGS)


def _load_pipeline(args):
    """The pipeline of the model that the model-file options name (the demo model by default)."""
    from .sampling.pipeline import TWGTMPipeline
    from .weights.loader import load_model

    return TWGTMPipeline(load_model(args.checkpoint, device=args.device, dtype=args.dtype, **part_options(args)))


# ----- sampling commands: tryon, tryoff, roundtrip ---------------------------------------------------
def _sampling_args(parser: argparse.ArgumentParser, repaint: bool) -> None:
    """Options shared by tryon, tryoff and roundtrip."""
    from .sampling.schedulers import SCHEDULERS

    what = parser.add_mutually_exclusive_group()
    what.add_argument("--category", choices=GARMENT_CATEGORIES, help="garment category (default upper)")
    what.add_argument("--prompt", help="free-text garment description instead of a category")
    parser.add_argument("--out", required=True, help="output PNG path (extra outputs get _garment/_mask suffixes)")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps (default 30)")
    parser.add_argument("--guidance", type=float, default=2.5, help="classifier-free guidance scale; 1 = off (default 2.5)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--scheduler", default="ddim", help=f"one of {', '.join(SCHEDULERS)} (default ddim)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="working size of the person half "
                        "(default: the model's own; the output always has the input's size)")
    if repaint:
        parser.add_argument("--repaint", action="store_true", help="keep the person's pixels outside the mask exactly")
    add_model_arguments(parser)


def _mask_for(path, person, what: str):
    """Read a mask file; one of another size than the person is resized to it, with a warning."""
    from .masks import resize_mask
    from .pixels import load_mask

    mask = load_mask(path, what)
    if mask.shape[-2:] != person.shape[-2:]:
        logging.getLogger("twgtm").warning(
            "%s %s is %dx%d but the person is %dx%d: resized to the person's size (check it is the right mask)",
            what, path, mask.shape[-1], mask.shape[-2], person.shape[-1], person.shape[-2])
        mask = resize_mask(mask, tuple(person.shape[-2:]))
    return mask


def _common(args) -> dict:
    return dict(prompt=args.prompt or args.category or "upper", seed=args.seed, steps=args.steps,
                guidance=args.guidance, scheduler=args.scheduler, size=tuple(args.size) if args.size else None)


def _progress(total_runs: int, steps: int):
    """A tqdm bar over every denoising step of the command, and the pipeline callback that drives it."""
    from tqdm import tqdm

    bar = tqdm(total=total_runs * steps, unit="step", desc="sampling")
    return bar, lambda step, total, latents: bar.update(1)


def _png(path, suffix: str = ""):
    from pathlib import Path

    path = Path(path)
    path = path if path.suffix.lower() == ".png" else path.with_suffix(".png")
    return path.with_name(path.stem + suffix + ".png") if suffix else path


@command("tryon", "dress a person in a garment (virtual try-on)")
def _tryon(parser: argparse.ArgumentParser):
    parser.add_argument("--person", required=True, help="person image")
    parser.add_argument("--garment", required=True, help="flat garment image (any size: letterboxed)")
    parser.add_argument("--mask", help="garment-region mask on the person, white = replace "
                        "(default: the body box of the category)")
    _sampling_args(parser, repaint=True)

    def run(args):
        from .masks import category_box
        from .pixels import load_image, save_image

        person, garment = load_image(args.person, "person"), load_image(args.garment, "garment")
        if args.mask:
            mask = _mask_for(args.mask, person, "mask")
        else:
            mask = category_box(args.category or "upper", tuple(person.shape[-2:]))
            logging.getLogger("twgtm").info("no --mask given: using the %s body box", args.category or "upper")
        pipe = _load_pipeline(args)
        bar, callback = _progress(1, args.steps)
        with bar:
            result = pipe.tryon(person, garment, mask, repaint=args.repaint, callback=callback, **_common(args))
        print(f"wrote {save_image(result.images[0], _png(args.out))}")
        return 0

    return run


@command("tryoff", "take the garment off a person as a flat image (virtual try-off)")
def _tryoff(parser: argparse.ArgumentParser):
    parser.add_argument("--person", required=True, help="dressed person image")
    parser.add_argument("--mask-mode", choices=TRYOFF_MASK_MODES, default="bbox",
                        help="where the garment is drawn: the box of the predicted garment mask or the whole image")
    parser.add_argument("--mask", help="explicit garment mask (overrides --mask-mode)")
    _sampling_args(parser, repaint=False)

    def run(args):
        from .pixels import load_image, save_image

        person = load_image(args.person, "person")
        mask = _mask_for(args.mask, person, "mask") if args.mask else None
        pipe = _load_pipeline(args)
        bar, callback = _progress(1, args.steps)
        with bar:
            result = pipe.tryoff(person, mask_mode=args.mask_mode, mask=mask, callback=callback, **_common(args))
        print(f"wrote {save_image(result.images[0], _png(args.out))}")
        print(f"wrote {save_image(result.masks[0], _png(args.out, '_mask'))}")
        return 0

    return run


@command("roundtrip", "take person A's garment off, then dress person B in it")
def _roundtrip(parser: argparse.ArgumentParser):
    parser.add_argument("--person", required=True, help="person A, whose garment is taken off")
    parser.add_argument("--target", required=True, help="person B, who is dressed (may be A itself)")
    parser.add_argument("--target-mask", help="garment-region mask on B (default: the body box of the category)")
    parser.add_argument("--mask-mode", choices=TRYOFF_MASK_MODES, default="bbox", help="try-off mask mode for A")
    _sampling_args(parser, repaint=True)

    def run(args):
        from .pixels import load_image, save_image

        person_a, person_b = load_image(args.person, "person"), load_image(args.target, "target")
        mask_b = _mask_for(args.target_mask, person_b, "target mask") if args.target_mask else None
        pipe = _load_pipeline(args)
        bar, callback = _progress(2, args.steps)
        with bar:
            result = pipe.roundtrip(person_a, person_b, mask_b=mask_b, mask_mode=args.mask_mode, repaint=args.repaint,
                                    callback=callback, **_common(args))
        print(f"wrote {save_image(result.images[0], _png(args.out))}")
        print(f"wrote {save_image(result.garments.images[0], _png(args.out, '_garment'))}")
        return 0

    return run


@command("demo", "try-on, try-off and round trip on toy examples, written as a PNG grid")
def _demo(parser: argparse.ArgumentParser):
    parser.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    parser.add_argument("--count", type=int, default=3, help="number of example pairs (default 3)")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps (default 30)")
    parser.add_argument("--guidance", type=float, default=2.5, help="classifier-free guidance scale (default 2.5)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    add_model_arguments(parser)

    def run(args):
        from .demo import run_demo

        pipeline = _load_pipeline(args)
        bar, callback = _progress(4, args.steps)
        with bar:
            path = run_demo(pipeline, args.out, count=args.count, steps=args.steps, guidance=args.guidance,
                            seed=args.seed, callback=callback)
        print(f"demo grid: {path}")
        return 0

    return run


from .families.a2a.cli import build_parser as _a2a  # noqa: E402
command("a2a", "Any2AnyTryon on FLUX.1-dev: tryon, modelfree, reconstruct, layered")(_a2a)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run one command, turn our errors into a message and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m twgtm", description="TWGTM virtual try-on / try-off")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    runners = {}
    for name, (help_text, build) in COMMANDS.items():
        runners[name] = build(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return runners[args.command](args) or 0
    except TWGTMError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
