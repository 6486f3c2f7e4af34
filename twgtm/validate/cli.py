"""The command line: every flag of `python -m twgtm` by its dest, checked before anything loads."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .paths import check_existing_path, check_image_path, check_writable
from .values import RULES, Choice, Number, Size, check_choice, check_device, check_prompt


# ----- the command line ---------------------------------------------------------------------------
# Input paths by flag dest: (what the file is, 'file' / 'folder' / 'any'); masks also take 'auto'.
CLI_PATHS = {
    "person": ("person", "file"), "garment": ("garment", "file"), "target": ("target", "file"),
    "model": ("model image", "file"), "mask": ("mask", "file"), "target_mask": ("target mask", "file"),
    "person_mask": ("person mask", "file"), "checkpoint": ("TWGTM checkpoint", "file"),
    "weights": ("weights", "file"), "tryoff_weights": ("try-off weights", "file"),
    "tryon_weights": ("try-on weights", "file"), "base": ("SD1.5-inpainting model", "any"),
    "clip": ("CLIP image encoder", "any"), "swin": ("Swin backbone", "any"), "vae": ("VAE", "any"),
    "parser": ("clothes parser", "folder"), "flux": ("FLUX.1-dev", "folder"), "transformer": ("transformer", "any"),
    "text_encoder": ("text encoder", "folder"), "tokenizer": ("tokenizer", "folder"),
    "text_encoder_2": ("text encoder 2", "folder"), "tokenizer_2": ("tokenizer 2", "folder"),
    "lora": ("LoRA", "file"),
}
MASK_PATHS = ("mask", "target_mask", "person_mask")  # these also take 'auto' (the clothes parser's mask)
# Flags whose value needs no check (switches), and the command / sub-command names argparse stores.
CLI_UNCHECKED = ("raw", "repaint", "json", "verbose", "t5_fp8", "transformer_fp8", "vae_tiling", "command", "a2a_task")
FOLDER_OUTPUT_COMMANDS = ("demo",)  # their --out is a folder; every other --out is an image file
PNG_OUTPUT_COMMANDS = ("tryon", "tryoff", "roundtrip")  # --out is written as PNG whatever its suffix


def _preset(name: str) -> str:
    from ..model.config import get_preset

    return get_preset(name).name


def _profile(name: str) -> str:
    from ..families.profiles import get_profile

    return get_profile(name).name


def _a2a_rules() -> dict:
    """Any2AnyTryon's own ranges (FLUX's distilled guidance, its target sides, T5's tokens)."""
    from ..families.a2a.layout import MAX_SIDE, MIN_SIDE

    return {"guidance": Number(0.0, 30.0, hint="FLUX.1-dev's distilled guidance, 3.5 as published"),
            "steps": Number(1, 1000, integer=True), "lora_scale": Number(-4.0, 4.0),
            "max_sequence_length": Number(1, 512, integer=True), "size": Size(MIN_SIDE, MAX_SIDE),
            "offload": Choice(("none", "model", "group"))}


def cli_rule(dest: str, a2a: bool = False) -> str | None:
    """How `check_cli_arguments` checks the flag with this dest ('path', 'rule', 'out', ...); None: not at all."""
    if dest in CLI_UNCHECKED:
        return "switch"
    if dest in ("out", "device", "prompt", "preset") or dest.endswith("profile"):
        return dest if not dest.endswith("profile") else "profile"
    if dest in CLI_PATHS:
        return "path"
    return "rule" if dest in RULES or (a2a and dest in _a2a_rules()) else None


def check_cli_arguments(args) -> None:
    """Check a parsed `python -m twgtm` command line before anything loads (one call from the CLI's main).

    Every flag's value: numbers finite and in range, names in their vocabulary, the device present,
    input paths present, the output writable (the error names the flag). Flags with no rule
    (`cli_rule` is None) pass; the CLI sweep test fails on them.
    """
    command = getattr(args, "command", None)
    a2a = getattr(args, "a2a_task", None) is not None
    rules = {**RULES, **(_a2a_rules() if a2a else {})}
    for dest, value in vars(args).items():
        flag, kind = "--" + dest.replace("_", "-"), cli_rule(dest, a2a)
        if value is None or kind in (None, "switch"):
            continue
        if kind == "out":
            if not str(value).strip():
                raise InputError(f"{flag} is empty; give the output {'folder' if command == 'demo' else 'file'}")
            if command in FOLDER_OUTPUT_COMMANDS:
                check_writable(value, flag, folder=True)
            elif command in PNG_OUTPUT_COMMANDS:  # written as PNG: the suffix is replaced
                check_writable(Path(value).with_suffix(".png"), flag)
            else:
                check_image_path(value, flag)
        elif kind == "path" and not (dest in MASK_PATHS and str(value).strip().lower() == "auto"):
            check_existing_path(value, flag, *CLI_PATHS[dest])
        elif kind == "device":
            check_device(value, flag)
        elif kind == "prompt":
            check_prompt(value, flag)
        elif kind == "profile":
            check_choice(value, (), flag, _profile)
        elif kind == "preset":
            check_choice(value, (), flag, _preset)
        elif kind == "rule":
            rules[dest].check(value, flag)
