"""CLI: `python -m twgtm.data.toy --out DIR --n N --seed S [--size HxW] [--test-fraction F] [--workers W]`."""
from __future__ import annotations

import argparse
import json
import sys

from ...errors import TWGTMError
from .wardrobe import generate_toy_wardrobe


def parse_size(text: str) -> tuple[int, int]:
    """Parse "HxW" (e.g. 128x96) into (H, W)."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 128x96 (H x W); got {text!r}") from None
    return height, width


def main(argv=None) -> int:
    """Generate the toy wardrobe and print a one-line JSON summary."""
    parser = argparse.ArgumentParser(prog="python -m twgtm.data.toy", description=__doc__)
    parser.add_argument("--out", required=True, help="output folder (VITON-HD layout)")
    parser.add_argument("--n", type=int, default=1000, help="number of samples (train + test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=parse_size, default=(128, 96), help="H x W, default 128x96")
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=1, help="processes to render in (same files for any number)")
    args = parser.parse_args(argv)
    try:
        summary = generate_toy_wardrobe(args.out, args.n, args.seed, args.size, args.test_fraction, args.workers)
    except TWGTMError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
