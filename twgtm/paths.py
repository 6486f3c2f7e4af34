"""Where the pack keeps its files: the shipped demo checkpoint and the base-model configs."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACK_ROOT = PACKAGE_DIR.parent
# The demo model (trained on the toy wardrobe): what `load_model()` loads when no checkpoint is given,
# and the ComfyUI loader's default file. The environment variable TWGTM_DEMO_CHECKPOINT points it elsewhere.
WEIGHTS_DIR = PACK_ROOT / "weights"  # weights shipped inside the pack
DEMO_WEIGHTS = "twgtm-demo.safetensors"
DEMO_CHECKPOINT = Path(os.environ.get("TWGTM_DEMO_CHECKPOINT", WEIGHTS_DIR / DEMO_WEIGHTS))
# Configs of the SD1.5-inpainting UNet and VAE, shipped so that no hub access is needed.
CONFIG_DIR = PACKAGE_DIR / "weights" / "configs"
