"""One training loop per stage, sharing `StageLoop` (base.py); `STAGE_LOOPS` maps a stage name to its loop."""
from .base import RunContext, StageLoop
from .diffusion import DiffusionStage
from .srm import SRMStage
from .vae import VAEStage

STAGE_LOOPS: dict[str, type[StageLoop]] = {"vae": VAEStage, "stage1": DiffusionStage, "stage2": DiffusionStage,
                                           "srm": SRMStage}

__all__ = ["STAGE_LOOPS", "RunContext", "StageLoop", "DiffusionStage", "SRMStage", "VAEStage"]
