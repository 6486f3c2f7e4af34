"""The metric registry and :func:`evaluate_pairs`, which runs any set of metrics over image pairs.

Paired metrics (SSIM, MS-SSIM, CW-SSIM, LPIPS, ST-LPIPS, DISTS, DINO) score each prediction
against its own target and report the mean (and std) over images. Distribution metrics (FID,
KID, CLIP-FID) compare the set of predictions with the set of targets through network features;
FID and KID share one Inception pass. A metric whose weights are absent, or that cannot run on
the given images, is reported as ``{"status": "skipped", "reason": ...}``, never approximated.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch

from ..errors import ConfigError, InputError, MetricUnavailable
from . import weights as W
from .cw_ssim import cw_ssim
from .dists import DISTSNet
from .frechet import frechet_distance, kernel_inception_distance
from .hf_models import cosine_similarity, load_clip_vision, load_dino
from .images import check_pair
from .inception import FIDInceptionV3
from .lpips import LPIPSNet
from .ssim import ms_ssim, ssim
from ..vocab import parse_device

logger = logging.getLogger("twgtm")

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


@dataclass(frozen=True)
class MetricSpec:
    """How to build one metric; ``features`` names the shared extractor of a distribution metric."""

    name: str
    higher_is_better: bool
    description: str
    build: Callable | None = None  # (weights_dir, device, dtype) -> fn(pred, target) -> (B,) scores
    features: str | None = None  # distribution metrics: key into EXTRACTORS


def _weights_file(weights_dir, name: str, metric: str) -> dict[str, torch.Tensor]:
    """Load ``weights_dir/name`` (safetensors) or raise MetricUnavailable."""
    return W.load_safetensors(W.require_path(weights_dir, name, metric=metric), metric=metric)


def build_lpips(weights_dir, device=None, dtype=None, *, net: str = "alex", shift_tolerant: bool = False) -> LPIPSNet:
    """LPIPS or ST-LPIPS network with weights from ``weights_dir`` (names in ``weights.py``)."""
    metric = ("stlpips" if shift_tolerant else "lpips") + ("_vgg" if net == "vgg" else "")
    if shift_tolerant:
        file = W.STLPIPS_ALEX_FILE if net == "alex" else W.STLPIPS_VGG_FILE
        state = _weights_file(weights_dir, file, metric)
    else:
        backbone = W.ALEXNET_FILE if net == "alex" else W.VGG16_FILE
        linear = W.LPIPS_ALEX_FILE if net == "alex" else W.LPIPS_VGG_FILE
        state = {**_weights_file(weights_dir, linear, metric), **_weights_file(weights_dir, backbone, metric)}
        file = f"{backbone} + {linear}"
    model = LPIPSNet(net, shift_tolerant)
    state = LPIPSNet.published_to_ours(state)  # drops classifier, scaling constants and blur kernels
    W.load_module_weights(model, state, metric=metric, path=Path(str(weights_dir)) / file)
    return model.to(device=device, dtype=dtype)


def build_dists(weights_dir, device=None, dtype=None) -> DISTSNet:
    """DISTS network with the VGG16 trunk and alpha/beta from ``weights_dir``."""
    state = {**_weights_file(weights_dir, W.DISTS_FILE, "dists"), **_weights_file(weights_dir, W.VGG16_FILE, "dists")}
    model = DISTSNet()
    W.load_module_weights(model, state, metric="dists", path=Path(str(weights_dir)) / W.DISTS_FILE,
                          ignore_prefixes=("classifier.",))
    return model.to(device=device, dtype=dtype)


def build_inception(weights_dir, device=None, dtype=None) -> FIDInceptionV3:
    """FID Inception with weights from ``weights_dir/pt_inception-2015-12-05.safetensors``."""
    state = _weights_file(weights_dir, W.INCEPTION_FILE, "fid/kid")
    model = FIDInceptionV3()
    W.load_module_weights(model, state, metric="fid/kid", path=Path(str(weights_dir)) / W.INCEPTION_FILE)
    return model.to(device=device, dtype=dtype)


def _paired(fn: Callable) -> Callable:
    """Wrap a plain function ``fn(pred, target)`` as a builder that needs no weights."""
    return lambda weights_dir, device, dtype: fn


def _dino_builder(weights_dir, device, dtype) -> Callable:
    """DINO similarity: cosine similarity of CLS embeddings."""
    folder = None if weights_dir is None else Path(weights_dir) / W.DINO_DIR
    encoder = load_dino(folder, device=device, dtype=dtype)
    return lambda pred, target: cosine_similarity(encoder(pred), encoder(target))


def _lpips_builder(net: str, shift_tolerant: bool) -> Callable:
    """A builder for one LPIPS variant."""
    return lambda weights_dir, device, dtype: build_lpips(weights_dir, device, dtype, net=net, shift_tolerant=shift_tolerant)


EXTRACTORS: dict[str, Callable] = {
    "inception": build_inception,
    "clip": lambda weights_dir, device, dtype: load_clip_vision(
        None if weights_dir is None else Path(weights_dir) / W.CLIP_DIR, device=device, dtype=dtype),
}

METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in [
    MetricSpec("ssim", True, "SSIM, 11×11 Gaussian σ=1.5, RGB mean", _paired(ssim)),
    MetricSpec("ms_ssim", True, "MS-SSIM, 5 scales", _paired(ms_ssim)),
    MetricSpec("cw_ssim", True, "CW-SSIM, luma, steerable pyramid level 4 × 8 orientations", _paired(cw_ssim)),
    MetricSpec("lpips", False, "LPIPS v0.1, AlexNet", _lpips_builder("alex", False)),
    MetricSpec("lpips_vgg", False, "LPIPS v0.1, VGG16", _lpips_builder("vgg", False)),
    MetricSpec("stlpips", False, "shift-tolerant LPIPS, AlexNet", _lpips_builder("alex", True)),
    MetricSpec("stlpips_vgg", False, "shift-tolerant LPIPS, VGG16", _lpips_builder("vgg", True)),
    MetricSpec("dists", False, "DISTS, VGG16 (short side resized to 256)", build_dists),
    MetricSpec("dino", True, "DINO CLS cosine similarity", _dino_builder),
    MetricSpec("fid", False, "FID, Inception pool3 (pytorch-fid)", features="inception"),
    MetricSpec("kid", False, f"KID, Inception pool3, {KID_SUBSETS} subsets of ≤{KID_SUBSET_SIZE}", features="inception"),
    MetricSpec("clip_fid", False, "Fréchet distance of CLIP ViT-B/32 image embeddings", features="clip"),
]}
DEFAULT_METRICS = ("ssim", "ms_ssim", "cw_ssim", "lpips", "dists", "dino", "fid", "kid", "clip_fid")


def parse_metric_names(names: str | Iterable[str] | None) -> list[str]:
    """Metric names from a comma list or iterable (None: the defaults); unknown names raise ConfigError."""
    if names is None:
        return list(DEFAULT_METRICS)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(dict.fromkeys(n.lower().replace("-", "_") for n in names))
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ConfigError(f"unknown metrics {unknown or names}; choose from {', '.join(METRICS)}.")
    return names


def skipped(reason: str) -> dict:
    """The result entry of a metric that did not run."""
    return {"status": "skipped", "reason": reason}


def _batches(preds: Iterable[torch.Tensor], targets: Iterable[torch.Tensor], batch_size: int) -> Iterator[tuple]:
    """Zip two image streams (3×H×W or B×3×H×W items) and regroup them into checked batches."""
    pending_p, pending_t = [], []
    sentinel = object()
    pred_iter, target_iter = iter(preds), iter(targets)
    while True:
        pred, target = next(pred_iter, sentinel), next(target_iter, sentinel)
        if (pred is sentinel) != (target is sentinel):
            raise InputError("evaluate_pairs: the prediction and target streams have different lengths.")
        done = pred is sentinel
        if not done:
            pred, target = check_pair(pred, target)
            if pending_p and pending_p[0].shape[1:] != pred.shape[1:]:
                yield torch.cat(pending_p), torch.cat(pending_t)  # size change: flush
                pending_p, pending_t = [], []
            pending_p.append(pred)
            pending_t.append(target)
        while pending_p and (done or sum(len(p) for p in pending_p) >= batch_size):
            batch_p, batch_t = torch.cat(pending_p), torch.cat(pending_t)
            yield batch_p[:batch_size], batch_t[:batch_size]
            rest_p, rest_t = batch_p[batch_size:], batch_t[batch_size:]
            pending_p, pending_t = ([rest_p], [rest_t]) if len(rest_p) else ([], [])
        if done:
            return


def _build_all(names, weights_dir, device, dtype):
    """Build the paired metrics and feature extractors that the names need; collect skips."""
    paired, extractors, results = {}, {}, {}
    for name in names:
        spec = METRICS[name]
        try:
            if spec.features is None:
                paired[name] = spec.build(weights_dir, device, dtype)
            elif spec.features not in extractors:
                extractors[spec.features] = EXTRACTORS[spec.features](weights_dir, device, dtype)
        except MetricUnavailable as exc:
            logger.warning("%s skipped: %s", name, exc)
            results[name] = skipped(str(exc))
    return paired, extractors, results


@torch.no_grad()
def evaluate_pairs(
    preds: Iterable[torch.Tensor],
    targets: Iterable[torch.Tensor],
    *,
    metrics: str | Iterable[str] | None = None,
    weights_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    batch_size: int = 8,
    progress: bool = False,
    total: int | None = None,
    kid_subsets: int = KID_SUBSETS,
    kid_subset_size: int = KID_SUBSET_SIZE,
) -> dict[str, dict]:
    """Run metrics over paired image streams in [-1, 1]; returns ``{name: {"status", "value", ...}}``."""
    names = parse_metric_names(metrics)
    if int(batch_size) < 1:
        raise ConfigError(f"evaluate_pairs: batch_size must be at least 1, got {batch_size}")
    device = parse_device(device)
    paired, extractors, results = _build_all(names, weights_dir, device, dtype)
    scores: dict[str, list[torch.Tensor]] = {name: [] for name in paired}
    features: dict[str, tuple[list, list]] = {key: ([], []) for key in extractors}
    batches = _batches(preds, targets, batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=None if total is None else -(-total // batch_size), desc="metrics", unit="batch")
    count = 0
    for pred, target in batches:
        pred, target = pred.to(device), target.to(device)
        count += len(pred)
        for name, fn in list(paired.items()):
            try:
                scores[name].append(fn(pred, target).detach().float().cpu())
            except InputError as exc:
                logger.warning("%s skipped: %s", name, exc)
                results[name] = skipped(str(exc))
                del paired[name]
        for key, extractor in extractors.items():
            features[key][0].append(extractor(pred).cpu())
            features[key][1].append(extractor(target).cpu())

    for name in names:
        if name in results:
            continue
        spec = METRICS[name]
        if spec.features is None:
            values = torch.cat(scores[name]) if scores[name] else torch.empty(0)
            if len(values) == 0:
                results[name] = skipped("no images")
                continue
            std = float(values.std(unbiased=False)) if len(values) > 1 else 0.0
            results[name] = {"status": "ok", "value": float(values.mean()), "std": std, "n": len(values)}
        else:
            feats_pred = torch.cat(features[spec.features][0]) if features[spec.features][0] else torch.empty(0, 1)
            feats_target = torch.cat(features[spec.features][1]) if features[spec.features][1] else torch.empty(0, 1)
            if len(feats_pred) < 2:
                results[name] = skipped(f"{name} needs at least 2 images, got {len(feats_pred)}")
                continue
            if name == "kid":
                mean, std = kernel_inception_distance(feats_pred, feats_target, subsets=kid_subsets,
                                                      subset_size=kid_subset_size)
                results[name] = {"status": "ok", "value": mean, "std": std, "n": len(feats_pred)}
            else:
                results[name] = {"status": "ok", "value": frechet_distance(feats_pred, feats_target),
                                 "n": len(feats_pred)}
        results[name]["higher_is_better"] = spec.higher_is_better
    logger.info("evaluated %d image pairs", count)
    return {name: results[name] for name in names}
