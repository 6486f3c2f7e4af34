"""What the checkpoint evaluations share: the model's pipeline, batching a data set, per-item seeds."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ..errors import ConfigError

log = logging.getLogger("twgtm")


def load_for_eval(checkpoint: str | Path | None, device="cpu", dtype=torch.float32, model_options: dict | None = None):
    """The pipeline `twgtm.load_model` builds from these files, on `device` / `dtype` (logged)."""
    from .. import load_model

    pipe = load_model(checkpoint, device=device, dtype=dtype, **(model_options or {}))
    log.info("loaded %s (%s model, preset %s)", checkpoint, pipe.family, pipe.config.name)
    return pipe


def limited(dataset: Dataset, limit: int | None) -> Dataset:
    """The first `limit` items of `dataset` (all when None)."""
    if limit is None or limit >= len(dataset):
        return dataset
    if limit < 1:
        raise ConfigError(f"the number of pairs must be at least 1, got {limit}")
    return Subset(dataset, range(int(limit)))


def batches(dataset: Dataset, batch_size: int) -> Iterator[tuple[int, dict]]:
    """(index of the first item, collated sample dict) for consecutive batches, in data set order."""
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    start = 0
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
        yield start, batch
        start += len(batch["name"])


def dataset_seeds(seed: int, start: int, count: int) -> list[int]:
    """Seed of every item: seed + its index in the data set, so results do not depend on the batch size."""
    return [int(seed) + start + i for i in range(count)]
