"""TWGTM: the Two-Way Garment Transfer Model (try-on and try-off with one diffusion model).

Pure PyTorch; never imports ComfyUI. `twgtm.load_model(...)` builds a model from files (see
`twgtm.weights.loader`); importing the package itself loads neither torch nor any model code.
"""
import logging

from .errors import CheckpointError, ConfigError, DataError, InputError, TWGTMError

__version__ = "0.1.0"

logging.getLogger("twgtm").addHandler(logging.NullHandler())

__all__ = ["TWGTMError", "ConfigError", "InputError", "CheckpointError", "DataError", "load_model", "__version__"]


def __getattr__(name):
    """`twgtm.load_model`, imported on first use."""
    if name == "load_model":
        from .weights.loader import load_model

        return load_model
    raise AttributeError(f"module 'twgtm' has no attribute {name!r}")
