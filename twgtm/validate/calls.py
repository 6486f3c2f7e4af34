"""The checks of one call: a `TWGTMPipeline` call (the Python API and the batch path) and a ComfyUI node's
inputs as its schema declares them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..errors import InputError
from .paths import check_model_name
from .tensors import check_comfy_image, check_comfy_mask, check_mask, check_mask_present, check_pixels
from .values import check_choice, check_number, check_prompt, check_text, check_value


# ----- the Python API (and the batch path through it) ---------------------------------------------
def check_sampling(task: str, config, images: dict, masks: dict | None = None, *, prompt=None,
                   takes_text: bool = True, **values) -> None:
    """Check one `TWGTMPipeline` call (`task`: 'tryon', 'tryoff', 'round trip', 'encode') for the model `config`.

    `images`: argument name -> pixels (None: not given); `masks`: name -> (mask or None, whether the
    task needs it non-empty); the prompt(s) against the model's prompt length, the seed(s) and every
    value with a rule in RULES (steps, guidance, scheduler, size, mask_mode, repaint_blur).
    """
    for name, pixels in images.items():
        if pixels is not None:
            check_pixels(pixels, name)
    for name, (mask, needed) in (masks or {}).items():
        if mask is not None:
            check_mask(mask, name)
            if needed:
                check_mask_present(mask, name, task)
    if prompt is not None:
        max_bytes = config.prompt_max_length - 2  # BOS and EOS
        for i, text in enumerate(prompt if isinstance(prompt, (list, tuple)) else [prompt]):
            label = "prompt" if not isinstance(prompt, (list, tuple)) else f"prompt[{i}]"
            check_prompt(text, label, max_bytes=max_bytes, takes_text=takes_text)
    seed = values.pop("seed", None)
    for i, one in enumerate(seed if isinstance(seed, (list, tuple)) else [seed]):
        check_value("seed", one, "seed" if not isinstance(seed, (list, tuple)) else f"seed[{i}]")
    for name, value in values.items():
        check_value(name, value)


# ----- ComfyUI nodes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputSpec:
    """One node input as its schema declares it (nodes/validation.py reads the V3 schema into these)."""

    name: str
    kind: str  # "combo", "file", "int", "float", "boolean", "string", "image", "mask" or "other"
    options: tuple = ()
    low: float | None = None
    high: float | None = None


def check_node_inputs(node: str, specs: Iterable[InputSpec], values: dict) -> None:
    """Check every given input value of node `node` (its display name) against its schema entry."""
    for spec in specs:
        value = values.get(spec.name)
        if value is None:
            continue
        label = f"{node}: input '{spec.name}'"
        if spec.kind == "combo":
            check_choice(value, spec.options, label)
        elif spec.kind == "file":
            check_model_name(value, label)
        elif spec.kind in ("int", "float"):
            check_number(value, label, spec.low, spec.high, integer=spec.kind == "int")
        elif spec.kind == "boolean" and not isinstance(value, bool):
            raise InputError(f"{label} must be true or false, got {value!r}")
        elif spec.kind == "string":
            check_text(value, label)
        elif spec.kind == "image":
            check_comfy_image(value, label)
        elif spec.kind == "mask":
            check_comfy_mask(value, label)
