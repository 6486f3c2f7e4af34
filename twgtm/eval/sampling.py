"""What the checkpoint evaluations share: loading a pipeline, batching a data set, per-item seeds."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ..errors import ConfigError

log = logging.getLogger("twgtm")

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    """A torch dtype from 'float32' / 'fp16' / 'bf16' ... or a dtype."""
    if isinstance(name, torch.dtype):
        return name
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; choose one of {sorted(DTYPES)}")
    return DTYPES[name]


def load_pipeline(checkpoint: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """A TWGTMPipeline on `device` / `dtype` for a TWGTM .safetensors checkpoint."""
    from ..weights.checkpoint import load_checkpoint
    from ..sampling.pipeline import TWGTMPipeline

    model = load_checkpoint(checkpoint)
    log.info("loaded %s (preset %s)", checkpoint, model.config.name)
    return TWGTMPipeline(model, device=torch.device(device), dtype=dtype)


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


def item_seeds(seed: int, start: int, count: int) -> list[int]:
    """Seed of every item: seed + its index in the data set, so results do not depend on the batch size."""
    return [int(seed) + start + i for i in range(count)]
