"""The shared vocabulary: the names a user types or picks, each list written once, with its parser.

- weight precisions: `fp32`, `fp16`, `bf16` (and their torch spellings) <-> torch dtypes;
- devices: `cpu`, `cuda`, `cuda:1`, `mps` <-> torch devices (checked to exist);
- garment categories `upper`, `lower`, `dress`, the Q-Former prompt of each, and the spellings
  public data sets use for them;
- tasks `tryon`, `tryoff`, `roundtrip`;
- try-off mask modes `bbox` (the box of the predicted garment mask) and `full` (the whole half);
- samplers (`ddim`, `dpmpp_2m`, `euler`, `unipc` and their aliases) and the most steps they take.

Every parser returns the canonical name (or the torch object) and raises a ConfigError that lists
the choices. Importing this module does not import torch (the CLI builds its argument lists from
it before loading anything heavy).
"""
from __future__ import annotations

from .errors import ConfigError

# ----- weight precision ---------------------------------------------------------------------------
# Short name -> torch attribute; the short names are the choices shown in the CLI and the nodes.
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
DTYPE_ALIASES = {"float32": "fp32", "float": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}
# Every accepted spelling, for argument parsers: fp32, fp16, bf16, float32, float16, bfloat16.
DTYPE_CHOICES = (*DTYPES, "float32", "float16", "bfloat16")


def parse_dtype(name):
    """A torch dtype from 'fp32' / 'float16' / 'bf16' ... (or a torch dtype, returned as is)."""
    import torch

    if isinstance(name, torch.dtype):
        return name
    key = str(name).strip().lower().removeprefix("torch.")
    key = DTYPE_ALIASES.get(key, key)
    if key not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPE_CHOICES)}")
    return getattr(torch, DTYPES[key])


def dtype_name(dtype) -> str:
    """The short name ('fp32', 'fp16', 'bf16') of a torch dtype or of any accepted spelling."""
    target = parse_dtype(dtype)
    import torch

    return next(short for short, attr in DTYPES.items() if getattr(torch, attr) == target)


# ----- devices ------------------------------------------------------------------------------------
DEVICE_KINDS = ("cpu", "cuda", "mps")


def parse_device(name):
    """A torch device from 'cpu' / 'cuda' / 'cuda:1' / 'mps' (or a torch device) that exists here."""
    import torch

    try:
        device = name if isinstance(name, torch.device) else torch.device(str(name).strip().lower())
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_KINDS)} "
                          "(cuda:N for the N-th GPU)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {name!r}: this torch sees no CUDA GPU (torch {torch.__version__}); "
                              "use the device cpu, or install a CUDA build of torch")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {name!r}: there are {count} CUDA GPU(s), numbered 0 to {count - 1}")
    elif device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"device {name!r}: Apple's MPS backend is not available here; use the device cpu")
    elif device.type not in DEVICE_KINDS:
        raise ConfigError(f"device {name!r} is not supported; choose one of {', '.join(DEVICE_KINDS)}")
    return device


# ----- garment categories -------------------------------------------------------------------------
GARMENT_CATEGORIES = ("upper", "lower", "dress")
# The instruction prompt the Q-Former reads for each category.
CATEGORY_PROMPTS = {"upper": "upper garment", "lower": "lower garment", "dress": "dress"}
# DressCode folder names, label codes and other spellings seen in public loaders.
CATEGORY_ALIASES = {
    "upper": "upper", "upper_body": "upper", "top": "upper", "tops": "upper", "0": "upper",
    "lower": "lower", "lower_body": "lower", "bottom": "lower", "bottoms": "lower", "1": "lower",
    "dress": "dress", "dresses": "dress", "2": "dress",
}


def parse_category(name: str) -> str:
    """'upper' | 'lower' | 'dress' from any known spelling ('upper_body', 'dresses', '0', ...)."""
    key = str(name).strip().lower()
    if key not in CATEGORY_ALIASES:
        raise ConfigError(f"unknown garment category {name!r}; use one of {', '.join(GARMENT_CATEGORIES)} "
                          f"(also accepted: {', '.join(k for k in CATEGORY_ALIASES if k not in GARMENT_CATEGORIES)})")
    return CATEGORY_ALIASES[key]


def is_category(text: str) -> bool:
    """Whether `text` names a garment category (else it is a free-text prompt)."""
    return str(text).strip().lower() in CATEGORY_ALIASES


# ----- tasks and try-off mask modes ---------------------------------------------------------------
TASKS = ("tryon", "tryoff", "roundtrip")
# The tasks that sample one canvas (a round trip is a try-off, then a try-on).
CANVAS_TASKS = ("tryon", "tryoff")
# Where try-off generates the garment: the box of the SRM-predicted garment mask, or the whole half.
TRYOFF_MASK_MODES = ("bbox", "full")


def parse_task(name: str, choices: tuple = TASKS) -> str:
    """A task name among `choices` ('tryon', 'tryoff', 'roundtrip'), spelled in any case."""
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    if key not in choices:
        raise ConfigError(f"unknown task {name!r}; choose one of {', '.join(choices)}")
    return key


def parse_mask_mode(name: str) -> str:
    """A try-off mask mode: 'bbox' (box of the predicted garment mask) or 'full' (the whole half)."""
    key = str(name).strip().lower()
    if key not in TRYOFF_MASK_MODES:
        raise ConfigError(f"unknown try-off mask_mode {name!r}; choose one of {', '.join(TRYOFF_MASK_MODES)} "
                          "(or give a mask)")
    return key


# ----- samplers -----------------------------------------------------------------------------------
# The diffusers schedulers twgtm.sampling.schedulers builds, and other spellings users type.
SCHEDULERS = ("ddim", "dpmpp_2m", "euler", "unipc")
SCHEDULER_ALIASES = {"dpm++": "dpmpp_2m", "dpm-solver++": "dpmpp_2m", "dpmsolver++": "dpmpp_2m", "dpmpp": "dpmpp_2m"}
# SD1.5's 1000 training timesteps with "leading" spacing and steps_offset 1: 1000 steps would ask for
# timestep 1000, past the schedule.
MAX_STEPS = 999


def parse_scheduler(name: str) -> str:
    """A sampler name ('ddim', 'dpmpp_2m', 'euler', 'unipc') from any accepted spelling ('DPM++', 'dpmpp', ...)."""
    key = str(name).strip().lower().replace(" ", "")
    key = SCHEDULER_ALIASES.get(key, key)
    if key not in SCHEDULERS:
        raise ConfigError(f"unknown scheduler {name!r}; choose one of {list(SCHEDULERS)} "
                          f"(aliases {sorted(SCHEDULER_ALIASES)})")
    return key
