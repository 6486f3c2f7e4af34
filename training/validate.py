"""Validation images: try-on and try-off of fixed held-out pairs with the real sampler, as one grid."""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import default_collate

from twgtm.pixels import mask_to_uint8, to_unit
from twgtm import TWGTMPipeline

COLUMNS = ("person", "garment", "try-on", "try-off")


@torch.no_grad()
def validation_grid(model, dataset, count: int = 4, steps: int = 20, guidance: float = 2.5, seed: int = 0) -> torch.Tensor:
    """Rows of [person | garment | try-on output | try-off output] for the first `count` items: (3,H',W') in [0,1]."""
    items = [dataset[i] for i in range(min(int(count), len(dataset)))]
    batch = default_collate(items)
    was_training, extended = model.training, model.extended_attention_enabled
    try:
        pipe = TWGTMPipeline(model)  # eval mode, extended attention on (inference behaviour)
        on = pipe.tryon(batch["person"], batch["garment"], batch["inpaint_mask"], prompt=list(batch["prompt"]),
                        steps=steps, guidance=guidance, seed=seed)
        off = pipe.tryoff(batch["person"], prompt=list(batch["prompt"]), mask_mode="bbox", steps=steps,
                          guidance=guidance, seed=seed)
    finally:
        model.train(was_training)
        model.set_extended_attention(extended)
    rows = [torch.cat([batch["person"][i], batch["garment"][i], on.images[i].cpu(), off.images[i].cpu()], dim=2)
            for i in range(len(items))]
    return to_unit(torch.cat(rows, dim=1))  # (3, count*H, 4*W)


def save_grid(grid: torch.Tensor, path) -> Path:
    """Write a (3,H,W) [0,1] grid as PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = mask_to_uint8(grid).permute(1, 2, 0).numpy()
    Image.fromarray(array).save(path)
    return path
