"""Image metrics of the try-on / try-off papers: SSIM, MS-SSIM, CW-SSIM, LPIPS, DISTS, FID, KID,
DINO similarity and CLIP-FID.

Image convention: every metric takes float tensors ``B×3×H×W`` in **[-1, 1]** (the project's
pixel convention; map [0, 1] images with :func:`from_unit_range`). Pred and target must have the
same size. Device and dtype follow the inputs / the ``device=``, ``dtype=`` arguments.

Entry point for whole evaluations: :func:`evaluate_pairs` (two iterables of image tensors →
``{metric: {"status": "ok", "value", "std", "n", "higher_is_better"} | {"status": "skipped",
"reason"}}``). The folder CLI is ``python -m twgtm.eval``.

Weights folder (``weights_dir``), fixed names; safetensors only:

=========================================== ==================================================
file / folder                               used by (source)
=========================================== ==================================================
``pt_inception-2015-12-05.safetensors``     fid, kid (pytorch-fid ``pt_inception-2015-12-05-6726825d.pth``)
``alexnet.safetensors``                     lpips (torchvision ``alexnet-owt-7be5be79.pth``)
``vgg16.safetensors``                       lpips_vgg, dists (torchvision ``vgg16-397923af.pth``)
``lpips_alex.safetensors``                  lpips (LPIPS v0.1 ``alex.pth``; shipped in torchmetrics)
``lpips_vgg.safetensors``                   lpips_vgg (LPIPS v0.1 ``vgg.pth``; shipped in torchmetrics)
``stlpips_alex.safetensors``                stlpips (``alex_shift_tolerant.pth``; shipped in stlpips-pytorch)
``stlpips_vgg.safetensors``                 stlpips_vgg (``vgg_shift_tolerant.pth``; shipped in stlpips-pytorch)
``dists_alpha_beta.safetensors``            dists (DISTS ``weights.pt``; shipped in torchmetrics)
``dino/``                                   dino (transformers DINOv2/DINO ViT, e.g. facebook/dinov2-base)
``clip-vit-base-patch32/``                  clip_fid (transformers CLIP, openai/clip-vit-base-patch32)
=========================================== ==================================================

``python -m twgtm.metrics.convert SRC.pth DST.safetensors`` converts a published state dict
(``torch.load(weights_only=True)``); ``--from-packages DIR`` writes the five files that installed
pip packages ship. Model folders are written by ``save_pretrained`` (``model.safetensors``).
A metric whose weights are missing is reported as skipped with the reason.
"""
from .cw_ssim import cw_ssim
from .dists import DISTSNet
from .frechet import frechet_distance, kernel_inception_distance, mean_and_covariance
from .hf_models import load_clip_vision, load_dino
from .images import from_unit_range, to_unit_range
from .inception import FIDInceptionV3
from .lpips import LPIPSNet
from .ssim import ms_ssim, ssim
from .steerable_pyramid import ComplexSteerablePyramid
from .suite import (
    DEFAULT_METRICS,
    METRICS,
    build_dists,
    build_inception,
    build_lpips,
    evaluate_pairs,
    parse_metric_names,
)

__all__ = [
    "ComplexSteerablePyramid", "DEFAULT_METRICS", "DISTSNet", "FIDInceptionV3", "LPIPSNet", "METRICS",
    "build_dists", "build_inception", "build_lpips", "cw_ssim", "evaluate_pairs", "frechet_distance",
    "from_unit_range", "kernel_inception_distance", "load_clip_vision", "load_dino", "mean_and_covariance",
    "ms_ssim", "parse_metric_names", "ssim", "to_unit_range",
]
