"""Values: numbers finite and in range, names in their vocabulary (twgtm.vocab), prompts a model reads,
devices this machine has with the memory for the weights; and RULES, the rule of each sampling value."""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import Callable, Iterable

from ..errors import ConfigError, InputError
from ..vocab import (DTYPE_CHOICES, GARMENT_CATEGORIES, MAX_STEPS, SCHEDULERS, TRYOFF_MASK_MODES, dtype_name,
                     is_category, parse_category, parse_device, parse_mask_mode, parse_scheduler)

SEED_MAX = 2 ** 64 - 1  # torch.Generator's seed range, as ComfyUI's KSampler
GUIDANCE_RANGE = (1.0, 20.0)  # 1 turns classifier-free guidance off
MAX_WORKING_SIDE = 8192  # the largest working size side, in pixels
MAX_TEXT_BYTES = 1024  # a text input (a prompt) longer than this is no prompt any model reads


# ----- numbers and names --------------------------------------------------------------------------
def _span(low, high) -> str:
    if low is not None and high is not None:
        return f" between {low} and {high}"
    if low is not None:
        return f" of at least {low}"
    return "" if high is None else f" of at most {high}"


def check_number(value, label: str, low=None, high=None, *, integer: bool = False, hint: str = ""):
    """`value` as an int (`integer`) or float: a real number, finite, in [low, high]; ConfigError naming `label`."""
    kind = ("a whole number" if integer else "a number") + _span(low, high)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{label} must be {kind}, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ConfigError(f"{label} must be {kind}, got {value} (not a finite number)")
    if integer and value != int(value):
        raise ConfigError(f"{label} must be {kind}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{label} must be{_span(low, high)}, got {value}" + (f"; {hint}" if hint else ""))
    return int(value) if integer else float(value)


def check_choice(value, choices: Iterable[str], label: str, parse: Callable[[str], str] | None = None) -> str:
    """`value` as its canonical name among `choices` (`parse` maps accepted spellings); ConfigError naming `label`."""
    choices = tuple(choices)
    if not isinstance(value, str):
        raise ConfigError(f"{label} must be one of {', '.join(choices)}, got {value!r} ({type(value).__name__})")
    if parse is not None:
        try:
            return parse(value)
        except ConfigError as err:
            raise ConfigError(f"{label}: {err}") from None
    if value not in choices:
        raise ConfigError(f"{label} is {value!r}, not one of {', '.join(choices)}; pick one of them")
    return value


@dataclass(frozen=True)
class Number:
    """A numeric value's rule: range and whether it is a whole number."""

    low: float | None = None
    high: float | None = None
    integer: bool = False
    hint: str = ""

    def check(self, value, label: str):
        """The checked value."""
        return check_number(value, label, self.low, self.high, integer=self.integer, hint=self.hint)


@dataclass(frozen=True)
class Choice:
    """A name from a vocabulary, with the parser that accepts its other spellings."""

    choices: tuple
    parse: Callable[[str], str] | None = None

    def check(self, value, label: str) -> str:
        """The canonical name."""
        return check_choice(value, self.choices, label, self.parse)


def check_value(name: str, value, label: str | None = None):
    """`value` checked by the rule of `name` (see RULES); None passes (the default applies)."""
    return value if value is None else RULES[name].check(value, label or name)


def check_size(size, label: str = "size", low: int = 1, high: int = MAX_WORKING_SIDE) -> tuple[int, int] | None:
    """A working size: None, one side for both, or (height, width), each a whole number in [low, high]."""
    if size is None:
        return None
    if isinstance(size, numbers.Real) and not isinstance(size, bool):
        size = (size, size)
    if isinstance(size, (str, bytes)) or not isinstance(size, Iterable):
        raise InputError(f"{label} must be (height, width) in pixels, got {size!r}")
    size = tuple(size)
    if len(size) != 2:
        raise InputError(f"{label} must be (height, width) in pixels, got {size!r}")
    return (check_number(size[0], f"{label} height", low, high, integer=True),
            check_number(size[1], f"{label} width", low, high, integer=True))


@dataclass(frozen=True)
class Size:
    """A working size's rule: each side a whole number of pixels in [low, high]."""

    low: int = 1
    high: int = MAX_WORKING_SIDE

    def check(self, value, label: str) -> tuple[int, int] | None:
        """The checked (height, width)."""
        return check_size(value, label, self.low, self.high)


# The rule of every sampling value, by the name the Python API, the CLI (flag dest) and the nodes share.
RULES = {
    "steps": Number(1, MAX_STEPS, integer=True, hint="20-50 is typical"),
    "guidance": Number(*GUIDANCE_RANGE, hint="1 turns guidance off, 2-3 is typical"),
    "seed": Number(0, SEED_MAX, integer=True),
    "repaint_blur": Number(0, MAX_WORKING_SIDE, integer=True),
    "scheduler": Choice(SCHEDULERS, parse_scheduler),
    "category": Choice(GARMENT_CATEGORIES, parse_category),
    "mask_mode": Choice(TRYOFF_MASK_MODES, parse_mask_mode),
    "dtype": Choice(DTYPE_CHOICES, dtype_name),
    "count": Number(1, 1000, integer=True),
    "size": Size(),
}



def a2a_rules() -> dict:
    """RULES with Any2AnyTryon's own ranges: FLUX's distilled guidance, its step limit, target sides up to its
    largest (the smallest, and multiples of 16, are its canvas planner's to say)."""
    from ..families.a2a.layout import MAX_SIDE
    from ..families.a2a.schedule import MAX_STEPS as A2A_MAX_STEPS

    return {**RULES, "guidance": Number(0.0, 30.0, hint="FLUX.1-dev's distilled guidance, 3.5 as published"),
            "steps": Number(1, A2A_MAX_STEPS, integer=True, hint="30 as published"), "size": Size(1, MAX_SIDE)}

def check_text(text, label: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """Text typed into a node or flag: a string on one line, of at most `max_bytes` UTF-8 bytes."""
    if not isinstance(text, str):
        raise InputError(f"{label} must be text, got {text!r} ({type(text).__name__})")
    if any(ord(c) < 32 for c in text.strip()):
        raise InputError(f"{label} {text[:40]!r} holds control characters; write it on one line")
    if len(text.encode("utf-8")) > max_bytes:
        raise InputError(f"{label} is {len(text.encode('utf-8'))} bytes long ({text[:20]!r}...); give at most "
                         f"{max_bytes}")
    return text


def check_prompt(prompt, label: str = "prompt", *, max_bytes: int | None = None, takes_text: bool = True) -> str:
    """A garment category or a free-text prompt: text, not empty, fitting the model's prompt length.

    `max_bytes`: the UTF-8 bytes the model's tokenizer reads (a longer text would be cut); `takes_text`
    False: the model reads no text (a profile): only a category is meaningful.
    """
    if not isinstance(prompt, str):
        raise InputError(f"{label} must be a garment category ({', '.join(GARMENT_CATEGORIES)}) or text, got "
                         f"{prompt!r} ({type(prompt).__name__})")
    text = prompt.strip()
    if not text:
        raise InputError(f"{label} is empty; give a category ({', '.join(GARMENT_CATEGORIES)}) or a garment text")
    if is_category(text):
        return parse_category(text)
    check_text(text, label)
    if not takes_text:
        raise InputError(f"{label} {text!r}: this model reads no text prompt (it takes the garment from the image); "
                         f"give a category ({', '.join(GARMENT_CATEGORIES)}) or leave the prompt empty")
    if max_bytes is not None and len(text.encode("utf-8")) > max_bytes:
        raise InputError(f"{label} {text!r} is {len(text.encode('utf-8'))} bytes; this model reads at most {max_bytes} "
                         "(a longer prompt would be cut): shorten it")
    return text


# ----- devices ------------------------------------------------------------------------------------
def check_device(name, label: str = "device"):
    """A torch device that exists here (see twgtm.vocab.parse_device), the error naming `label`."""
    try:
        return parse_device(name)
    except ConfigError as err:
        raise ConfigError(f"{label}: {err}") from None


def device_memory(device) -> int | None:
    """Bytes of memory a device has in all (a GPU's, the machine's RAM for the CPU); None where unknown."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device.index or 0).total_memory)
    if device.type == "cpu" and hasattr(os, "sysconf"):
        try:
            return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError):
            return None
    return None


def check_device_memory(device, weight_bytes: int, label: str = "device") -> None:
    """Refuse a device whose memory, in all, is smaller than the model's weights (where that can be known)."""
    total = device_memory(device)
    if total is not None and weight_bytes > total:
        raise ConfigError(f"{label} {device}: the model's weights take {weight_bytes / 2**30:.1f} GiB but the device "
                          f"has {total / 2**30:.1f} GiB in all; use a device with more memory or a smaller dtype "
                          "(bf16 / fp16 halve it)")


def check_model_fits(model, device, dtype=None, label: str = "device") -> None:
    """Refuse to move `model` (its parameters and buffers, floating ones cast to `dtype` when given) to a device
    with less memory in all than they take."""
    tensors = [*model.parameters(), *model.buffers()]
    size = sum(t.numel() * (dtype.itemsize if dtype is not None and t.is_floating_point() else t.element_size())
               for t in tensors)
    check_device_memory(device, size, label)
