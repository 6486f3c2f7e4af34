"""The round trip with two models: a try-off model takes A's garment off, a try-on model dresses B in it.

With public weights that is TryOffAnyone then CatVTON (each does one task); either may also be a TWGTM
checkpoint. The pair is checked before anything runs: a model that cannot do its step (the pair given
in the wrong order, or a try-on model in the try-off place) is a ConfigError that says which goes where.
"""
from __future__ import annotations

import logging

import torch

from ..errors import ConfigError
from ..sampling.inputs import broadcast
from ..results import RoundTripResult
from ..sampling.tasks import category_masks

log = logging.getLogger("twgtm")


def _name(pipe) -> str:
    """How errors name a pipeline's model: its profile, or 'the TWGTM model'."""
    return {"twgtm": "the TWGTM model", "a2a": "the Any2AnyTryon model"}.get(pipe.family, f"profile {pipe.family}")


def check_pair(tryoff_pipe, tryon_pipe) -> None:
    """A ConfigError unless the first pipeline does try-off and the second try-on."""
    off_ok, on_ok = "tryoff" in tryoff_pipe.tasks, "tryon" in tryon_pipe.tasks
    if off_ok and on_ok:
        return
    if not off_ok and not on_ok and "tryon" in tryoff_pipe.tasks and "tryoff" in tryon_pipe.tasks:
        raise ConfigError(f"the round trip got its models in the wrong order: the first (try-off) model is "
                          f"{_name(tryoff_pipe)}, which does try-on, and the second (try-on) model is {_name(tryon_pipe)}, "
                          "which does try-off; swap them (the try-off model, e.g. tryoffanyone, comes first)")
    bad = [(where, pipe) for where, pipe, ok in (("try-off", tryoff_pipe, off_ok), ("try-on", tryon_pipe, on_ok)) if not ok]
    where, pipe = bad[0]
    raise ConfigError(f"the round trip's {where} model is {_name(pipe)}, which does only {'/'.join(pipe.tasks)}; give a "
                      f"model that does {where} there (TryOffAnyone for try-off, CatVTON for try-on, or a TWGTM checkpoint)")


def roundtrip_pair(tryoff_pipe, tryon_pipe, person_a: torch.Tensor, person_b: torch.Tensor | None = None, *,
                   mask_a=None, mask_b=None, mask_mode: str = "bbox", prompt="upper", seed=0, steps=None, guidance=None,
                   scheduler=None, size_a=None, size_b=None, repaint: bool = False, callback=None,
                   cancel=None) -> RoundTripResult:
    """Take A's garment off with `tryoff_pipe`, then dress B (default A) in it with `tryon_pipe`.

    Args:
        tryoff_pipe: a pipeline that does try-off (TryOffAnyone, or a TWGTM model).
        tryon_pipe: a pipeline that does try-on (CatVTON, or a TWGTM model).
        person_a: (B,3,H,W) persons whose garment is taken.
        person_b: (1|B,3,H',W') persons to dress (default: A).
        mask_a: the garment region on A (a TryOffAnyone model needs it; a mask source works too).
        mask_b: the try-on region on B (a mask source works too; default: the category's body box).
        mask_mode, prompt, seed, scheduler, repaint, callback, cancel: as the pipelines' verbs.
        steps, guidance: default to each model's own.
        size_a, size_b: each model's working size.

    Returns:
        RoundTripResult: `garments` (the try-off), `dressed` (the try-on).
    """
    check_pair(tryoff_pipe, tryon_pipe)
    common = dict(seed=seed, steps=steps, guidance=guidance, scheduler=scheduler, callback=callback, cancel=cancel)
    off = tryoff_pipe.tryoff(person_a, prompt=prompt, mask_mode=mask_mode, mask=mask_a, size=size_a, **common)
    b = off.images.shape[0]
    person_b = person_a if person_b is None else broadcast(person_b, b, "person_b", 3)
    if mask_b is None:
        mask_b = category_masks(prompt, person_b)
    on = tryon_pipe.tryon(person_b, off.images, mask_b, prompt=prompt, size=size_b, repaint=repaint, **common)
    return RoundTripResult(garments=off, dressed=on)
