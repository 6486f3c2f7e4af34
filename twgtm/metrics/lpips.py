"""LPIPS (Zhang et al. 2018) and shift-tolerant ST-LPIPS (Ghildyal & Liu 2022), our implementation.

``LPIPSNet(net="alex"|"vgg", shift_tolerant=False|True)``: a backbone's five ReLU stages are
unit-normalised over channels, squared differences are weighted by the published 1×1 "lin"
layers, averaged over space and summed over stages. Inputs in [-1, 1] are first shifted and
scaled by the LPIPS v0.1 constants. Weight files (see ``weights.py``):

* standard LPIPS: torchvision ImageNet backbone (``alexnet.safetensors`` / ``vgg16.safetensors``,
  keys ``features.N.*``) + linear layers (``lpips_alex.safetensors`` / ``lpips_vgg.safetensors``,
  keys ``linK.model.1.weight``);
* ST-LPIPS: one file with backbone and linear layers (``stlpips_alex.safetensors`` /
  ``stlpips_vgg.safetensors``, keys ``net.sliceS.N.*`` and ``linK.model.1.weight``) whose
  backbone is anti-aliased: stride-1 conv/pool followed by a reflect-padded [1 2 1]² blur-pool.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .images import check_pair

_SHIFT = (-0.030, -0.088, -0.188)  # LPIPS v0.1 input scaling layer
_SCALE = (0.458, 0.448, 0.450)
_VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


class BlurPool(nn.Module):
    """Anti-aliased stride-2 down-sampling: reflect pad 2, depthwise [1 2 1]²/16 filter, stride 2."""

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = taps[:, None] * taps[None, :]
        self.register_buffer("kernel", (kernel / kernel.sum()).expand(channels, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Blur and subsample by 2."""
        x = F.pad(x, (2, 2, 2, 2), mode="reflect")
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2, groups=x.shape[1])


def alexnet_features(shift_tolerant: bool) -> tuple[nn.Sequential, tuple[int, ...], tuple[int, ...]]:
    """AlexNet conv trunk, the indices of its five tapped ReLUs and their channel counts."""
    relu = lambda: nn.ReLU(inplace=False)  # noqa: E731
    if not shift_tolerant:  # torchvision layout: features.0 ... features.11
        layers = [nn.Conv2d(3, 64, 11, stride=4, padding=2), relu(), nn.MaxPool2d(3, 2),
                  nn.Conv2d(64, 192, 5, padding=2), relu(), nn.MaxPool2d(3, 2),
                  nn.Conv2d(192, 384, 3, padding=1), relu(),
                  nn.Conv2d(384, 256, 3, padding=1), relu(),
                  nn.Conv2d(256, 256, 3, padding=1), relu()]
        taps = (1, 4, 7, 9, 11)
    else:  # ST-LPIPS "shift_tolerant" layout: stride moved into blur-pools
        layers = [nn.Conv2d(3, 64, 11, stride=1, padding=2), BlurPool(64), relu(),
                  nn.MaxPool2d(3, 1), BlurPool(64), nn.Conv2d(64, 192, 5, padding=2), relu(),
                  nn.MaxPool2d(3, 1), BlurPool(192), nn.Conv2d(192, 384, 3, padding=1), relu(),
                  nn.Conv2d(384, 256, 3, padding=1), relu(),
                  nn.Conv2d(256, 256, 3, padding=1), relu()]
        taps = (2, 6, 10, 12, 14)
    return nn.Sequential(*layers), taps, (64, 192, 384, 256, 256)


def vgg16_features(shift_tolerant: bool) -> tuple[nn.Sequential, tuple[int, ...], tuple[int, ...]]:
    """VGG16 conv trunk up to relu5_3, the indices of its five tapped ReLUs and their channels."""
    layers: list[nn.Module] = []
    taps: list[int] = []
    in_channels = 3
    for item in _VGG16_LAYOUT:
        if item == "M":
            taps.append(len(layers) - 1)  # the ReLU before each pooling
            if shift_tolerant:
                layers += [nn.MaxPool2d(2, 1), BlurPool(in_channels)]
            else:
                layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_channels, item, 3, padding=1), nn.ReLU(inplace=False)]
            in_channels = item
    taps.append(len(layers) - 1)
    return nn.Sequential(*layers), tuple(taps), (64, 128, 256, 512, 512)


def tapped_forward(features: nn.Sequential, taps: tuple[int, ...], x: torch.Tensor) -> list[torch.Tensor]:
    """Run ``features`` up to its last tap and return the activations at ``taps``."""
    outputs = []
    for index, layer in enumerate(features):
        x = layer(x)
        if index in taps:
            outputs.append(x)
            if index == taps[-1]:
                break
    return outputs


def _unit_normalize(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Divide each spatial position's feature vector by its L2 norm over channels."""
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPSNet(nn.Module):
    """LPIPS distance network; ``forward(pred, target)`` gives (B,) distances, 0 for identical images."""

    def __init__(self, net: str = "alex", shift_tolerant: bool = False, *, device=None, dtype=None):
        super().__init__()
        if net not in ("alex", "vgg"):
            raise ConfigError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
        self.net_name, self.shift_tolerant = net, shift_tolerant
        build = alexnet_features if net == "alex" else vgg16_features
        self.features, self.taps, channels = build(shift_tolerant)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in channels)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False).eval().to(device=device, dtype=dtype)

    @staticmethod
    def published_to_ours(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename published LPIPS/ST-LPIPS/torchvision keys to this module's names."""
        out = {}
        for key, value in state_dict.items():
            parts = key.split(".")
            if parts[0].startswith("lin") and parts[0][3:].isdigit() and parts[-1] == "weight":
                out[f"lins.{parts[0][3:]}.weight"] = value  # lin3.model.1.weight -> lins.3.weight
            elif parts[-1] == "filt":
                continue  # ST-LPIPS blur kernels: fixed [1 2 1]² filters, rebuilt by BlurPool
            elif parts[0] == "net" and parts[1].startswith("slice"):
                out["features." + ".".join(parts[2:])] = value  # net.slice2.5.weight -> features.5.weight
            elif parts[0] == "features":
                out[key] = value
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """LPIPS distance (B,) between two B×3×H×W batches in [-1, 1]."""
        pred, target = check_pair(pred, target)
        dtype = self.lins[0].weight.dtype
        batch = torch.cat([pred, target]).to(dtype)  # (2B, 3, H, W): one trunk pass for both
        batch = (batch - self.shift.to(dtype)) / self.scale.to(dtype)
        total = 0.0
        for lin, feats in zip(self.lins, tapped_forward(self.features, self.taps, batch)):
            feats_pred, feats_target = _unit_normalize(feats.float()).chunk(2)
            diff = (feats_pred - feats_target) ** 2  # (B, C, h, w)
            total = total + F.conv2d(diff, lin.weight.float()).mean(dim=(1, 2, 3))
        return total
