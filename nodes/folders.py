"""The pack's model folder `models/twgtm/` in ComfyUI's folder_paths.

TWGTM weights are `.safetensors` files in `models/twgtm/` (and in any `twgtm:` entry of an
extra_model_paths.yaml). Weights shipped inside the pack, in `<pack>/weights/`, are found too.
"""
from __future__ import annotations

import logging
import os

import folder_paths

from ..twgtm.errors import CheckpointError
from ..twgtm.paths import WEIGHTS_DIR

logger = logging.getLogger("twgtm")

TWGTM_FOLDER = "twgtm"
WEIGHT_EXTENSIONS = {".safetensors"}
PACK_WEIGHTS_DIR = str(WEIGHTS_DIR)

__all__ = ["TWGTM_FOLDER", "WEIGHT_EXTENSIONS", "register_model_folders", "list_weights", "model_file", "weights_path"]


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
    """Names of the `.safetensors` files in the twgtm model folders (for a combo input)."""
    return folder_paths.get_filename_list(TWGTM_FOLDER)


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
