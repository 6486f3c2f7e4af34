"""Adaptive position ids: FLUX RoPE ids `(index, y, x)` per canvas part, in token units (16 px).

Target: `(0, y, x)`. Try-on / layered: model image `(1, y, x)` (x restarts at 0: pixel-aligned
with the target), garment `(2, y, Wt + x)`. One condition (model-free: the garment;
reconstruction: the model image): `(1, y, Wt + x)`. Text ids are zero. Only the ids matter, not
the order of the tokens, so any token order works as long as each token keeps its id.
"""
from __future__ import annotations

import torch

from ...errors import InputError
from .tasks import Task

Grid = tuple[int, int]  # (rows, columns) of tokens


def part_ids(index: int, grid: Grid, x_offset: int = 0, device=None) -> torch.Tensor:
    """Ids of one part, row-major: (h*w, 3) float32 with axis 0 = index, 1 = y, 2 = x + x_offset."""
    rows, cols = grid
    ids = torch.zeros(rows, cols, 3, dtype=torch.float32, device=device)  # (h, w, 3)
    ids[..., 0] = float(index)
    ids[..., 1] = torch.arange(rows, dtype=torch.float32, device=device)[:, None]
    ids[..., 2] = torch.arange(cols, dtype=torch.float32, device=device)[None, :] + x_offset
    return ids.reshape(rows * cols, 3)  # (h*w, 3)


def condition_offsets(task: Task, target: Grid, conditions: list[Grid]) -> list[tuple[int, int]]:
    """(index, x offset) of each condition part of `task`, in canvas order."""
    if len(conditions) != len(task.conditions):
        raise InputError(f"task {task.name!r} takes {len(task.conditions)} condition part(s) "
                         f"({', '.join(task.conditions)}), got {len(conditions)}")
    target_cols = target[1]
    if not task.aligned:
        return [(1, target_cols)]
    if conditions[0] != target:
        raise InputError(f"task {task.name!r}: the model image must have the target's token grid {target} "
                         f"(it is letterboxed to the target size), got {conditions[0]}")
    return [(1, 0), (2, target_cols)]


def canvas_ids(task: Task, target: Grid, conditions: list[Grid], device=None) -> torch.Tensor:
    """Ids of target then conditions, each part row-major: (N, 3) float32."""
    offsets = condition_offsets(task, target, conditions)
    parts = [part_ids(0, target, 0, device)]
    parts += [part_ids(index, grid, x_off, device) for (index, x_off), grid in zip(offsets, conditions)]
    return torch.cat(parts, dim=0)  # (N, 3)


def text_ids(length: int, device=None) -> torch.Tensor:
    """Text token ids: all zero, (length, 3)."""
    return torch.zeros(length, 3, dtype=torch.float32, device=device)


def grids_from_index_ids(img_ids: torch.Tensor) -> tuple[list[Grid], list[slice]]:
    """Read the part grids from ids laid out as ComfyUI's "index" reference method does.

    `img_ids` (N, 3): the target with index 0, then reference k with index k, each part row-major
    with y and x from 0. Returns each part's (rows, cols) and its token slice, in order.
    """
    index = img_ids[:, 0]
    grids, slices, start = [], [], 0
    n = img_ids.shape[0]
    part = 0
    while start < n:
        stop = start
        while stop < n and index[stop] == index[start]:
            stop += 1
        block = img_ids[start:stop]
        if int(round(float(index[start]))) != part:
            raise InputError(f"position ids: part {part} expected index {part}, found {float(index[start])}; "
                             "the reference latents must use the 'index' method (one index per reference, in order)")
        rows = int(round(float(block[:, 1].max() - block[:, 1].min()))) + 1
        cols = int(round(float(block[:, 2].max() - block[:, 2].min()))) + 1
        if rows * cols != stop - start:
            raise InputError(f"position ids: part {part} has {stop - start} tokens, not a {rows}x{cols} grid")
        grids.append((rows, cols))
        slices.append(slice(start, stop))
        start, part = stop, part + 1
    return grids, slices


def rewrite_index_ids(img_ids: torch.Tensor, task: Task) -> torch.Tensor:
    """ComfyUI "index"-method ids (B, N, 3) -> the task's adaptive ids (B, N, 3), same token order."""
    grids, _ = grids_from_index_ids(img_ids[0])
    if len(grids) - 1 != len(task.conditions):
        raise InputError(
            f"Any2AnyTryon {task.name}: the model got {len(grids) - 1} reference latent(s) but the task takes "
            f"{len(task.conditions)} ({', '.join(task.conditions)}); build the conditioning with the "
            "'Any2AnyTryon Conditioning' node and add no other ReferenceLatent after it")
    ids = canvas_ids(task, grids[0], grids[1:], device=img_ids.device).to(img_ids.dtype)  # (N, 3)
    return ids[None].expand(img_ids.shape[0], -1, -1)  # (B, N, 3)
