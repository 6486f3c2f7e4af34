"""`python -m twgtm models list|fetch`: the model files the pack knows, where they go, and getting them."""
from __future__ import annotations

import argparse
import json

from ..errors import ConfigError
from .registry import ENTRIES, get_entry, readme_table


def _where(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--comfyui", metavar="DIR", help="a ComfyUI folder: files go in DIR/models/<folder>/ (default: the "
                       "ComfyUI this pack is installed in, when it is in ComfyUI/custom_nodes/)")
    where.add_argument("--dest", metavar="DIR", help="a plain folder instead: every file keeps its path below its model "
                       "folder (e.g. DIR/catvton/mix-48k-1024/attention/model.safetensors); for metric networks, the "
                       "folder `python -m twgtm.eval --weights-dir` reads")


def _locations(args) -> dict:
    """The --comfyui / --dest of the command, with the ComfyUI the pack sits in as the default."""
    from .model_files import comfyui_of_pack

    if args.dest is None and args.comfyui is None:
        return {"comfyui": comfyui_of_pack(), "dest": None}
    return {"comfyui": args.comfyui, "dest": args.dest}


def _list(args) -> int:
    from .model_files import entry_root, entry_status, summary

    if args.markdown:
        print(readme_table(metrics=True), end="")
        return 0
    where = _locations(args)
    rows = []
    for entry in ENTRIES:
        try:
            root = entry_root(entry, **where)
        except ConfigError:
            root = None  # a metric network under --comfyui: not a ComfyUI file
        statuses = entry_status(entry, root, check_hash=not args.quick)
        rows.append({"name": entry.name, "title": entry.title, "group": entry.group, "folder": entry.location,
                     "files": [f.local for f in entry.files], "repos": list(entry.repos), "revision": entry.revision,
                     "size": entry.size, "sha256": [f.sha256 for f in entry.files], "licence": entry.licence,
                     "accept_licence": entry.accept, "gated": entry.gated, "root": None if root is None else str(root),
                     "present": summary(statuses),
                     "files_present": {str(s.path): f"{s.state} {s.detail}".strip() for s in statuses}})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<27} {'size':>9}  {'gated':<5} {'present':<10} {'folder':<48} licence")
    for row in rows:
        size = "" if row["size"] is None else f"{row['size'] / 1e9:.2f} GB"
        print(f"{row['name']:<27} {size:>9}  {'yes' if row['gated'] else 'no':<5} {row['present']:<10} "
              f"{row['folder']:<48} {row['licence']}")
        for path, state in row["files_present"].items():
            if not state.startswith("ok"):
                print(f"{'':<27} {path}: {state}")
    if not any(where.values()):
        print("\n(presence not checked: give --comfyui DIR or --dest DIR)")
    return 0


def _fetch(args) -> int:
    from .fetch import check_licences, fetch_entry
    from .model_files import entry_root

    entries = list(dict.fromkeys(get_entry(name) for name in args.names))
    where = _locations(args)
    if not any(where.values()):
        raise ConfigError("say where the files go: --comfyui DIR (a ComfyUI folder) or --dest DIR (a plain folder)")
    for entry in entries:
        licence = f"{entry.licence} ({entry.licence_url})" if entry.licence_url else entry.licence
        print(f"{entry.name}: {entry.title}; licence: {licence}" + ("; gated on the hub" if entry.gated else ""))
    check_licences(entries, args.accept_licence)
    for entry in entries:
        for done in fetch_entry(entry, entry_root(entry, **where), revision=args.revision,
                                accept_licence=args.accept_licence, convert=args.convert):
            source = f" from {done.repo}" if done.repo else ""
            print(f"{done.action}{source}: {done.path}")
    return 0


def build_parser(parser: argparse.ArgumentParser):
    """Add `list` and `fetch`; return the runner."""
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", help="every model file the pack knows, where it goes and whether it is there",
                             description="Every model the pack knows: its files, folder, size, licence, whether the "
                             "hub gates it, and (with --comfyui or --dest) whether it is present, checked by size "
                             "and sha256 where published.")
    _where(listing)
    listing.add_argument("--quick", action="store_true", help="check sizes only, not sha256 (hashing reads every byte)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--markdown", action="store_true", help="print the Markdown table of the README and docs")
    fetch = sub.add_parser("fetch", help="download model files from the Hugging Face hub (explicit; never at run time)",
                           description="Download model files from the Hugging Face hub into their folders. HF_ENDPOINT "
                           "(a mirror) and HF_TOKEN (gated files) are honoured; an interrupted download resumes; every "
                           "file is checked (size, sha256) and renamed into place only when whole.")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="model names from `python -m twgtm models list`")
    _where(fetch)
    fetch.add_argument("--revision", help="a branch, tag or commit of the repository (default: the registry's, main)")
    fetch.add_argument("--accept-licence", action="store_true",
                       help="accept the non-commercial or restrictive licences of the files (printed first)")
    fetch.add_argument("--convert", action="store_true", help="a file published only as a pickle (.bin): read it "
                       "with torch.load(weights_only=True) and write .safetensors (otherwise refused)")

    def run(args) -> int:
        return _list(args) if args.models_command == "list" else _fetch(args)

    return run
