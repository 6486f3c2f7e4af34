"""Batches of a job: a function of the items alone, never of a process (seeds: `manifest.id_seed`).

- Batches: the items of one task, one set of sampling settings, the same image sizes (so the same
  working size) and the same optional masks are grouped in manifest order and cut into batches of
  `--batch-size`. Batches are formed from every item of the job, done or not, and a batch runs whole
  whenever one of its items is still to write (only those are written): the bits of an image depend,
  slightly, on which items share its batch, so this is what lets 1 and N processes, and a run resumed
  after a kill, write byte-identical files.
- Processes take whole batches (accelerate's `split_between_processes` over the batch list).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .manifest import Failure, Item, RowError, Settings

def image_size(path, what: str) -> tuple[int, int]:
    """(H, W) of an image file from its header (nothing decoded); RowError when missing or unreadable."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise RowError(f"{what} file {'is a folder' if path.is_dir() else 'not found'}: {path}")
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as err:
        raise RowError(f"{what} file {path} is not a readable image ({err}); give a PNG or JPEG") from None
    if width < 1 or height < 1:
        raise RowError(f"{what} file {path} holds an empty {width}x{height} image")
    return height, width


@dataclass
class Batch:
    """Items that run as one call: one task, one set of settings, one set of image sizes."""

    index: int  # position in the job's batch list
    task: str
    settings: Settings
    sizes: tuple  # ((role, (H, W)), ...) of the input images
    items: list[Item]

    @property
    def ids(self) -> list[str]:
        """The ids of the batch's items."""
        return [item.id for item in self.items]


def _check(item: Item, model_tasks: tuple[str, ...], model_name: str) -> tuple:
    """The item's batch key (sizes and which masks it has); RowError when it cannot run with this model."""
    if item.task not in model_tasks:
        raise RowError(f"task {item.task} is not one {model_name} does (it does {', '.join(model_tasks)}); "
                       "give this row to a job with a model that does it")
    sizes = tuple((role, image_size(path, role)) for role, path in sorted(item.images.items()))
    for role, path in item.masks.items():
        if path != "auto":
            image_size(path, role.replace("_", " "))
    return item.task, item.settings, sizes, tuple(sorted(item.masks))


def plan_batches(items: list[Item], batch_size: int, model_tasks: tuple[str, ...], model_name: str,
                 outputs_of: Callable[[Item], list[Path]]) -> tuple[list[Batch], list[Failure]]:
    """Batches of at most `batch_size` items in manifest order, and a Failure for each item that cannot run.

    An item fails here when its task is not the model's, an image or mask file is missing or unreadable
    (header only; the pixels are read when its batch runs), or one of its output files is another item's.
    """
    groups: dict[tuple, list[Item]] = {}
    failures, claimed = [], {}
    for item in items:
        try:
            key = _check(item, model_tasks, model_name)
            clash = next((claimed[p] for p in outputs_of(item) if p in claimed), None)
            if clash is not None:
                raise RowError(f"its output files would overwrite item {clash!r}'s (the same name): rename one id")
        except RowError as err:
            failures.append(Failure(item.id, item.task, item.row, str(err)))
            continue
        claimed.update({path: item.id for path in outputs_of(item)})
        groups.setdefault(key, []).append(item)
    batches = []
    for (task, settings, sizes, _), members in groups.items():
        for start in range(0, len(members), batch_size):
            batches.append(Batch(len(batches), task, settings, sizes, members[start:start + batch_size]))
    return batches, failures
