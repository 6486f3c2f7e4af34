"""Evaluate a checkpoint on a data set's test split: sample, write PNGs, score them.

``python -m twgtm.eval --checkpoint C --dataset vitonhd|dresscode --data-root DIR --out DIR``
with ``--task tryon|tryoff`` and ``--mode paired|unpaired``, as in the papers' tables:

* paired: each person with their own garment, so the truth is known. VTON is scored against the
  person, VTOFF against the flat garment, with every requested metric (full-reference ones per
  image, distribution ones over the two sets). VTOFF also reports the IoU of the predicted
  flat-garment mask (sigmoid TFQ_0 >= 0.5) with the true cloth mask.
* unpaired: each person with another garment, so there is no per-image truth: only the
  distribution metrics (FID, KID, CLIP-FID) run, against the test split's real images (the
  persons for VTON, the flat garments for VTOFF); full-reference metrics are reported skipped.

Written under ``out``: ``pred/NAME.png`` (the outputs), ``gt/NAME.png`` (paired: the truth) or
``real/NAME.png`` (unpaired: the reference set), ``pred_mask/NAME.png`` (VTOFF: the predicted
garment mask) and ``report.json``. Scores are computed from the PNG files, so
``python -m twgtm.eval --pred OUT/pred --gt OUT/gt`` reproduces them (and adds metrics later).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..data import build_dataset
from ..errors import ConfigError, DataError
from ..pixels import save_image
from ..metrics.suite import METRICS, evaluate_pairs, parse_metric_names, skipped
from .folders import IMAGE_SUFFIXES, read_image
from .region_scores import mask_iou, summarize
from .report import write_json
from ..vocab import CANVAS_TASKS, parse_category, parse_mask_mode, parse_task
from .sampling import batches, dataset_seeds, limited, load_for_eval

log = logging.getLogger("twgtm")

DATASETS = ("vitonhd", "dresscode")
MODES = ("paired", "unpaired")
DEFAULT_SIZE = (512, 384)  # the 512×384 protocol of the CatVTON / TryOffDiff tables


def _check(choice: str, allowed: tuple, what: str) -> str:
    """`choice` if it is one of `allowed`, else a ConfigError."""
    if choice not in allowed:
        raise ConfigError(f"{what} must be one of {allowed}, got {choice!r}")
    return choice


def split_metrics(names: list[str], mode: str) -> tuple[list[str], dict]:
    """The metrics that can run in `mode`, and skipped entries for those that cannot (unpaired: no truth)."""
    if mode == "paired":
        return names, {}
    runnable = [n for n in names if METRICS[n].features is not None]
    reason = ("unpaired mode has no ground truth per image; full-reference metrics need --mode paired "
              "(unpaired runs only the distribution metrics fid, kid, clip_fid)")
    return runnable, {n: skipped(reason) for n in names if n not in runnable}


def _unique(name: str, used: set[str], index: int) -> str:
    """`name`, or `name_index` when it was written already (a person in two pairs)."""
    name = name if name not in used else f"{name}_{index:06d}"
    used.add(name)
    return name


def prepare_out(out: Path, mode: str, overwrite: bool) -> None:
    """Refuse to mix with an earlier run's images (or delete them when `overwrite`)."""
    folders = [out / "pred", out / ("gt" if mode == "paired" else "real"), out / "pred_mask"]
    old = [p for f in folders if f.is_dir() for p in f.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    if old and not overwrite:
        raise ConfigError(f"{out} already holds {len(old)} images from an earlier run (in pred/, gt/, real/ or "
                          "pred_mask/); choose another --out folder or pass --overwrite to replace them")
    for path in old:
        path.unlink()


def run_predictions(pipe, dataset, out: Path, *, task: str, mode: str, steps: int, guidance: float, seed: int,
                    scheduler: str, mask_mode: str, repaint: bool, batch_size: int, progress: bool) -> tuple[list, dict]:
    """Sample every pair, write pred/, gt/ or real/ (and pred_mask/) PNGs; the names written and the VTOFF IoU entry."""
    reference_dir = out / ("gt" if mode == "paired" else "real")
    iou, used = [], set()
    batch_iter = batches(dataset, batch_size)
    if progress:
        from tqdm.auto import tqdm

        batch_iter = tqdm(batch_iter, total=-(-len(dataset) // batch_size), desc=f"{task} {mode}", unit="batch")
    for start, batch in batch_iter:
        person, garment = batch["person"], batch["garment"]  # (B,3,H,W)
        common = dict(prompt=list(batch["category"]), seed=dataset_seeds(seed, start, person.shape[0]), steps=steps,
                      guidance=guidance, scheduler=scheduler)
        masks = None
        if task == "tryon":
            images = pipe.tryon(person, garment, batch["inpaint_mask"], repaint=repaint, **common).images
            references = person  # paired: the truth; unpaired: the real persons
        else:
            result = pipe.tryoff(person, mask_mode=mask_mode, **common)
            images, masks, references = result.images, result.garment_masks, garment
            if masks is not None and mode == "paired":
                iou.append(mask_iou(masks.float().cpu(), batch["garment_mask"]))
        for i, name in enumerate(batch["name"]):
            name = _unique(str(name), used, start + i)
            save_image(images[i], out / "pred" / f"{name}.png")
            save_image(references[i], reference_dir / f"{name}.png")
            if masks is not None:
                save_image(masks[i], out / "pred_mask" / f"{name}.png")
    written = sorted(used)
    log.info("wrote %d %s %s predictions to %s", len(written), mode, task, out / "pred")
    if task != "tryoff" or mode != "paired":
        return written, {}
    if not iou:
        return written, {"status": "skipped", "reason": "this checkpoint's profile has no SRM garment-mask head (TFQ_0)"}
    return written, {**summarize(iou), "higher_is_better": True}


def evaluate_dataset(
    checkpoint: str | Path,
    dataset: str,
    data_root: str | Path,
    out: str | Path,
    *,
    task: str = "tryon",
    mode: str = "paired",
    category: str | None = None,
    size: tuple[int, int] | None = None,
    steps: int = 30,
    guidance: float = 2.5,
    seed: int = 0,
    scheduler: str = "ddim",
    mask_mode: str = "bbox",
    repaint: bool = False,
    limit: int | None = None,
    metrics: str | list[str] | None = None,
    weights_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    batch_size: int = 4,
    overwrite: bool = False,
    progress: bool = False,
    model_options: dict | None = None,
) -> dict:
    """Sample the test split of `dataset` with `checkpoint`, write the PNGs under `out`, score them; the report dict.

    `model_options` go to `twgtm.load_model` (base, clip, swin, profile, preset, option_names).
    """
    _check(dataset, DATASETS, "dataset")
    task = parse_task(task, CANVAS_TASKS)
    mask_mode = parse_mask_mode(mask_mode)
    _check(mode, MODES, "mode")
    size = tuple(size or DEFAULT_SIZE)
    names = parse_metric_names(metrics)
    runnable, results = split_metrics(names, mode)
    test = build_dataset(dataset, data_root, split="test", size=size, mode=mode,
                         categories=None if category is None else [parse_category(category)])
    test = limited(test, limit)
    if len(test) == 0:
        raise DataError(f"no {mode} test pairs in {data_root}" + (f" for category {category!r}" if category else "")
                          + "; check --data-root and --category")
    out = Path(out)
    prepare_out(out, mode, overwrite)
    pipe = load_for_eval(checkpoint, device, dtype, model_options)
    written, mask_entry = run_predictions(pipe, test, out, task=task, mode=mode, steps=steps, guidance=guidance, seed=seed,
                                 scheduler=scheduler, mask_mode=mask_mode, repaint=repaint, batch_size=batch_size,
                                 progress=progress)
    reference_dir = out / ("gt" if mode == "paired" else "real")
    if runnable:  # scored from the PNGs just written: what a rescore with --pred/--gt reads
        preds = (read_image(out / "pred" / f"{name}.png") for name in written)
        references = (read_image(reference_dir / f"{name}.png") for name in written)
        results.update(evaluate_pairs(preds, references, metrics=runnable, weights_dir=weights_dir, device=device,
                                      dtype=dtype, batch_size=batch_size, progress=progress, total=len(written)))
    report = {
        "checkpoint": str(checkpoint), "dataset": dataset, "data_root": str(data_root), "category": category,
        "split": "test", "mode": mode, "task": task, "n_pairs": len(written), "size": f"{size[0]}x{size[1]}",
        "steps": steps, "guidance": guidance, "seed": seed, "scheduler": scheduler,
        "tryoff_mask_mode": mask_mode if task == "tryoff" else None, "repaint": repaint if task == "tryon" else None,
        "pred_dir": str(out / "pred"), ("gt_dir" if mode == "paired" else "real_dir"): str(reference_dir),
        "weights_dir": None if weights_dir is None else str(weights_dir),
        "metrics": {name: results[name] for name in names},
    }
    if mask_entry:
        report["garment_mask_iou"] = mask_entry
    write_json(report, out / "report.json")
    return report
