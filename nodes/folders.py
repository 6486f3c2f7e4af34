"""The pack's model folder `models/twgtm/` in ComfyUI's folder_paths.

TWGTM weights are `.safetensors` files in `models/twgtm/` (and in any `twgtm:` entry of an
extra_model_paths.yaml). Weights shipped inside the pack, in `<pack>/weights/`, are found too. The
public projects' files (CatVTON, TryOffAnyone) go there as well, in subfolders of their own; clothes
parsers are folders in `models/twgtm/parsers/<name>/` (not listed as weights).

A loader node finds its files with `loader_paths`: a file that is not there is named together with every other
file that node (and each other loader of the prompt) lacks, with the model registry's `models fetch` command.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Callable

import folder_paths

from ..twgtm.errors import CheckpointError, TWGTMError
from ..twgtm.paths import PACK_ROOT, WEIGHTS_DIR
from ..twgtm.weights.missing import MissingFile, describe
from ..twgtm.weights.registry import REGISTRY, entry_for, fetch_command, licence_note, quote_command

logger = logging.getLogger("twgtm")

TWGTM_FOLDER = "twgtm"
PARSER_SUBFOLDER = "parsers"
PARSERS = "twgtm/parsers"  # loader_paths' folder for a parser: a folder in models/twgtm/parsers/
WEIGHT_EXTENSIONS = {".safetensors"}
PACK_WEIGHTS_DIR = str(WEIGHTS_DIR)

__all__ = ["TWGTM_FOLDER", "PARSER_SUBFOLDER", "PARSERS", "WEIGHT_EXTENSIONS", "register_model_folders", "list_weights",
           "loader_files", "loader_paths", "parser_folders", "list_parsers", "parser_path"]


def register_model_folders() -> list[str]:
    """Register `models/twgtm/` (first) and `<pack>/weights/` (if present); return the search paths."""
    folder_paths.add_model_folder_path(TWGTM_FOLDER, os.path.join(folder_paths.models_dir, TWGTM_FOLDER), is_default=True)
    if os.path.isdir(PACK_WEIGHTS_DIR):
        folder_paths.add_model_folder_path(TWGTM_FOLDER, PACK_WEIGHTS_DIR)
    _paths, extensions = folder_paths.folder_names_and_paths[TWGTM_FOLDER]
    extensions.clear()  # an extra_model_paths.yaml entry creates the folder with "any extension"
    extensions.update(WEIGHT_EXTENSIONS)
    folder_paths.filename_list_cache.pop(TWGTM_FOLDER, None)
    paths = folder_paths.get_folder_paths(TWGTM_FOLDER)
    logger.debug("twgtm model folders: %s", paths)
    return paths


def list_weights() -> list[str]:
    """Names of the `.safetensors` files in the twgtm model folders (for a combo input), parsers left out."""
    prefix = PARSER_SUBFOLDER + "/"
    return [name for name in folder_paths.get_filename_list(TWGTM_FOLDER) if not name.replace(os.sep, "/").startswith(prefix)]


def parser_folders() -> list[str]:
    """The `parsers/` folder of each twgtm model folder (where clothes parsers go)."""
    return [os.path.join(path, PARSER_SUBFOLDER) for path in folder_paths.get_folder_paths(TWGTM_FOLDER)]


def list_parsers() -> list[str]:
    """Names of the clothes-parser folders (those holding a config.json) in models/twgtm/parsers/."""
    names = set()
    for root in parser_folders():
        if os.path.isdir(root):
            names.update(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "config.json")))
    return sorted(names)


def parser_path(name: str) -> str | None:
    """Full path of a parser folder in models/twgtm/parsers/ (None when there is none of that name)."""
    for root in parser_folders():
        path = os.path.join(root, name or "")
        if name and os.path.isdir(path):
            return path
    return None


def _find(folder: str, name: str) -> str | None:
    """Full path of `name` in ComfyUI model folder `folder` (PARSERS: a parser folder), or None."""
    if not name:
        return None
    return parser_path(name) if folder == PARSERS else folder_paths.get_full_path(folder, name)


def _searched(folder: str) -> str:
    """The folders a name is looked for in, for the message."""
    return ", ".join(p + os.sep for p in (parser_folders() if folder == PARSERS else folder_paths.get_folder_paths(folder)))


# A loader's model-file inputs: (input name, ComfyUI folder or PARSERS, the chosen name, the registry entry that
# supplies that input), computed from the node's input values.
FileInput = tuple[str, str, str, str]
LOADERS: dict[str, tuple[str, Callable[[dict], list[FileInput]]]] = {}  # node id -> (display name, its FileInputs)


def loader_files(node_id: str, display_name: str):
    """Register `fn(input values) -> [FileInput]` of a loader node, so that any loader names what others lack."""
    def register(fn):
        LOADERS[node_id] = (display_name, fn)
        return fn
    return register


def _lookup(inputs: list[FileInput]) -> tuple[dict[str, str], list[MissingFile], list[str]]:
    """(found paths, missing files, 'choose X in input' notes) of a loader's inputs."""
    found, missing, choose = {}, [], []
    for input_name, folder, name, default in inputs:
        path = _find(folder, name)
        if path is not None:
            found[input_name] = path
            continue
        entry = entry_for(TWGTM_FOLDER if folder == PARSERS else folder, name) or REGISTRY[default]
        if entry.on_hub and entry.comfy_name != name:  # the user's own name: fetching gets the registry's file
            choose.append(f"'{entry.comfy_name}' in input '{input_name}'")
        missing.append(MissingFile(f"input '{input_name}'", entry, name or None, _searched(folder)))
    return found, missing, choose


def _others(prompt, unique_id) -> list[tuple[str, list[MissingFile], list[str]]]:
    """What the other loader nodes of the prompt lack (their inputs that are plain values, not links)."""
    lacking = []
    for key, node in (prompt or {}).items():
        if str(key) == str(unique_id) or node.get("class_type") not in LOADERS:
            continue
        title, files = LOADERS[node["class_type"]]
        values = {k: v for k, v in node.get("inputs", {}).items() if not isinstance(v, list)}
        try:
            _, missing, choose = _lookup(files(values))
        except (KeyError, TypeError, TWGTMError):  # a linked or odd input: that node reports for itself
            continue
        if missing:
            lacking.append((f"{title} (node {key})", missing, choose))
    return lacking


def loader_paths(node_id: str, values: dict, prompt: dict | None = None, unique_id=None) -> dict[str, str]:
    """Full paths of a loader's model files, by input name; else one CheckpointError for every file it lacks (and
    every file the prompt's other loaders lack) with the command that fetches them all."""
    title, files = LOADERS[node_id]
    found, missing, choose = _lookup(files(values))
    if not missing:
        return found
    lines = [f"{title}: {describe(missing)}"]
    others = _others(prompt, unique_id)
    for title, their_missing, their_choose in others:
        lines.append(f"{title} lacks too: " + "; ".join(m.line().strip(" -") for m in their_missing))
        missing, choose = missing + their_missing, choose + their_choose
    entries = list(dict.fromkeys(m.entry for m in missing if m.entry.on_hub))
    if entries:
        command = fetch_command(entries, comfyui=os.path.dirname(folder_paths.models_dir), python=sys.executable)
        lines.append(f"Fetch {'them all' if len(entries) > 1 else 'it'} in a terminal, then press 'r' in ComfyUI to "
                     f"refresh the lists:\n  cd {quote_command([str(PACK_ROOT)])} && {command}")
        if choose:
            lines.append("then choose " + ", ".join(choose))
        note = licence_note(entries)
        if note:
            lines.append(f"(--accept-licence: read the licences first: {note})")
    lines += [f"{m.label}: {m.entry.how}" for m in missing if not m.entry.on_hub]
    raise CheckpointError("\n".join(lines))
