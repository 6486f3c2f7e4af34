"""`python -m training.run --config training/configs/NAME.yaml [key=value ...]`: train TWGTM.

Overrides are dotted keys parsed as YAML values, e.g.
    python -m training.run --config training/configs/demo.yaml data.root=data/toy train.max_steps=2 output_dir=/tmp/run
Several GPUs or machines: `accelerate launch -m training.run --config ...`; two processes on a CPU:
`ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 -m training.run --config ...` (see the README).
"""
from __future__ import annotations

import argparse
import logging
import sys

from twgtm.errors import TWGTMError


def build_parser() -> argparse.ArgumentParser:
    """The command line: --config, overrides, --no-progress (flags anywhere among the overrides)."""
    parser = argparse.ArgumentParser(prog="python -m training.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config (training/configs/demo.yaml, vitonhd.yaml, dresscode.yaml)")
    parser.add_argument("overrides", nargs="*", help="key.subkey=value overrides")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    return parser


def main(argv=None) -> int:
    """Load the config, train, print the exported model's path; 2 on a TWGTM error."""
    args = build_parser().parse_intermixed_args(argv)  # `a=1 --no-progress b=2` as well as flags first
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # its per-file save / load lines
    from .config import load_config
    from .trainer import Trainer

    try:
        config = load_config(args.config, args.overrides)
        trainer = Trainer(config, show_progress=not args.no_progress)
        path = trainer.run()
    except TWGTMError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if trainer.accelerator.is_main_process:
        print(f"trained model: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
