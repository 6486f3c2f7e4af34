"""Where the model's parts sit while a call runs: all together (default), or one phase's parts at a time.

A sampling call has phases that each need only some parts: the reference encoders (SAM, SRM), the
VAE (encoding the masked canvas, decoding the result) and the UNet with its extended-attention
weights (the denoising loop). `Placement` leaves every part where it is and computes on the device
of the model's weights, as a host that loads the whole model expects. `SequentialPlacement` keeps
the model on an offload device and moves only the running phase's parts to the compute device,
sending the others back first: the peak then holds the largest part instead of all of them (what
ComfyUI's --lowvram / --novram ask for). A `before_load(nbytes, device)` hook lets the host free
memory for the part about to arrive.
"""
from __future__ import annotations

import logging
from typing import Callable

import torch

from ..errors import ConfigError
from ..model.network import TWGTM

log = logging.getLogger("twgtm")

__all__ = ["PHASE_PARTS", "Placement", "SequentialPlacement", "module_bytes"]

# The model parts each phase of a call runs.
PHASE_PARTS = {"encoders": ("sam", "srm"), "vae": ("vae",), "unet": ("unet", "extended_attention")}
ALL_PARTS = tuple(dict.fromkeys(p for parts in PHASE_PARTS.values() for p in parts))


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def _device_of(module: torch.nn.Module) -> torch.device | None:
    first = next(module.parameters(), None)
    return None if first is None else first.device


class Placement:
    """Every part stays where it is; work runs on the device of the model's (UNet's) weights.

    Args:
        model: the TWGTM network.
    """

    def __init__(self, model: TWGTM):
        self.model = model
        self.phase: str | None = None  # the phase last asked for

    @property
    def device(self) -> torch.device:
        """The compute device."""
        return next(self.model.parameters()).device

    def use(self, phase: str) -> None:
        """Make the parts of `phase` ('encoders', 'vae', 'unet') ready on `device` (here: nothing to move)."""
        self.phase = phase

    def finish(self) -> None:
        """After a call (here: nothing to move back)."""
        self.phase = None


class SequentialPlacement(Placement):
    """Only the running phase's parts on `device`; the rest, and everything between calls, on `offload_device`.

    Args:
        model: the TWGTM network.
        device: the compute device.
        offload_device: where parts wait.
        before_load: called with (bytes, device) before a part moves there, so the host can free memory.
    """

    def __init__(self, model: TWGTM, device, offload_device, before_load: Callable[[int, torch.device], None] | None = None):
        super().__init__(model)
        self._device = torch.device(device)
        self.offload_device = torch.device(offload_device)
        self.before_load = before_load
        self.loads: list[str] = []  # the phases loaded, in order (for logs and tests)

    @property
    def device(self) -> torch.device:
        """The compute device (the parts move there one phase at a time)."""
        return self._device

    def use(self, phase: str) -> None:
        """Send the other parts to the offload device, then bring this phase's parts to the compute device."""
        if phase not in PHASE_PARTS:
            raise ConfigError(f"unknown phase {phase!r}; expected one of {sorted(PHASE_PARTS)}")
        wanted = PHASE_PARTS[phase]
        for name in ALL_PARTS:
            module = getattr(self.model, name)
            if name not in wanted and _device_of(module) == self._device:
                module.to(self.offload_device)
        arriving = [getattr(self.model, name) for name in wanted if _device_of(getattr(self.model, name)) != self._device]
        if arriving:
            nbytes = sum(module_bytes(m) for m in arriving)
            if self.before_load is not None:
                self.before_load(nbytes, self._device)
            for module in arriving:
                module.to(self._device)
            log.debug("TWGTM %s parts %s moved to %s (%.1f MB)", phase, list(wanted), self._device, nbytes / 2**20)
        self.loads.append(phase)
        self.phase = phase

    def finish(self) -> None:
        """Every part back on the offload device."""
        for name in ALL_PARTS:
            module = getattr(self.model, name)
            if _device_of(module) == self._device and self._device != self.offload_device:
                module.to(self.offload_device)
        self.phase = None
