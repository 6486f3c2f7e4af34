"""Where each metric's weights live in a weights folder, and how they are loaded (safetensors only).

The file names are fixed; see the package docstring (``twgtm.metrics``) for the table and
``python -m twgtm.metrics.convert`` for turning published ``.pth`` files into these files.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from ..errors import CheckpointError, MetricUnavailable
from ..weights.file_kind import unreadable_safetensors

logger = logging.getLogger("twgtm")

# Fixed names inside --weights-dir.
INCEPTION_FILE = "pt_inception-2015-12-05.safetensors"  # pytorch-fid FID Inception (pool3, 2048-d)
ALEXNET_FILE = "alexnet.safetensors"  # torchvision ImageNet AlexNet (alexnet-owt-7be5be79.pth)
VGG16_FILE = "vgg16.safetensors"  # torchvision ImageNet VGG16 (vgg16-397923af.pth)
LPIPS_ALEX_FILE = "lpips_alex.safetensors"  # LPIPS v0.1 linear layers for AlexNet (lpips: alex.pth)
LPIPS_VGG_FILE = "lpips_vgg.safetensors"  # LPIPS v0.1 linear layers for VGG16 (lpips: vgg.pth)
STLPIPS_ALEX_FILE = "stlpips_alex.safetensors"  # ST-LPIPS, whole net (stlpips-pytorch: alex_shift_tolerant.pth)
STLPIPS_VGG_FILE = "stlpips_vgg.safetensors"  # ST-LPIPS, whole net (stlpips-pytorch: vgg_shift_tolerant.pth)
DISTS_FILE = "dists_alpha_beta.safetensors"  # DISTS alpha/beta (DISTS_pytorch / torchmetrics: weights.pt)
DINO_DIR = "dino"  # a transformers DINO / DINOv2 ViT folder (e.g. facebook/dinov2-base)
CLIP_DIR = "clip-vit-base-patch32"  # a transformers CLIP folder (openai/clip-vit-base-patch32)


def require_path(weights_dir: str | Path | None, name: str, *, metric: str) -> Path:
    """Return ``weights_dir/name``, raising MetricUnavailable when no folder is given or it is absent."""
    if weights_dir is None:
        raise MetricUnavailable(f"{metric}: no weights folder given; it needs '{name}' (pass --weights-dir).")
    path = Path(weights_dir) / name
    if not path.exists():
        raise MetricUnavailable(
            f"{metric}: '{path}' not found; put '{name}' in the weights folder "
            "(see `python -m twgtm.metrics.convert --help` for converting published .pth files)."
        )
    return path


def load_safetensors(path: str | Path, *, metric: str) -> dict[str, torch.Tensor]:
    """Load a ``.safetensors`` file on the CPU; anything else is refused (never unpickled)."""
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(
            f"{metric}: '{path}' is not a .safetensors file; convert it with "
            f"`python -m twgtm.metrics.convert {path} {path.with_suffix('.safetensors')}`."
        )
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types
        raise unreadable_safetensors(path, exc, f"{metric} weights file") from exc


def rename_keys(state_dict: dict[str, torch.Tensor], renames: Iterable[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Replace key prefixes: each (old, new) pair maps keys starting with ``old`` to ``new``."""
    renames = list(renames)
    out = {}
    for key, value in state_dict.items():
        for old, new in renames:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def load_module_weights(
    module: nn.Module,
    state_dict: dict[str, torch.Tensor],
    *,
    metric: str,
    path: str | Path,
    ignore_prefixes: tuple[str, ...] = (),
) -> None:
    """Load ``state_dict`` into ``module``; a missing, unexpected or mis-shaped key raises CheckpointError."""
    state_dict = {k: v for k, v in state_dict.items() if not k.startswith(ignore_prefixes)}
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state_dict) if own[k].shape != state_dict[k].shape)
    if missing or unexpected or wrong_shape:
        raise CheckpointError(
            f"{metric}: '{path}' does not match the expected network: "
            f"missing {missing[:8]}{'...' if len(missing) > 8 else ''}, "
            f"unexpected {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}, "
            f"wrong shape {wrong_shape[:8]}; is it the right file for this metric?"
        )
    module.load_state_dict(state_dict, strict=True)
    logger.debug("%s: loaded %d tensors from %s", metric, len(state_dict), path)
