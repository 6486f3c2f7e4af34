"""The checks of one call: a pipeline verb (the Python API and the batch path, every model family) and a
ComfyUI node's inputs as its schema declares them."""
from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from ..errors import InputError
from .paths import check_model_name
from .tensors import check_comfy_image, check_comfy_mask, check_mask, check_mask_present, check_pixels
from .values import RULES, check_choice, check_number, check_prompt, check_text


# ----- a call's arguments ---------------------------------------------------------------------------
def call_arguments(signature: inspect.Signature, args: tuple, kwargs: dict) -> dict:
    """The arguments a call gives, by parameter name; a `**options` parameter's entries as their own names."""
    values = {}
    for name, value in signature.bind_partial(*args, **kwargs).arguments.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            values.update(value)
        else:
            values[name] = value
    return values


# ----- the Python API: every pipeline's verbs ------------------------------------------------------
IMAGE_ARGUMENTS = ("person", "garment", "person_a", "person_b", "image")  # pixels (B,3,H,W) in [-1, 1]
MASK_ARGUMENTS = ("mask", "mask_a", "mask_b")  # masks (B,1,H,W) in [0, 1] (or a mask source)
PER_ITEM = ("seed", "prompt")  # one value, or one per item
TASK_NAMES = {"tryon": "try-on", "tryoff": "try-off", "roundtrip": "round trip", "layered": "layered try-on"}


@dataclass(frozen=True)
class CallRules:
    """What one family's verbs accept: a rule per value name, the prompts its model reads, whether it takes masks."""

    values: Mapping = field(default_factory=lambda: RULES)  # name -> Number / Choice / Size (RULES by default)
    prompt_bytes: int | None = None  # the UTF-8 bytes of a free-text prompt the model reads (None: any text)
    takes_text: bool = True  # False: the model reads no text, only a category is meaningful
    masks: bool = True  # False: the family is mask-free (its verbs refuse a mask themselves)


def _each(name: str, value) -> list[tuple[str, object]]:
    """(label, value) of a per-item value: `seed` or `seed[1]`."""
    if name in PER_ITEM and isinstance(value, (list, tuple)):
        return [(f"{name}[{i}]", one) for i, one in enumerate(value)]
    return [(name, value)]


def check_call(verb: str, arguments: dict, rules: CallRules) -> None:
    """Check the arguments of one pipeline call (`verb`: its method) before any work starts.

    By name: images (`person`, `garment`, `person_a`, `person_b`, `image`) as pixels; masks (`mask`,
    `mask_a`, `mask_b`) in range, each item holding something to redraw; prompts as the model reads
    them; every value with a rule in `rules.values` (steps, guidance, seed, scheduler, size, mask_mode,
    repaint_blur). None passes (the default applies); a name without a rule (callback, cancel,
    reference, ...) is the verb's own. `mask_mode` is not checked where a mask overrides it.
    """
    task = TASK_NAMES.get(verb, verb)
    masked = any(arguments.get(name) is not None for name in ("mask", "mask_a"))
    for name, value in arguments.items():
        if value is None or (name == "mask_mode" and masked):
            continue
        if name in IMAGE_ARGUMENTS:
            check_pixels(value, name)
        elif name in MASK_ARGUMENTS:
            if rules.masks:
                check_mask(value, name)
                check_mask_present(value, name, task)
        elif name == "prompt":
            for label, text in _each(name, value):
                check_prompt(text, label, max_bytes=rules.prompt_bytes, takes_text=rules.takes_text)
        elif name in rules.values:
            for label, one in _each(name, value):
                rules.values[name].check(one, label)


_IN_A_VERB = ContextVar("twgtm_in_a_verb", default=False)


def checked(method: Callable, verb: str) -> Callable:
    """`method` (a pipeline verb) checking its arguments with `self.call_rules()` first.

    A verb called by another verb of the same call (a round trip's try-off and try-on) is not checked
    again: the outer call checked what the user gave, the inner one gets the pipeline's own values.
    """
    signature = inspect.signature(method)

    @functools.wraps(method)
    def verb_call(self, *args, **kwargs):
        if _IN_A_VERB.get():
            return method(self, *args, **kwargs)
        try:
            arguments = call_arguments(signature, (self, *args), kwargs)
        except TypeError:  # a wrong call: Python's own error, from the method itself
            return method(self, *args, **kwargs)
        arguments.pop(next(iter(signature.parameters)), None)  # self
        check_call(verb, arguments, self.call_rules())
        token = _IN_A_VERB.set(True)
        try:
            return method(self, *args, **kwargs)
        finally:
            _IN_A_VERB.reset(token)

    verb_call.checks_inputs = True
    return verb_call


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
