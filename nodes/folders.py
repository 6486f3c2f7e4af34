"""The pack's model folder `models/twgtm/` in ComfyUI's folder_paths.

TWGTM weights are `.safetensors` files in `models/twgtm/` (and in any `twgtm:` entry of an
extra_model_paths.yaml). Weights shipped inside the pack, in `<pack>/weights/`, are found too. The
public projects' files (CatVTON, TryOffAnyone) go there as well, in subfolders of their own; clothes
parsers are folders in `models/twgtm/parsers/<name>/` (not listed as weights).
"""
from __future__ import annotations

import logging
import os

import folder_paths

from ..twgtm.errors import CheckpointError
from ..twgtm.paths import WEIGHTS_DIR

logger = logging.getLogger("twgtm")

TWGTM_FOLDER = "twgtm"
PARSER_SUBFOLDER = "parsers"
WEIGHT_EXTENSIONS = {".safetensors"}
PACK_WEIGHTS_DIR = str(WEIGHTS_DIR)

__all__ = ["TWGTM_FOLDER", "PARSER_SUBFOLDER", "WEIGHT_EXTENSIONS", "register_model_folders", "list_weights", "model_file",
           "weights_path", "parser_folders", "list_parsers", "parser_path"]


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


def parser_path(name: str) -> str:
    """Full path of a parser folder; CheckpointError says where to put one when it is not there."""
    for root in parser_folders():
        path = os.path.join(root, name or "")
        if name and os.path.isdir(path):
            return path
    raise CheckpointError(
        f"input 'parser_name': clothes parser '{name}' not found. Put a transformers SegFormer clothes parser "
        "folder (config.json, model.safetensors, preprocessor_config.json, e.g. sayeed99/segformer_b3_clothes) in one of: "
        f"{', '.join(parser_folders())}, then press 'r' in ComfyUI to refresh."
    )


def model_file(folder: str, name: str, what: str = "weights") -> str:
    """Full path of file `name` in one of ComfyUI's model folders; CheckpointError names the folders searched."""
    path = folder_paths.get_full_path(folder, name)
    if path is None:
        raise CheckpointError(
            f"{what} '{name}' not found. Put the .safetensors file in one of: "
            f"{', '.join(folder_paths.get_folder_paths(folder))}, then press 'r' in ComfyUI to refresh."
        )
    return path


def weights_path(name: str) -> str:
    """Full path of a weights file in the twgtm model folders; CheckpointError names the folders."""
    return model_file(TWGTM_FOLDER, name, "TWGTM weights")
