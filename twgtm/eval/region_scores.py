"""Per-image scores that look at one region: colour error, mean-colour error and SSIM inside a mask, mask IoU."""
from __future__ import annotations

import torch

from ..errors import InputError
from ..metrics.ssim import ssim_map

PIXEL_SCALE = 127.5  # [-1, 1] -> 0–255 units


def _check_masks(mask: torch.Tensor, images: torch.Tensor, name: str) -> torch.Tensor:
    """A B×1×H×W mask matching the images' batch and size."""
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != images.shape[0] or mask.shape[-2:] != images.shape[-2:]:
        raise InputError(f"{name} must be B×1×H×W matching the images {tuple(images.shape)}, got {tuple(mask.shape)}")
    return mask.float()


def colour_error(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |pred - target| over RGB and the pixels where mask >= 0.5, in 0–255 units: (B,); NaN for an empty mask."""
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
        raise InputError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be B×3×H×W")
    region = (_check_masks(mask, pred, "mask") >= 0.5).float()  # (B,1,H,W)
    diff = (pred.float() - target.float()).abs().mean(dim=1, keepdim=True) * PIXEL_SCALE  # (B,1,H,W)
    area = region.sum(dim=(1, 2, 3))  # (B,)
    total = (diff * region).sum(dim=(1, 2, 3))  # (B,)
    return torch.where(area > 0, total / area.clamp(min=1), torch.full_like(area, float("nan")))


def region_mean_colour(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean RGB (B,3) of each image over its pixels where mask >= 0.5, in 0–255 units; NaN for an empty mask."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise InputError(f"images must be B×3×H×W, got {tuple(images.shape)}")
    region = (_check_masks(mask, images, "mask") >= 0.5).float()  # (B,1,H,W)
    area = region.sum(dim=(2, 3))  # (B,1)
    total = ((images.float() + 1.0) * PIXEL_SCALE * region).sum(dim=(2, 3))  # (B,3)
    return torch.where(area > 0, total / area.clamp(min=1), torch.full_like(total, float("nan")))


def mean_colour_error(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """|mean colour of pred - mean colour of target| over the mask, averaged over RGB (B,), 0–255 units."""
    if pred.shape != target.shape:
        raise InputError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have one shape")
    return (region_mean_colour(pred, mask) - region_mean_colour(target, mask)).abs().mean(dim=1)


def region_ssim(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The SSIM map of pred against target averaged over the pixels where mask >= 0.5 (B,); NaN for an empty mask.

    The map is computed on the whole images (the 11-pixel window sees the region's surroundings),
    so this is SSIM as usual, only read out in the region.
    """
    region = (_check_masks(mask, pred, "mask") >= 0.5).float()  # (B,1,H,W)
    area = region.sum(dim=(1, 2, 3))  # (B,)
    total = (ssim_map(pred, target) * region).sum(dim=(1, 2, 3))  # (B,)
    return torch.where(area > 0, total / area.clamp(min=1), torch.full_like(area, float("nan")))


def mask_iou(pred_mask: torch.Tensor, true_mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """IoU (B,) of pred_mask >= threshold and true_mask >= 0.5, both B×1×H×W; 1 when both are empty."""
    true = _check_masks(true_mask, pred_mask, "true_mask") >= 0.5
    pred = pred_mask.float() >= threshold
    inter = (pred & true).sum(dim=(1, 2, 3)).float()  # (B,)
    union = (pred | true).sum(dim=(1, 2, 3)).float()  # (B,)
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def summarize(values: list[torch.Tensor] | torch.Tensor) -> dict:
    """{"status": "ok", "value": mean, "std": population std, "n"} of per-image scores (NaNs left out)."""
    values = torch.cat([v.flatten().float().cpu() for v in values]) if isinstance(values, list) else values.flatten()
    values = values[~torch.isnan(values)]
    if len(values) == 0:
        return {"status": "skipped", "reason": "no images with a defined score"}
    std = float(values.std(unbiased=False)) if len(values) > 1 else 0.0
    return {"status": "ok", "value": float(values.mean()), "std": std, "n": len(values)}
