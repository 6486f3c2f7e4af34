"""Where the pack keeps its files: the shipped demo checkpoint and the base-model configs."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACK_ROOT = PACKAGE_DIR.parent
# The demo model the CLI uses when no --checkpoint is given (trained on the toy wardrobe);
# the environment variable TWGTM_DEMO_CHECKPOINT points it elsewhere.
DEMO_CHECKPOINT = Path(os.environ.get("TWGTM_DEMO_CHECKPOINT", PACK_ROOT / "weights" / "twgtm-demo.safetensors"))
# Configs of the SD1.5-inpainting UNet and VAE, shipped so that no hub access is needed.
CONFIG_DIR = PACKAGE_DIR / "weights" / "configs"
