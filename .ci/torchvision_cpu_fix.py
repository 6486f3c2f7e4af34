"""Import hook for CPU-only machines whose torchvision wheel links CUDA libraries.

Installed into the development virtualenv by `.ci/venv.sh` only when a plain
`import torchvision` fails there. Before torchvision is first imported it tries to load
torchvision's compiled ops; if that fails it declares the two operator schemas that
torchvision's Python code registers fakes for, so transforms, models and timm import.
"""
import importlib.abc
import importlib.util
import sys

_LIBS = []


class _TorchvisionOpsFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "torchvision":
            return None
        sys.meta_path.remove(self)
        try:
            _prepare()
        except Exception:  # the real import reports any remaining problem
            pass
        return None


def _prepare():
    import glob
    import os

    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.origin:
        return
    libs = glob.glob(os.path.join(os.path.dirname(spec.origin), "_C*.so"))
    try:
        torch.ops.load_library(libs[0])
        return
    except Exception:
        pass
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIBS.append(lib)


sys.meta_path.insert(0, _TorchvisionOpsFinder())
