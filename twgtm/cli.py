"""Command line: `python -m twgtm <command>`. Each command is a function registered in COMMANDS."""
from __future__ import annotations

import argparse
import json
import logging
import sys

from .errors import TWGTMError

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
        from .model import build_model

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
