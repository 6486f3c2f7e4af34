"""Command line: ``python -m twgtm.eval --pred DIR --gt DIR [--metrics ...] [--json OUT]``."""
from __future__ import annotations

import argparse
import logging
import sys

import torch

from ..errors import TWGTMError
from ..metrics.suite import DEFAULT_METRICS, METRICS
from . import evaluate_folders, markdown_table, parse_size, write_json

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m twgtm.eval``."""
    metric_help = "; ".join(f"{name}: {spec.description}" for name, spec in METRICS.items())
    parser = argparse.ArgumentParser(
        prog="python -m twgtm.eval",
        description="Compare a folder of predictions with a folder of ground truths (paired by file name, "
                    "extension ignored); print a markdown table and optionally write JSON.",
        epilog="Resizing: as the papers (CatVTON, TryOffDiff, TWGTM), metrics are computed at the dataset's "
               "resolution: without --size every prediction is resized (bicubic) to its ground truth's size; "
               "pass --size 1024x768 (VITON-HD / DressCode) or 512x384 to resize both. Weights folder names: "
               "see `python -c 'import twgtm.metrics; help(twgtm.metrics)'`; metrics without weights are skipped.",
    )
    parser.add_argument("--pred", required=True, help="folder of predicted images")
    parser.add_argument("--gt", required=True, help="folder of ground-truth images")
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                        help=f"comma-separated list (default: %(default)s). Available: {metric_help}")
    parser.add_argument("--weights-dir", help="folder with the metric weights (fixed file names)")
    parser.add_argument("--size", help="HxW evaluation size for both folders, e.g. 1024x768")
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument("--dtype", default="float32", choices=sorted(_DTYPES), help="network dtype")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        report = evaluate_folders(
            args.pred, args.gt, metrics=args.metrics, weights_dir=args.weights_dir, size=parse_size(args.size),
            device=args.device, dtype=_DTYPES[args.dtype], batch_size=args.batch_size, progress=not args.no_progress,
        )
    except TWGTMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(report["metrics"]))
    if args.json:
        write_json(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
