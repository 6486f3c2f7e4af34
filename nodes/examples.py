"""The workflows' example images on a fresh install: copied into ComfyUI's input folder when the pack loads.

The shipped workflows (workflows/*.json, also ComfyUI's template browser) load their images with
core's LoadImage, which lists only ComfyUI's input folder. So when the pack loads, every image in
workflows/examples/ that the input folder lacks is copied there under its own name, with one log
line. A file of that name already there is never overwritten: if its bytes differ, a warning says
so (the workflow then loads that file).
"""
from __future__ import annotations

import filecmp
import logging
import shutil
from pathlib import Path

import folder_paths

from ..twgtm.paths import PACK_ROOT

logger = logging.getLogger("twgtm")

EXAMPLES_DIR = PACK_ROOT / "workflows" / "examples"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}

__all__ = ["EXAMPLES_DIR", "install_examples"]


def install_examples(input_dir: str | Path | None = None) -> list[str]:
    """Copy the example images missing from `input_dir` (default: ComfyUI's input folder); return the names copied."""
    target = Path(input_dir or folder_paths.get_input_directory())
    if not EXAMPLES_DIR.is_dir():
        return []
    copied, differing = [], []
    for source in sorted(EXAMPLES_DIR.iterdir()):
        if source.suffix.lower() not in IMAGE_SUFFIXES or not source.is_file():
            continue
        destination = target / source.name
        if destination.exists():
            if not filecmp.cmp(source, destination, shallow=False):
                differing.append(source.name)
            continue
        try:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        except OSError as exc:
            logger.warning("TWGTM: could not copy the example image %s to %s (%s); upload it from %s to run the "
                           "shipped workflows", source.name, target, exc, EXAMPLES_DIR)
            continue
        copied.append(source.name)
    if copied:
        logger.info("TWGTM: copied %d example image(s) for the shipped workflows to %s: %s", len(copied), target,
                    ", ".join(copied))
    if differing:
        logger.warning("TWGTM: %s in %s differ from the pack's example images and were kept; the shipped workflows "
                       "will load them", ", ".join(differing), target)
    return copied
