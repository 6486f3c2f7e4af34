"""The command-line options every `python -m twgtm...` command shares: model files (and the check that they
exist before anything loads), device and dtype, sizes.

One spelling per thing, as the Python API names it: `--checkpoint`, `--profile`, `--weights`, `--base`,
`--vae`, `--clip`, `--swin` (the keywords of `twgtm.load_model`), `--size` (a working or target size,
`HxW`; `H W` is also read), `--steps`, `--guidance`, `--seed`, `--mask`.
"""
from __future__ import annotations

import argparse

from .vocab import DTYPE_CHOICES

__all__ = ["MODEL_FLAGS", "PARSER_HINT", "add_part_arguments", "add_model_arguments", "part_options",
           "check_model_files", "parse_hxw", "SizeAction", "add_size_argument"]

# How errors name the load_model options: the flags below.
MODEL_FLAGS = {"base": "--base", "clip": "--clip", "swin": "--swin", "vae": "--vae", "weights": "--weights"}
# What --parser takes.
PARSER_HINT = ("a transformers SegFormer clothes parser folder (config.json, model.safetensors, "
               "preprocessor_config.json), e.g. sayeed99/segformer_b3_clothes")


def add_part_arguments(group) -> None:
    """The options that supply the parts a checkpoint lacks (--base, --clip, --swin), or a profile's files."""
    group.add_argument("--base", help="SD1.5-inpainting UNet/VAE for a checkpoint without them or for --profile: a "
                       "diffusers folder (unet/, vae/) or one original-format .safetensors")
    group.add_argument("--clip", help="CLIP image encoder for a checkpoint without it: a CLIPVisionModelWithProjection "
                       "folder or its .safetensors")
    group.add_argument("--swin", help="Swin backbone for a checkpoint without it: timm Swin .safetensors (or its folder)")
    group.add_argument("--profile", help="run public weights as their project does: catvton (try-on) or tryoffanyone "
                       "(try-off); give that project's file with --weights and the SD1.5-inpainting model with --base")
    group.add_argument("--weights", help="with --profile: the project's weights file (CatVTON: "
                       "mix-48k-1024/attention/model.safetensors, TryOffAnyone: model.safetensors)")
    group.add_argument("--vae", help="with --profile: a separate SD1.5 VAE (both projects use stabilityai/sd-vae-ft-mse): "
                       "a diffusers folder or one .safetensors; default the base's own")
    group.add_argument("--preset", help="size preset of the --profile model (default: read from the --base files)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--checkpoint, the part options, --device and --dtype."""
    group = parser.add_argument_group("model files")
    group.add_argument("--checkpoint", help="TWGTM .safetensors checkpoint (default: the shipped demo model, a toy "
                       "trained on drawn clothes: use a real checkpoint or --profile for photos)")
    add_part_arguments(group)
    group.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 ... (default cpu)")
    group.add_argument("--dtype", choices=DTYPE_CHOICES, default="fp32", help="weights precision (default fp32)")


def part_options(args) -> dict:
    """The `twgtm.load_model` keywords of parsed `add_part_arguments` options."""
    return dict(profile=args.profile, preset=args.preset, base=args.base, clip=args.clip, swin=args.swin,
                vae=getattr(args, "vae", None), weights=getattr(args, "weights", None), option_names=MODEL_FLAGS)


def check_model_files(args, *masks) -> None:
    """Before anything loads: one error for every model file the options name but lack, or need and miss.

    Each missing file is listed with the `python -m twgtm models fetch` command that gets it; `masks` are the
    command's mask options ('auto' needs --parser). (twgtm.validate.check_cli_arguments checked the kind of each
    path that exists.)
    """
    from pathlib import Path

    from .weights.missing import MissingFile, cli_error
    from .weights.registry import REGISTRY

    missing = []

    def need(flag: str, value, entry=None, required: bool = False) -> None:
        if (value is None and required) or (value is not None and not Path(value).exists()):
            missing.append(MissingFile(flag, entry, None if value is None else str(value)))

    pairs = [("--profile", "--weights")] if hasattr(args, "profile") else []
    pairs += [(f"--{t}-profile", f"--{t}-weights") for t in ("tryoff", "tryon") if hasattr(args, f"{t}_profile")]
    profiled, checkpoint = False, ("--checkpoint", args.checkpoint)
    for profile_flag, weights_flag in pairs:
        profile = getattr(args, profile_flag[2:].replace("-", "_"))
        weights = (weights_flag, getattr(args, weights_flag[2:].replace("-", "_")))
        if weights_flag == "--weights" and weights[1] is None and profile:
            weights, checkpoint = checkpoint, ("--checkpoint", None)  # load_model takes --checkpoint as the weights
        entry = REGISTRY.get(str(profile).lower().replace("-", "").replace("_", "")) if profile else None
        profiled |= entry is not None
        need(*weights, entry, required=entry is not None)
    need(*checkpoint)
    need("--base", args.base, REGISTRY["sd15-inpainting"], required=profiled)
    need("--vae", args.vae, REGISTRY["sd-vae-ft-mse"])
    need("--clip", args.clip)
    need("--swin", args.swin)
    auto = any(str(m).strip().lower() == "auto" for m in masks if m is not None)
    need("--parser", getattr(args, "parser", None), REGISTRY["segformer-b3-clothes"], required=auto)
    if missing:
        raise cli_error(missing)



def parse_hxw(text: str) -> tuple[int, int]:
    """'512x384' -> (512, 384); an argparse error for anything else."""
    try:
        h, w = (int(v) for v in str(text).lower().replace("×", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 512x384, got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return h, w


class SizeAction(argparse.Action):
    """`--size HxW` (or the two numbers `--size H W`) -> (H, W)."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            if len(values) == 1:
                size = parse_hxw(values[0])
            elif len(values) == 2:
                size = parse_hxw(f"{values[0]}x{values[1]}")
            else:
                raise argparse.ArgumentTypeError(f"expected HxW (or H W), got {' '.join(values)!r}")
        except argparse.ArgumentTypeError as err:
            parser.error(f"argument {option_string}: {err}")
        setattr(namespace, self.dest, size)


def add_size_argument(parser, help: str) -> None:
    """`--size HxW` (also `--size H W`), parsed to (H, W) or None."""
    parser.add_argument("--size", nargs="+", action=SizeAction, metavar="HxW", default=None, help=help)
