"""`python -m twgtm batch JOB --out DIR`: a catalogue job over a manifest or two folders, resumable.

Several processes (GPUs, machines, or CPU processes): `accelerate launch -m twgtm batch ...`, or
`ACCELERATE_USE_CPU=1 torchrun --nproc_per_node N -m twgtm batch ...` on CPUs (see docs/batch.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..cli_args import MODEL_FLAGS, PARSER_HINT, add_part_arguments, add_size_argument, check_model_files
from ..families.a2a.cli import add_weights_arguments, load_options
from ..vocab import DTYPE_CHOICES, GARMENT_CATEGORIES, TRYOFF_MASK_MODES
from .manifest import PAIRINGS, TASKS


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", nargs="?", help="manifest: a .csv with a header row or a .jsonl file, columns id, task, "
                        "person, garment, mask, category, prompt, seed (and target, person_mask, target_mask, steps, "
                        "guidance, scheduler, size, repaint, mask_mode, raw); paths relative to the manifest")
    parser.add_argument("--out", required=True, help="output folder: <id>.png and <id>.json per item, "
                        "failures.csv, summary.json")
    folders = parser.add_argument_group("folders instead of a manifest")
    folders.add_argument("--persons", help="folder of person images")
    folders.add_argument("--garments", help="folder of garment images")
    folders.add_argument("--targets", help="roundtrip: folder of the persons to dress")
    folders.add_argument("--pairs", choices=PAIRINGS, default="all", help="all: every person with every garment; zip: "
                         "the n-th of each folder; file: the pairs of --pairs-file (default all)")
    folders.add_argument("--pairs-file", help="lines 'person garment' (file names in the two folders), as VITON-HD's "
                         "test_pairs.txt")
    folders.add_argument("--masks", help="folder of person masks, named like the person (<name>.png or <name>_mask.png)")
    rows = parser.add_argument_group("sampling (each is the default of the manifest column of the same name)")
    rows.add_argument("--task", help="tryon, tryoff, roundtrip; with --family a2a: tryon, modelfree, reconstruct, "
                      "layered")
    what = rows.add_mutually_exclusive_group()
    what.add_argument("--category", choices=GARMENT_CATEGORIES, help="garment category (default upper)")
    what.add_argument("--prompt", help="free-text garment description (Any2AnyTryon: the prompt)")
    rows.add_argument("--mask", help="mask file for every row, or 'auto' (the clothes parser's mask, needs --parser)")
    rows.add_argument("--mask-mode", choices=TRYOFF_MASK_MODES, help="TWGTM try-off: the box of the predicted garment "
                      "mask or the whole image (default bbox)")
    rows.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    rows.add_argument("--guidance", type=float, help="guidance scale (default: the model's)")
    rows.add_argument("--scheduler", help="ddim, dpmpp_2m, euler, unipc (default ddim)")
    add_size_argument(rows, "working size HxW (default: the model's; a2a: the target size)")
    rows.add_argument("--repaint", action="store_true", help="keep the person's pixels outside the mask exactly")
    rows.add_argument("--raw", action="store_true", help="profiles: the project's own output at the working size")
    rows.add_argument("--seed", type=int, default=0, help="a row without a seed gets this plus a hash of its id "
                      "(default 0)")
    rows.add_argument("--parser", help="clothes parser for mask auto: " + PARSER_HINT)
    model = parser.add_argument_group("model files (TWGTM, the profiles: as the tryon / tryoff commands)")
    model.add_argument("--family", choices=sorted(TASKS), default="twgtm", help="twgtm: TWGTM checkpoints and the "
                       "CatVTON / TryOffAnyone profiles; a2a: Any2AnyTryon on FLUX.1-dev (default twgtm)")
    model.add_argument("--checkpoint", help="TWGTM .safetensors checkpoint (default: the shipped demo model)")
    add_part_arguments(model)
    for task in ("tryoff", "tryon"):
        model.add_argument(f"--{task}-profile", help=f"roundtrip with two models: profile of the {task} model")
        model.add_argument(f"--{task}-weights", help=f"roundtrip with two models: weights of the {task} model")
    model.add_argument("--device", help="torch device (default: the one accelerate gives this process: its GPU, or "
                       "the CPU)")
    model.add_argument("--dtype", choices=DTYPE_CHOICES, help="weights precision (default fp32; a2a: bf16)")
    add_weights_arguments(parser, "Any2AnyTryon (--family a2a; --vae names the FLUX VAE folder)", vae=False)
    job = parser.add_argument_group("job")
    job.add_argument("--batch-size", type=int, default=1, help="items per call (same task, settings and image "
                     "sizes; default 1)")
    job.add_argument("--dry-run", action="store_true", help="list what would run (and what is done) and stop")
    job.add_argument("--no-progress", action="store_true", help="no progress bar")


def model_spec(args):
    """The ModelSpec of the parsed model flags."""
    from .runner import ModelSpec

    pair = {k: getattr(args, k) for k in ("tryoff_profile", "tryoff_weights", "tryon_profile", "tryon_weights")}
    return ModelSpec(family=args.family, checkpoint=args.checkpoint, profile=args.profile, weights=args.weights,
                     base=args.base, clip=args.clip, swin=args.swin, vae=args.vae, preset=args.preset,
                     pair={k: v for k, v in pair.items() if v}, parser=args.parser, dtype=args.dtype,
                     a2a=load_options(args) if args.family == "a2a" else {}, option_names=MODEL_FLAGS)


def row_defaults(args):
    """The flags a manifest column overrides, typed as the columns are."""
    from .manifest import RowDefaults, parse_value

    given = {"task": args.task, "category": args.category, "prompt": args.prompt, "mask_mode": args.mask_mode,
             "steps": args.steps, "guidance": args.guidance, "scheduler": args.scheduler, "size": args.size,
             "repaint": args.repaint or None, "raw": args.raw or None}
    values = {column: parse_value(column, value) for column, value in given.items() if value is not None}
    if args.mask:
        values["mask"] = "auto" if args.mask.strip().lower() == "auto" else Path(args.mask).resolve()
    return RowDefaults(args.family, values, args.seed)


def build_parser(parser: argparse.ArgumentParser):
    """Add the batch command's options; return its runner."""
    _arguments(parser)

    def run(args) -> int:
        from ..errors import ConfigError
        from .job import JobOptions, run_job
        from .manifest import pair_folders, read_manifest

        folders = args.persons or args.garments or args.targets
        if bool(args.job) == bool(folders):
            raise ConfigError("give a manifest (JOB) or folders (--persons, --garments), not both or neither")
        if args.batch_size < 1:
            raise ConfigError(f"--batch-size {args.batch_size}: must be at least 1")
        if folders and not args.task:
            raise ConfigError("a job from folders needs --task (tryon, tryoff, roundtrip; a2a: tryon, modelfree, "
                              "reconstruct, layered)")
        spec = model_spec(args)
        if spec.family == "twgtm":
            check_model_files(args, args.mask)
        if args.job:
            def read_rows():
                return read_manifest(args.job)
            base = Path(args.job).resolve().parent
        else:
            def read_rows():
                second = args.targets if args.task == "roundtrip" else args.garments
                return pair_folders(args.task, args.family, args.persons, second, args.pairs, args.pairs_file,
                                    args.masks), []
            base = Path.cwd()
        options = JobOptions(Path(args.out), args.batch_size, args.device, args.dry_run, not args.no_progress)
        summary, text = run_job(read_rows, row_defaults(args), base, spec, options)
        if text:
            print(text)
        return 1 if summary["failed"] else 0

    return run
