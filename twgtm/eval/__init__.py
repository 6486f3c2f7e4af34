"""Evaluate predictions against ground truths: folders of images -> metric table and JSON.

``python -m twgtm.eval --pred DIR --gt DIR`` pairs images by file name (extension ignored),
resizes, and runs :func:`twgtm.metrics.evaluate_pairs`. Resizing follows the papers' protocols:
metrics are computed at the dataset's resolution (VITON-HD / DressCode: 1024×768, or the
512×384 variant used by CatVTON / TryOffDiff tables); without ``--size`` each prediction is
resized (bicubic) to its ground truth's size, with ``--size HxW`` both are. Networks then apply
their own input sizes (Inception 299×299, DINO/CLIP 224×224, DISTS short side 256).
For other sources of images, call ``evaluate_pairs`` with two iterables of tensors directly.

Checkpoints: ``python -m twgtm.eval --checkpoint C --dataset vitonhd|dresscode --data-root DIR --out DIR``
samples a test split, writes the PNGs and scores them (``twgtm.eval.dataset``);
``python -m twgtm.eval.toy --checkpoint C --data DIR`` scores held-out toy-wardrobe pairs beside
copy and mean baselines (``twgtm.eval.toy``). Neither is imported here (they load the sampler).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..metrics.suite import evaluate_pairs, parse_metric_names
from .folders import iter_pairs, pair_folders, parse_size, read_image
from .report import markdown_table, write_json

__all__ = ["evaluate_folders", "evaluate_pairs", "markdown_table", "pair_folders", "parse_size", "read_image",
           "write_json"]


def evaluate_folders(
    pred_dir: str | Path,
    gt_dir: str | Path,
    *,
    metrics: str | list[str] | None = None,
    weights_dir: str | Path | None = None,
    size: tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    batch_size: int = 8,
    progress: bool = False,
) -> dict:
    """Pair two image folders by name and compute metrics; returns a JSON-ready report dict."""
    names = parse_metric_names(metrics)
    pairs = pair_folders(pred_dir, gt_dir)
    preds, targets = iter_pairs(pairs, size)
    results = evaluate_pairs(preds, targets, metrics=names, weights_dir=weights_dir, device=device, dtype=dtype,
                             batch_size=batch_size, progress=progress, total=len(pairs))
    return {
        "pred_dir": str(pred_dir),
        "gt_dir": str(gt_dir),
        "n_pairs": len(pairs),
        "size": "ground-truth size" if size is None else f"{size[0]}x{size[1]}",
        "weights_dir": None if weights_dir is None else str(weights_dir),
        "metrics": results,
    }
