"""Exponential moving average of the trainable parameters, with the usual warm-up of the decay."""
from __future__ import annotations

import torch
import torch.nn as nn

from twgtm.errors import CheckpointError


class EMA:
    """Shadow copies of `model`'s parameters named in `names`; decay min(decay, (1 + n) / (10 + n))."""

    def __init__(self, model: nn.Module, names: list[str], decay: float):
        params = dict(model.named_parameters())
        self.names = list(names)
        self.decay = float(decay)
        self.updates = 0
        self.shadow = {n: params[n].detach().float().clone() for n in self.names}

    def current_decay(self) -> float:
        """The decay of the next update (warm-up: small at first)."""
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the averages towards the model's current weights."""
        decay = self.current_decay()
        params = dict(model.named_parameters())
        for name in self.names:
            self.shadow[name].lerp_(params[name].detach().float(), 1.0 - decay)
        self.updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Write the averaged weights into `model`."""
        params = dict(model.named_parameters())
        for name in self.names:
            params[name].copy_(self.shadow[name].to(params[name].dtype))

    @torch.no_grad()
    def swap(self, model: nn.Module) -> None:
        """Exchange the model's weights and the averages (call twice to restore)."""
        params = dict(model.named_parameters())
        for name in self.names:
            current = params[name].detach().float().clone()
            params[name].copy_(self.shadow[name].to(params[name].dtype))
            self.shadow[name] = current.to(self.shadow[name].device)

    def state_dict(self) -> dict:
        """The averages (on the CPU), the number of updates and the decay."""
        return {"shadow": {n: t.cpu() for n, t in self.shadow.items()}, "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict, source: str = "the checkpoint") -> None:
        """Continue from a saved `state_dict`; `source` names the file in error messages."""
        missing = sorted(set(self.names) - set(state["shadow"]))
        if missing:
            raise CheckpointError(f"the EMA weights in {source} lack {len(missing)} trainable parameters of this "
                                  f"stage (e.g. {missing[:3]}): it was saved by another stage or model preset; "
                                  f"resume from a checkpoint of the same config, or start the stage afresh "
                                  f"with model.init=<its model.safetensors>")
        wrong = [n for n in self.names if state["shadow"][n].shape != self.shadow[n].shape]
        if wrong:
            raise CheckpointError(f"the EMA weights in {source} have other shapes than the model (e.g. {wrong[0]}: "
                                  f"{tuple(state['shadow'][wrong[0]].shape)} vs {tuple(self.shadow[wrong[0]].shape)}); "
                                  f"it belongs to another model preset: resume with the config it was trained with")
        device = next(iter(self.shadow.values())).device if self.shadow else "cpu"
        self.shadow = {n: state["shadow"][n].float().to(device) for n in self.names}
        self.updates = int(state["updates"])
