"""The command line: every flag of `python -m twgtm` by its dest, checked before anything loads."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .paths import check_existing_path, check_image_path, check_writable
from .values import RULES, Choice, Number, Size, a2a_rules, check_choice, check_device, check_prompt, check_text


# ----- the command line ---------------------------------------------------------------------------
# Input paths by flag dest: (what the file is, 'file' / 'folder' / 'any'); masks also take 'auto'.
CLI_PATHS = {
    "person": ("person", "file"), "garment": ("garment", "file"), "person_a": ("person A", "file"),
    "person_b": ("person B", "file"), "mask": ("mask", "file"), "mask_a": ("mask of person A", "file"),
    "mask_b": ("mask of person B", "file"), "checkpoint": ("TWGTM checkpoint", "file"),
    "weights": ("weights", "file"), "tryoff_weights": ("try-off weights", "file"),
    "tryon_weights": ("try-on weights", "file"), "base": ("SD1.5-inpainting model", "any"),
    "clip": ("CLIP image encoder", "any"), "swin": ("Swin backbone", "any"), "vae": ("VAE", "any"),
    "parser": ("clothes parser", "folder"), "flux": ("FLUX.1-dev", "folder"), "transformer": ("transformer", "any"),
    "text_encoder": ("text encoder", "folder"), "tokenizer": ("tokenizer", "folder"),
    "text_encoder_2": ("text encoder 2", "folder"), "tokenizer_2": ("tokenizer 2", "folder"),
    "lora": ("LoRA", "file"), "comfyui": ("ComfyUI", "folder"), "job": ("manifest", "file"),
    "persons": ("persons", "folder"), "garments": ("garments", "folder"), "targets": ("persons to dress", "folder"),
    "masks": ("masks", "folder"), "pairs_file": ("pairs file", "file"),
}
MASK_PATHS = ("mask", "mask_a", "mask_b")  # these also take 'auto' (the clothes parser's mask)
# Model files the sampling commands and the demo look up themselves (twgtm.cli._check_files): a missing one is
# listed with every other missing file and the `models fetch` command that gets them, so here only a path that
# exists is checked (a file where a file belongs). Any2AnyTryon's files are checked here in full.
MODEL_FILES = ("checkpoint", "weights", "tryoff_weights", "tryon_weights", "base", "vae", "clip", "swin", "parser")
# Flags whose value needs no check (switches), and the command / sub-command names argparse stores
# (`models fetch` NAMEs are the registry's to check).
CLI_UNCHECKED = ("raw", "repaint", "json", "verbose", "t5_fp8", "transformer_fp8", "vae_tiling", "quick", "markdown",
                 "accept_licence", "convert", "dry_run", "no_progress", "command", "a2a_task", "models_command",
                 "names")
FOLDER_OUTPUT_COMMANDS = ("demo", "models", "batch")  # their --out / --dest is a folder; every other --out an image
PNG_OUTPUT_COMMANDS = ("tryon", "tryoff", "roundtrip")  # --out is written as PNG whatever its suffix
TEXT_FLAGS = ("revision",)  # free text (a branch, tag or commit)
POSITIONALS = ("job",)  # named as the usage line names them (JOB), not as a flag


def _preset(name: str) -> str:
    from ..model.config import get_preset

    return get_preset(name).name


def _profile(name: str) -> str:
    from ..families.profiles import get_profile

    return get_profile(name).name


# Flags of the command lines alone: Any2AnyTryon's loading options, the batch job's.
CLI_RULES = {"lora_scale": Number(-4.0, 4.0), "max_sequence_length": Number(1, 512, integer=True),
             "offload": Choice(("none", "model", "group")), "batch_size": Number(1, 4096, integer=True)}


def _a2a_rules() -> dict:
    """Any2AnyTryon's ranges: its pipeline's rules (twgtm.validate.a2a_rules) and the target sides it was trained for."""
    from ..families.a2a.layout import MAX_SIDE, MIN_SIDE

    return {**a2a_rules(), "size": Size(MIN_SIDE, MAX_SIDE)}


def _task(args, flag: str) -> None:
    """A batch job's --task: one of its family's tasks."""
    from ..batch.manifest import TASKS

    family = getattr(args, "family", None) or "twgtm"
    check_choice(args.task, tuple(TASKS.get(family, ())), f"{flag} (family {family})")


def cli_rule(dest: str, a2a: bool = False) -> str | None:
    """How `check_cli_arguments` checks the flag with this dest ('path', 'rule', 'out', ...); None: not at all."""
    if dest in CLI_UNCHECKED:
        return "switch"
    if dest in ("out", "dest"):
        return "out"
    if dest in ("device", "prompt", "preset") or dest.endswith("profile"):
        return dest if not dest.endswith("profile") else "profile"
    if dest in TEXT_FLAGS:
        return "text"
    if dest == "task":
        return "task"
    if dest in MODEL_FILES and not a2a:
        return "model file"
    if dest in CLI_PATHS:
        return "path"
    return "rule" if dest in RULES or dest in CLI_RULES else None


def check_cli_arguments(args) -> None:
    """Check a parsed `python -m twgtm` command line before anything loads (one call from the CLI's main).

    Every flag's value: numbers finite and in range, names in their vocabulary, the device present,
    input paths present (model files: see MODEL_FILES), the output writable (the error names the flag).
    Flags with no rule (`cli_rule` is None) pass; the CLI sweep test fails on them.
    """
    command = getattr(args, "command", None)
    a2a = getattr(args, "a2a_task", None) is not None or getattr(args, "family", None) == "a2a"
    rules = {**RULES, **CLI_RULES, **(_a2a_rules() if a2a else {})}
    for dest, value in vars(args).items():
        flag = dest.upper() if dest in POSITIONALS else "--" + dest.replace("_", "-")
        kind = cli_rule(dest, a2a)
        if value is None or kind in (None, "switch"):
            continue
        if kind == "out":
            if not str(value).strip():
                raise InputError(f"{flag} is empty; give the output "
                                 f"{'folder' if command in FOLDER_OUTPUT_COMMANDS else 'file'}")
            if command in FOLDER_OUTPUT_COMMANDS:
                check_writable(value, flag, folder=True)
            elif command in PNG_OUTPUT_COMMANDS:  # written as PNG: the suffix is replaced
                check_writable(Path(value).with_suffix(".png"), flag)
            else:
                check_image_path(value, flag)
        elif kind == "path" and not (dest in MASK_PATHS and str(value).strip().lower() == "auto"):
            check_existing_path(value, flag, *CLI_PATHS[dest])
        elif kind == "model file":
            check_existing_path(value, flag, *CLI_PATHS[dest], missing_ok=True)
        elif kind == "device":
            check_device(value, flag)
        elif kind == "prompt":
            check_prompt(value, flag)
        elif kind == "text":
            if not str(value).strip():
                raise InputError(f"{flag} is empty; give its value or leave the flag out")
            check_text(value, flag)
        elif kind == "task":
            _task(args, flag)
        elif kind == "profile":
            check_choice(value, (), flag, _profile)
        elif kind == "preset":
            check_choice(value, (), flag, _preset)
        elif kind == "rule":
            rules[dest].check(value, flag)
