"""TWGTM: the Two-Way Garment Transfer Model (try-on and try-off with one diffusion model), and the public models
the pack also runs (CatVTON, TryOffAnyone, Any2AnyTryon).

Pure PyTorch; never imports ComfyUI. `import twgtm` gives the whole public surface (`twgtm.__all__`):

    pipe = twgtm.load_model()                              # the demo model; or a checkpoint, a preset,
                                                           # profile="catvton" | "tryoffanyone", family="a2a"
    out = pipe.tryon(person, garment, mask, seed=0)        # .tryon / .tryoff / .roundtrip on every family
    out.images, out.to_pil()                               # (B,3,H,W) in [-1, 1]; Pillow images

Importing the package loads neither torch nor any model code: every name below except the errors is
imported on first use.
"""
import importlib
import logging

from .errors import (CheckpointError, ConfigError, DataError, InputError, MetricUnavailable, OutOfMemory,
                     SamplingCancelled, TWGTMError, UnsupportedTask)

__version__ = "0.1.0"

logging.getLogger("twgtm").addHandler(logging.NullHandler())

# name -> the module (under twgtm) that defines it, imported on first use.
_LAZY = {
    # loading and the pipelines of each family
    "load_model": "loading",
    "Pipeline": "verbs",
    "TWGTMPipeline": "sampling.pipeline",
    "ProfilePipeline": "families.profile_pipeline",
    "A2APipeline": "families.a2a.pipeline",
    "roundtrip_pair": "families.roundtrip",
    # what the verbs return
    "ImageResult": "results",
    "TryOnResult": "results",
    "TryOffResult": "results",
    "RoundTripResult": "results",
    "ProfileTryOnResult": "families.results",
    "ProfileTryOffResult": "families.results",
    "A2AResult": "families.a2a.pipeline",
    # images and masks
    "load_image": "pixels",
    "load_mask": "pixels",
    "save_image": "pixels",
    "category_box": "masks",
    "AutoMask": "parsing.auto_mask",
    "load_parser": "parsing.parser",
    # for hosts (ComfyUI): encoded references, memory hooks, part placement
    "EncodedReference": "sampling.reference",
    "MemoryHooks": "sampling.oom",
    "Placement": "sampling.placement",
    "SequentialPlacement": "sampling.placement",
}

__all__ = [*_LAZY, "TWGTMError", "ConfigError", "InputError", "CheckpointError", "DataError", "MetricUnavailable",
           "SamplingCancelled", "OutOfMemory", "UnsupportedTask", "__version__"]


def __getattr__(name):
    """The public names of `_LAZY`, imported on first use (and then kept on the package)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'twgtm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    """The module's names, the lazy ones included."""
    return sorted(set(globals()) | set(_LAZY))
