"""Training losses: the noise loss and the auxiliary flat-garment mask loss λ(λ'·Dice + λ''·BCE) on TFQ_0."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def noise_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the predicted and the true noise (float32)."""
    return F.mse_loss(pred.float(), target.float())


def weighted_noise_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, axis: str,
                        inpaint_weight: float = 1.0, reference_weight: float = 1.0) -> torch.Tensor:
    """The noise loss with per-cell weights: the target half's masked cells `inpaint_weight`, its
    other cells 1, the reference half `reference_weight` (all 1: `noise_loss` itself).

    pred, target (B,4,h,2w) (or 2h for `axis` "height"); mask (B,1,h,2w), 1 in the target half's mask.
    """
    if inpaint_weight == 1.0 and reference_weight == 1.0:
        return noise_loss(pred, target)
    weight = 1.0 + (inpaint_weight - 1.0) * mask.float()  # (B,1,h,2w)
    dim = -1 if axis == "width" else -2
    half = weight.shape[dim] // 2
    weight.narrow(dim, half, weight.shape[dim] - half).fill_(reference_weight)
    err = (pred.float() - target.float()) ** 2
    return (err * weight).sum() / (weight.sum() * err.shape[1]).clamp(min=1e-12)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss per item, averaged: 1 - (2|P∩T| + eps) / (|P| + |T| + eps)."""
    probs = torch.sigmoid(logits.float()).flatten(1)
    target = target.float().flatten(1)
    inter = (probs * target).sum(1)
    return (1.0 - (2.0 * inter + eps) / (probs.sum(1) + target.sum(1) + eps)).mean()


def mask_loss(logits: torch.Tensor, mask: torch.Tensor, dice_weight: float = 1.0, bce_weight: float = 1.0) -> torch.Tensor:
    """λ'·Dice + λ''·BCE between the garment-mask logits (B,1,h,w) and a pixel mask (B,1,H,W) resized to them."""
    target = (F.interpolate(mask.float(), size=logits.shape[-2:], mode="area") > 0.5).float()
    bce = F.binary_cross_entropy_with_logits(logits.float(), target)
    return dice_weight * dice_loss(logits, target) + bce_weight * bce


def srm_mask_loss(out, mask: torch.Tensor, dice_weight: float = 1.0, bce_weight: float = 1.0) -> torch.Tensor:
    """The srm stage's mask loss: the last TaskFormer unit's TFQ_0, plus half the mean over the earlier units."""
    loss = mask_loss(out.garment_mask_logits, mask, dice_weight, bce_weight)
    earlier = out.unit_mask_logits[:-1]
    if earlier:
        loss = loss + 0.5 * sum(mask_loss(u, mask, dice_weight, bce_weight) for u in earlier) / len(earlier)
    return loss
