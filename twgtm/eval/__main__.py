"""Command line, two modes.

Folders: ``python -m twgtm.eval --pred DIR --gt DIR [--metrics ...] [--json OUT]``.
Data set: ``python -m twgtm.eval --checkpoint C --dataset vitonhd|dresscode --data-root DIR --out DIR
[--task tryon|tryoff] [--mode paired|unpaired] [--category upper|lower|dress]`` (see ``dataset.py``).
"""
from __future__ import annotations

import argparse
import logging
import sys

import torch

from ..errors import ConfigError, TWGTMError
from ..metrics.suite import DEFAULT_METRICS, METRICS
from . import evaluate_folders, markdown_table, parse_size, write_json
from ..cli_args import add_part_arguments, part_options
from ..validate import check_writable
from ..vocab import CANVAS_TASKS, DTYPE_CHOICES, GARMENT_CATEGORIES, TRYOFF_MASK_MODES, parse_device, parse_dtype

FOLDER_ARGS = ("pred", "gt")
DATASET_ARGS = ("checkpoint", "dataset", "data_root", "out")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m twgtm.eval``."""
    metric_help = "; ".join(f"{name}: {spec.description}" for name, spec in METRICS.items())
    parser = argparse.ArgumentParser(
        prog="python -m twgtm.eval",
        description="Folder mode (--pred, --gt): compare a folder of predictions with a folder of ground truths "
                    "(paired by file name, extension ignored). Data set mode (--checkpoint, --dataset, --data-root, "
                    "--out): sample a checkpoint over a VITON-HD / DressCode test split, write the predictions as "
                    "PNGs and score them (paired: against the truth; unpaired: FID/KID/CLIP-FID against the real "
                    "test images). Prints a markdown table; --json also writes the report.",
        epilog="Resizing: as the papers (CatVTON, TryOffDiff, TWGTM), metrics are computed at the dataset's "
               "resolution: in folder mode without --size every prediction is resized (bicubic) to its ground "
               "truth's size; pass --size 1024x768 (VITON-HD / DressCode) or 512x384 to resize both. In data set "
               "mode --size is the size the pairs are read, sampled and scored at (default 512x384). Weights "
               "folder names: see `python -c 'import twgtm.metrics; help(twgtm.metrics)'`; metrics without "
               "weights are skipped.",
    )
    folders = parser.add_argument_group("folder mode")
    folders.add_argument("--pred", help="folder of predicted images")
    folders.add_argument("--gt", help="folder of ground-truth images")
    data = parser.add_argument_group("data set mode")
    data.add_argument("--checkpoint", help="TWGTM .safetensors checkpoint to sample")
    data.add_argument("--dataset", choices=["vitonhd", "dresscode"], help="layout of --data-root")
    data.add_argument("--data-root", help="data set folder (the one holding the pairs files)")
    data.add_argument("--out", help="folder for pred/, gt/ or real/, pred_mask/ and report.json")
    data.add_argument("--task", choices=CANVAS_TASKS, default="tryon", help="default %(default)s")
    data.add_argument("--mode", choices=["paired", "unpaired"], default="paired", help="default %(default)s")
    data.add_argument("--category", choices=GARMENT_CATEGORIES,
                      help="only this garment category (DressCode default: all three)")
    data.add_argument("--steps", type=int, default=30, help="denoising steps (default %(default)s)")
    data.add_argument("--guidance", type=float, default=2.5, help="classifier-free guidance (default %(default)s)")
    data.add_argument("--seed", type=int, default=0, help="noise seed of the first pair; pair i uses seed + i")
    data.add_argument("--scheduler", default="ddim", help="sampler scheduler (default %(default)s)")
    data.add_argument("--mask-mode", choices=TRYOFF_MASK_MODES, default="bbox",
                      help="VTOFF generation region: box of the predicted garment mask (default) or the whole half")
    data.add_argument("--repaint", action="store_true", help="VTON: paste the person back outside the mask")
    data.add_argument("--limit", type=int, help="only the first N test pairs")
    data.add_argument("--overwrite", action="store_true", help="replace the images of an earlier run in --out")
    add_part_arguments(data)
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                        help=f"comma-separated list (default: %(default)s). Available: {metric_help}")
    parser.add_argument("--weights-dir", help="folder with the metric weights (fixed file names)")
    parser.add_argument("--size", help="HxW evaluation size, e.g. 1024x768")
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument("--dtype", default="float32", choices=DTYPE_CHOICES, help="network dtype")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _mode(args) -> str:
    """'folders' or 'dataset', from which arguments were given; ConfigError when mixed or incomplete."""
    given = lambda names: [n for n in names if getattr(args, n) is not None]  # noqa: E731
    folder, data = given(FOLDER_ARGS), given(DATASET_ARGS)
    flag = lambda names: ", ".join("--" + n.replace("_", "-") for n in names)  # noqa: E731
    if folder and data:
        raise ConfigError(f"give either {flag(FOLDER_ARGS)} (score two folders) or {flag(DATASET_ARGS)} "
                          f"(sample and score a checkpoint), not both; got {flag(folder + data)}")
    if data:
        missing = [n for n in DATASET_ARGS if n not in data]
        if missing:
            raise ConfigError(f"data set mode needs {flag(DATASET_ARGS)}; missing {flag(missing)}")
        return "dataset"
    missing = [n for n in FOLDER_ARGS if n not in folder]
    if missing:
        raise ConfigError(f"give {flag(FOLDER_ARGS)} (score two folders) or {flag(DATASET_ARGS)} "
                          f"(sample and score a checkpoint); missing {flag(missing)}")
    return "folders"


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        device = parse_device(args.device)
        if args.out:
            check_writable(args.out, "--out", folder=True)
        if args.json:
            check_writable(args.json, "--json")
        if _mode(args) == "folders":
            report = evaluate_folders(
                args.pred, args.gt, metrics=args.metrics, weights_dir=args.weights_dir, size=parse_size(args.size),
                device=device, dtype=parse_dtype(args.dtype), batch_size=args.batch_size,
                progress=not args.no_progress,
            )
        else:
            from .dataset import evaluate_dataset

            report = evaluate_dataset(
                args.checkpoint, args.dataset, args.data_root, args.out, task=args.task, mode=args.mode,
                category=args.category, size=parse_size(args.size), steps=args.steps, guidance=args.guidance,
                seed=args.seed, scheduler=args.scheduler, mask_mode=args.mask_mode, repaint=args.repaint,
                limit=args.limit, metrics=args.metrics, weights_dir=args.weights_dir, device=device,
                dtype=parse_dtype(args.dtype), batch_size=args.batch_size, overwrite=args.overwrite,
                progress=not args.no_progress, model_options=part_options(args),
            )
    except TWGTMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(report["metrics"]))
    if "garment_mask_iou" in report:
        entry = report["garment_mask_iou"]
        value = f"{entry['value']:.4f} (n {entry['n']})" if entry.get("status") == "ok" else f"skipped: {entry['reason']}"
        print(f"\nVTOFF garment-mask IoU (predicted TFQ_0 >= 0.5 vs cloth mask, ↑): {value}")
    if args.json:
        write_json(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
