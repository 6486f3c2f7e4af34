"""TWGTM: the Two-Way Garment Transfer Model (try-on and try-off with one diffusion model).

Pure PyTorch; never imports ComfyUI.
"""
import logging

from .errors import CheckpointError, ConfigError, DataError, InputError, TWGTMError

__version__ = "0.1.0"

logging.getLogger("twgtm").addHandler(logging.NullHandler())

__all__ = ["TWGTMError", "ConfigError", "InputError", "CheckpointError", "DataError", "__version__"]
