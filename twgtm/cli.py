"""Command line: `python -m twgtm <command>`. Each command is a function registered in COMMANDS."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from .cli_args import PARSER_HINT, add_model_arguments, add_size_argument, check_model_files, part_options
from .errors import TWGTMError
from .validate import check_cli_arguments
from .vocab import GARMENT_CATEGORIES, TRYOFF_MASK_MODES

STARTED = time.perf_counter()  # when the command line was read in: before torch and the model are imported

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


# ----- model files, shared by the sampling commands and the demo (twgtm.cli_args) ---------------------
def _load_pipeline(args, profile=None, weights=None):
    """`twgtm.load_model` on the model-file options (the demo model by default); `profile`/`weights` override."""
    from . import load_model

    options = part_options(args)
    if profile is not None or weights is not None:  # one model of a round trip's pair
        options.update(profile=profile, weights=weights, vae=options["vae"] if profile is not None else None)
        checkpoint = None
    else:
        checkpoint = args.checkpoint
    return load_model(checkpoint, device=args.device, dtype=args.dtype, **options)


# ----- sampling commands: tryon, tryoff, roundtrip ---------------------------------------------------
def _sampling_args(parser: argparse.ArgumentParser, repaint: bool) -> None:
    """Options shared by tryon, tryoff and roundtrip."""
    from .sampling.schedulers import SCHEDULERS

    what = parser.add_mutually_exclusive_group()
    what.add_argument("--category", choices=GARMENT_CATEGORIES, help="garment category (default upper)")
    what.add_argument("--prompt", help="free-text garment description instead of a category")
    parser.add_argument("--out", required=True, help="output PNG path (extra outputs get _garment/_mask suffixes)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default 30; --profile: the project's 50)")
    parser.add_argument("--guidance", type=float, default=None,
                        help="classifier-free guidance scale; 1 = off (default 2.5, as both projects)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--scheduler", default=None, help=f"one of {', '.join(SCHEDULERS)} (default ddim; --profile: "
                        "DDIM with eta 1 only, as published)")
    add_size_argument(parser, "working size of the person half, HxW (default: the model's own: CatVTON 1024x768, "
                      "TryOffAnyone 512x384; the output has the input's size)")
    parser.add_argument("--parser", help="clothes parser for --mask auto: " + PARSER_HINT)
    parser.add_argument("--raw", action="store_true", help="--profile: write the project's own output at the working "
                        "size instead of the result put back at the person's size")
    if repaint:
        parser.add_argument("--repaint", action="store_true", help="keep the person's pixels outside the mask exactly "
                            "(--profile catvton: CatVTON's own repaint)")
    add_model_arguments(parser)


def _mask_for(path, person, what: str):
    """Read a mask file; one of another size than the person is resized to it, with a warning."""
    from . import load_mask
    from .masks import resize_mask

    mask = load_mask(path, what)
    if mask.shape[-2:] != person.shape[-2:]:
        logging.getLogger("twgtm").warning(
            "%s %s is %dx%d but the person is %dx%d: resized to the person's size (check it is the right mask)",
            what, path, mask.shape[-1], mask.shape[-2], person.shape[-1], person.shape[-2])
        mask = resize_mask(mask, tuple(person.shape[-2:]))
    return mask


def _auto(args, task: str, flag: str):
    """The AutoMask of --mask auto (a mask source the sampler calls on the person); an error without --parser."""
    from . import AutoMask, ConfigError, load_parser

    if not args.parser:
        raise ConfigError(f"{flag} auto needs a clothes parser: give --parser DIR, {PARSER_HINT} "
                          "(in ComfyUI it goes in models/twgtm/parsers/<name>/)")
    return AutoMask(load_parser(args.parser, device=args.device), task, args.category or "upper")


def _mask_option(args, value, person, task: str, flag: str, what: str):
    """A mask option's value: None, a file read at the person's size, or 'auto' (an AutoMask)."""
    if value is None:
        return None
    if str(value).strip().lower() == "auto":
        return _auto(args, task, flag)
    return _mask_for(value, person, what)


def _common(args) -> dict:
    return dict(prompt=args.prompt or args.category or "upper", seed=args.seed, steps=args.steps,
                guidance=args.guidance, scheduler=args.scheduler, size=tuple(args.size) if args.size else None)


def _progress(total_runs: int, steps: int):
    """A tqdm bar over every denoising step of the command, and the pipeline callback that drives it."""
    from tqdm import tqdm

    bar = tqdm(total=total_runs * steps, unit="step", desc="sampling")
    return bar, lambda step, total, latents: bar.update(1)


def _steps(args, *pipes) -> int:
    """The steps the bar counts: --steps, else the first model's default."""
    if args.steps is not None:
        return args.steps
    return max(p.default_steps for p in pipes)


def _png(path, suffix: str = ""):
    from pathlib import Path

    path = Path(path)
    path = path if path.suffix.lower() == ".png" else path.with_suffix(".png")
    return path.with_name(path.stem + suffix + ".png") if suffix else path


def _image(result, raw: bool):
    """The image to write: the result at the person's size, or (--raw, profiles) the project's own output."""
    from .pixels import from_uint8

    if raw and hasattr(result, "working"):
        return from_uint8(result.working[0])
    return result.images[0]


@command("tryon", "dress a person in a garment (virtual try-on)")
def _tryon(parser: argparse.ArgumentParser):
    parser.add_argument("--person", required=True, help="person image")
    parser.add_argument("--garment", required=True, help="flat garment image (any size: letterboxed)")
    parser.add_argument("--mask", help="garment-region mask on the person, white = replace, or 'auto' (the parser's "
                        "agnostic mask of --category, needs --parser) (default: the body box of the category)")
    _sampling_args(parser, repaint=True)

    def run(args):
        from . import category_box, load_image, save_image

        check_model_files(args, args.mask)
        person, garment = load_image(args.person, "person"), load_image(args.garment, "garment")
        mask = _mask_option(args, args.mask, person, "tryon", "--mask", "mask")
        if mask is None:
            mask = category_box(args.category or "upper", tuple(person.shape[-2:]))
            logging.getLogger("twgtm").info("no --mask given: using the %s body box (--mask auto with --parser "
                                            "finds the garment region)", args.category or "upper")
        pipe = _load_pipeline(args)
        bar, callback = _progress(1, _steps(args, pipe))
        with bar:
            result = pipe.tryon(person, garment, mask, repaint=args.repaint, callback=callback, **_common(args))
        print(f"wrote {save_image(_image(result, args.raw), _png(args.out))}")
        return 0

    return run


@command("tryoff", "take the garment off a person as a flat image (virtual try-off)")
def _tryoff(parser: argparse.ArgumentParser):
    parser.add_argument("--person", required=True, help="dressed person image")
    parser.add_argument("--mask-mode", choices=TRYOFF_MASK_MODES, default="bbox",
                        help="TWGTM: where the garment is drawn: the box of the predicted garment mask or the whole image")
    parser.add_argument("--mask", help="explicit garment mask (overrides --mask-mode); --profile tryoffanyone: the "
                        "garment on the person, a file or 'auto' (the parser's garment of --category, needs --parser)")
    _sampling_args(parser, repaint=False)

    def run(args):
        from . import ConfigError, load_image, save_image

        check_model_files(args, args.mask)
        person = load_image(args.person, "person")
        pipe = _load_pipeline(args)
        mask = _mask_option(args, args.mask, person, "tryoff", "--mask", "mask")
        if callable(mask) and pipe.family == "twgtm":
            raise ConfigError("--mask auto in try-off is for --profile tryoffanyone (the garment region it redraws); a "
                              "TWGTM model finds the garment itself: use --mask-mode bbox")
        bar, callback = _progress(1, _steps(args, pipe))
        with bar:
            result = pipe.tryoff(person, mask_mode=args.mask_mode, mask=mask, callback=callback, **_common(args))
        print(f"wrote {save_image(_image(result, args.raw), _png(args.out))}")
        print(f"wrote {save_image(result.masks[0], _png(args.out, '_mask'))}")
        return 0

    return run


@command("roundtrip", "take person A's garment off, then dress person B in it")
def _roundtrip(parser: argparse.ArgumentParser):
    parser.add_argument("--person-a", "--person", dest="person_a", required=True,
                        help="person A, whose garment is taken off")
    parser.add_argument("--person-b", "--target", dest="person_b", required=True,
                        help="person B, who is dressed (may be A itself)")
    parser.add_argument("--mask-b", "--target-mask", dest="mask_b", help="garment-region mask on B, a file or 'auto' "
                        "(default: the body box of the category)")
    parser.add_argument("--mask-a", "--person-mask", dest="mask_a", help="the garment on A, a file or 'auto' (needed by "
                        "tryoffanyone)")
    parser.add_argument("--mask-mode", choices=TRYOFF_MASK_MODES, default="bbox", help="TWGTM try-off mask mode for A")
    pair = parser.add_argument_group("two models (public weights: each does one task)")
    pair.add_argument("--tryoff-profile", help="profile of the try-off model (tryoffanyone); without it "
                      "--tryoff-weights is a TWGTM checkpoint")
    pair.add_argument("--tryoff-weights", help="weights of the try-off model (TryOffAnyone: model.safetensors)")
    pair.add_argument("--tryon-profile", help="profile of the try-on model (catvton); without it --tryon-weights is a "
                      "TWGTM checkpoint")
    pair.add_argument("--tryon-weights", help="weights of the try-on model (CatVTON: "
                      "mix-48k-1024/attention/model.safetensors)")
    _sampling_args(parser, repaint=True)

    def run(args):
        from . import load_image, roundtrip_pair, save_image

        check_model_files(args, args.mask_a, args.mask_b)
        person_a, person_b = load_image(args.person_a, "person A"), load_image(args.person_b, "person B")
        mask_a = _mask_option(args, args.mask_a, person_a, "tryoff", "--mask-a", "mask of person A")
        mask_b = _mask_option(args, args.mask_b, person_b, "tryon", "--mask-b", "mask of person B")
        common = _common(args)
        if any((args.tryoff_profile, args.tryoff_weights, args.tryon_profile, args.tryon_weights)):
            off = _model_pair(args, "tryoff")
            on = _model_pair(args, "tryon")
            size = common.pop("size")
            bar, callback = _progress(2, _steps(args, off, on))
            with bar:
                result = roundtrip_pair(off, on, person_a, person_b, mask_a=mask_a, mask_b=mask_b,
                                        mask_mode=args.mask_mode, repaint=args.repaint, callback=callback,
                                        size_a=size, size_b=size, **common)
        else:
            pipe = _load_pipeline(args)
            bar, callback = _progress(2, _steps(args, pipe))
            with bar:
                result = pipe.roundtrip(person_a, person_b, mask_b=mask_b, mask_a=mask_a, mask_mode=args.mask_mode,
                                        repaint=args.repaint, callback=callback, **common)
        print(f"wrote {save_image(_image(result.dressed, args.raw), _png(args.out))}")
        print(f"wrote {save_image(_image(result.garments, args.raw), _png(args.out, '_garment'))}")
        return 0

    return run


def _model_pair(args, task: str):
    """The round trip's try-off or try-on pipeline from its --<task>-profile / --<task>-weights (or --checkpoint)."""
    profile, weights = getattr(args, f"{task}_profile"), getattr(args, f"{task}_weights")
    if profile is None and weights is None:
        return _load_pipeline(args)  # the TWGTM model of --checkpoint (or the demo) does this step
    if profile is None:
        return _load_pipeline(args, profile=None, weights=weights)
    return _load_pipeline(args, profile=profile, weights=weights)


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

        check_model_files(args)
        pipeline = _load_pipeline(args)
        bar, callback = _progress(4, args.steps)
        with bar:
            path = run_demo(pipeline, args.out, count=args.count, steps=args.steps, guidance=args.guidance,
                            seed=args.seed, callback=callback)
        print(f"demo grid: {path} ({time.perf_counter() - STARTED:.0f} s in all, imports and model loading included)")
        return 0

    return run


from .batch.cli import build_parser as _batch  # noqa: E402
from .families.a2a.cli import build_parser as _a2a  # noqa: E402
from .weights.models_cli import build_parser as _models  # noqa: E402
command("a2a", "Any2AnyTryon on FLUX.1-dev: tryon, modelfree, reconstruct, layered")(_a2a)
command("models", "the model files the pack knows: list them (where they go, present or not), fetch them")(_models)
command("batch", "a catalogue job: many items from a manifest or folders, resumable, on one or many processes")(_batch)


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
        check_cli_arguments(args)
        return runners[args.command](args) or 0
    except TWGTMError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
