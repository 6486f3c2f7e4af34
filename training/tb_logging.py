"""TensorBoard scalars and images of a training run, written by the main process."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger("twgtm")


class TensorBoardLogger:
    """Writes to `<output_dir>/logs` when enabled (a warning, and nothing written, if tensorboard is missing)."""

    def __init__(self, output_dir: Path, enabled: bool):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
            return
        self.writer = SummaryWriter(str(Path(output_dir) / "logs"))

    def scalars(self, values: dict, step: int) -> None:
        """One scalar per name at global step `step`."""
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def image(self, tag: str, image: torch.Tensor, step: int) -> None:
        """A (3,H,W) image in [0,1]."""
        if self.writer is not None:
            self.writer.add_image(tag, image, step)

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
