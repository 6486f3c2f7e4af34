"""The batch job's one contact with the models: what a job's model does, loading it once, running a batch.

Everything here reads the model options of the job (`ModelSpec`) or calls a pipeline; the rest of
`twgtm.batch` knows items, files and processes only. Every model loads through `twgtm.load_model` (a
TWGTM checkpoint, a CatVTON / TryOffAnyone profile, Any2AnyTryon) and runs through the pipeline's verbs
(`tryon`, `tryoff`, `roundtrip`, `modelfree`, `reconstruct`, `layered`); what a model does is its
pipeline's `tasks` (`twgtm.loading.pipeline_tasks` before it loads). A round trip with two models runs
on `twgtm.roundtrip_pair`. Any2AnyTryon draws one noise stream per call: its items run one at a time,
so that each item's seed alone decides its noise.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import ConfigError
from .manifest import TASKS, Item, RowError, Settings

log = logging.getLogger("twgtm")

A2A_OUTPUT_OPTIONS = ("lora_scale", "t5_fp8", "transformer_fp8", "max_sequence_length")  # change the images
PAIR_SIDES = ("tryoff", "tryon")  # a two-model round trip: its try-off model, then its try-on model


@dataclass
class ModelSpec:
    """A job's model files and options (the batch command's model flags), as `twgtm.load_model` names them."""

    family: str = "twgtm"  # the job's task names: "twgtm" (TWGTM checkpoints and the profiles) or "a2a"
    checkpoint: str | None = None
    profile: str | None = None
    weights: str | None = None
    base: str | None = None
    clip: str | None = None
    swin: str | None = None
    vae: str | None = None  # a profile's VAE; Any2AnyTryon: the FLUX VAE folder
    preset: str | None = None
    pair: dict = field(default_factory=dict)  # two-model round trip: tryoff_profile, tryoff_weights, tryon_...
    parser: str | None = None
    dtype: str | None = None
    a2a: dict = field(default_factory=dict)  # Any2AnyTryon's load_model keywords: flux, lora, part folders, options
    option_names: dict = field(default_factory=dict)  # option -> the flag that sets it, for error messages

    @property
    def paired(self) -> bool:
        """Whether the job has two models (a try-off and a try-on model)."""
        return any(self.pair.values())


@dataclass
class JobModel:
    """What one process loaded: the pipeline of each task and the clothes parser of `mask auto`."""

    family: str
    pipes: dict  # task -> pipeline ("roundtrip" of a pair: the (try-off, try-on) tuple)
    parser: object | None
    device: torch.device


@dataclass
class Loaded:
    """An item with its pixels: images (1,3,H,W) in [-1,1]; masks (1,1,H,W) at their image's size, or 'auto'."""

    item: Item
    images: dict
    masks: dict


# ----- what the model does, without loading it ----------------------------------------------------
def _side(spec: ModelSpec, side: str) -> tuple[str | None, str | None]:
    """(profile, weights) of a pair's try-off or try-on model; (None, None) = the TWGTM model of --checkpoint."""
    return spec.pair.get(f"{side}_profile"), spec.pair.get(f"{side}_weights")


def load_options(spec: ModelSpec) -> dict[str, dict]:
    """The `twgtm.load_model` keywords of each model the job loads: {'model': ...}, or a pair's 'tryoff' and 'tryon'."""
    if spec.family == "a2a":
        return {"model": dict(family="a2a", vae=spec.vae, **spec.a2a)}
    parts = dict(preset=spec.preset, base=spec.base, clip=spec.clip, swin=spec.swin, option_names=spec.option_names)
    if not spec.paired:
        return {"model": dict(checkpoint=spec.checkpoint, profile=spec.profile, weights=spec.weights, vae=spec.vae,
                              **parts)}
    sides = {}
    for side in PAIR_SIDES:
        profile, weights = _side(spec, side)
        if (profile, weights) == (None, None):  # the TWGTM model of --checkpoint (or the demo) does this step
            sides[side] = dict(checkpoint=spec.checkpoint, **parts)
        else:
            sides[side] = dict(profile=profile, weights=weights, vae=spec.vae if profile else None, **parts)
    return sides


def model_tasks(spec: ModelSpec) -> tuple[str, ...]:
    """The job's tasks the model does: its pipeline's `tasks`; a pair's try-off, try-on and the round trip."""
    from ..loading import pipeline_tasks

    if spec.paired:  # roundtrip_pair checks that each model does its step when they load
        return tuple(TASKS["twgtm"])
    options = load_options(spec)["model"]
    does = pipeline_tasks(options.get("family"), options.get("profile"))
    return tuple(task for task in TASKS[spec.family] if task in does)


def model_name(spec: ModelSpec) -> str:
    """How messages name the job's model."""
    if spec.family == "a2a":
        return "Any2AnyTryon"
    if spec.paired:
        return "the model pair"
    return f"profile {spec.profile}" if spec.profile else "the TWGTM model"


def batch_limit(spec: ModelSpec) -> int | None:
    """The most items one call may take: 1 for Any2AnyTryon (one noise stream per call), else no limit."""
    return 1 if spec.family == "a2a" else None


def model_files(spec: ModelSpec) -> dict[str, Path]:
    """role -> file or folder the job's model is built from (the demo model when no file is named)."""
    from ..loading import A2A_PARTS
    from ..weights.loader import demo_checkpoint

    if spec.family == "a2a":
        named = {role: spec.a2a.get(role) for role in ("flux", *A2A_PARTS, "lora")}
        named["vae"] = spec.vae
    else:
        named = {"checkpoint": spec.checkpoint, "weights": spec.weights, "base": spec.base, "clip": spec.clip,
                 "swin": spec.swin, "vae": spec.vae, "parser": spec.parser,
                 **{key: value for key, value in spec.pair.items() if key.endswith("_weights")}}
        fileless = [options for options in load_options(spec).values()
                    if all(options.get(key) is None for key in ("checkpoint", "weights", "profile"))]
        if fileless:  # a TWGTM model without a file: the demo model, or random weights of a preset
            if spec.preset:
                raise ConfigError(f"--preset {spec.preset} without --checkpoint builds random weights, different in "
                                  "every process: give a --checkpoint (or a --profile with its files)")
            named["checkpoint"] = demo_checkpoint()
    return {role: Path(path) for role, path in named.items() if path}


def model_identity(spec: ModelSpec, file_hash) -> dict:
    """What makes the model's images what they are: its files by sha256 and the options that change them."""
    files = {}
    for role, path in model_files(spec).items():
        if path.is_dir():  # a diffusers folder: every file in it
            parts = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            files[role] = {str(p.relative_to(path)): file_hash(p) for p in parts}
        else:
            files[role] = file_hash(path)
    options = {"family": spec.family, "dtype": spec.dtype, "profile": spec.profile, "preset": spec.preset,
               **{k: v for k, v in spec.pair.items() if k.endswith("_profile")}}
    if spec.family == "a2a":
        options.update({k: spec.a2a.get(k) for k in A2A_OUTPUT_OPTIONS})
    return {"files": files, "options": options}


# ----- loading ------------------------------------------------------------------------------------
def load_for_job(spec: ModelSpec, device) -> JobModel:
    """Load the job's model(s) once, on `device`, through `twgtm.load_model`; the pipelines each task runs on."""
    from .. import load_model

    device = torch.device(device)
    dtype = spec.dtype or ("bf16" if spec.family == "a2a" else "fp32")
    options = load_options(spec)
    loaded = {}
    for role, keywords in options.items():
        same = next((pipe for other, pipe in loaded.items() if options[other] == keywords), None)
        loaded[role] = same or load_model(**keywords, device=device, dtype=dtype)  # a pair of one model loads once
    if spec.paired:
        from ..families.roundtrip import check_pair

        off, on = loaded["tryoff"], loaded["tryon"]
        check_pair(off, on)
        pipes = {"tryoff": off, "tryon": on, "roundtrip": (off, on)}
    else:
        pipes = dict.fromkeys(loaded["model"].tasks, loaded["model"])
    parser = None
    if spec.parser:
        from ..parsing import load_parser

        parser = load_parser(spec.parser, device=device)
    return JobModel(spec.family, pipes, parser, device)


# ----- running ------------------------------------------------------------------------------------
def resolve_masks(model: JobModel, one: Loaded) -> Loaded:
    """Turn 'auto' masks into the parser's masks and fill the default try-on box; RowError for an empty mask."""
    from ..masks import category_box

    item, masks = one.item, dict(one.masks)
    if model.family == "a2a":
        return Loaded(item, one.images, {})
    for role, mask in masks.items():
        if mask != "auto":
            continue
        if model.parser is None:
            raise RowError(f"{role} auto needs a clothes parser: give the job --parser DIR")
        task = "tryoff" if role == "person_mask" or item.task == "tryoff" else "tryon"
        if item.task == "tryoff" and model.pipes["tryoff"].family == "twgtm":
            raise RowError(f"{role} auto in try-off is for the TryOffAnyone profile (the garment region it redraws); a "
                           "TWGTM model finds the garment itself: leave the mask empty (mask_mode bbox)")
        from ..parsing import AutoMask

        image = one.images["target" if role == "target_mask" and "target" in one.images else "person"]
        masks[role] = AutoMask(model.parser, task, item.category)(image.to(model.device)).cpu()  # (1,1,H,W)
    default = {"tryon": "mask", "roundtrip": "target_mask"}.get(item.task)
    if default and default not in masks:
        image = one.images.get("target", one.images["person"]) if default == "target_mask" else one.images["person"]
        masks[default] = category_box(item.category, tuple(image.shape[-2:]))  # (1,1,H,W)
    for role, mask in masks.items():
        if not mask.any():
            raise RowError(f"the {role.replace('_', ' ')} is empty (all black): nothing would change; paint the "
                           "garment region white")
    return Loaded(item, one.images, masks)


def _image(result, i: int, raw: bool) -> torch.Tensor:
    """Item i's image (3,H,W): at the person's size, or (raw, profiles) the project's own working-size output."""
    from ..pixels import from_uint8

    if raw and hasattr(result, "working"):
        return from_uint8(result.working[i])  # (3,h,w)
    return result.images[i]


def run_items(model: JobModel, task: str, settings: Settings, batch: list[Loaded], callback=None) -> list[dict]:
    """Run one batch (one task, one set of settings, images of one size); kind -> (C,H,W) tensor per item."""
    if model.family == "a2a":
        return [_run_a2a(model, task, settings, one, callback) for one in batch]

    def stack(role: str, of: str = "images") -> torch.Tensor | None:
        parts = [getattr(one, of).get(role) for one in batch]
        return None if parts[0] is None else torch.cat(parts)  # (B,C,H,W)

    common = dict(prompt=[one.item.prompt for one in batch], seed=[one.item.seed for one in batch],
                  steps=settings.steps, guidance=settings.guidance, scheduler=settings.scheduler, callback=callback)
    person = stack("person")
    if task == "tryon":
        result = model.pipes["tryon"].tryon(person, stack("garment"), stack("mask", "masks"), size=settings.size,
                                            repaint=settings.repaint, **common)
        return [{"image": _image(result, i, settings.raw)} for i in range(len(batch))]
    if task == "tryoff":
        result = model.pipes["tryoff"].tryoff(person, mask_mode=settings.mask_mode, mask=stack("mask", "masks"),
                                              size=settings.size, **common)
        return [{"image": _image(result, i, settings.raw), "mask": result.masks[i]} for i in range(len(batch))]
    roundtrip = dict(mask_a=stack("person_mask", "masks"), mask_b=stack("target_mask", "masks"),
                     mask_mode=settings.mask_mode, repaint=settings.repaint, **common)
    pipe = model.pipes["roundtrip"]
    if isinstance(pipe, tuple):  # a try-off and a try-on model
        from .. import roundtrip_pair

        result = roundtrip_pair(*pipe, person, stack("target"), size_a=settings.size, size_b=settings.size, **roundtrip)
    else:
        result = pipe.roundtrip(person, stack("target"), size=settings.size, **roundtrip)
    return [{"image": _image(result.dressed, i, settings.raw), "garment": _image(result.garments, i, settings.raw)}
            for i in range(len(batch))]


def _run_a2a(model: JobModel, task: str, settings: Settings, one: Loaded, callback) -> dict:
    """One Any2AnyTryon item through the verb of its task (the pipeline takes one seed per call)."""
    verb = getattr(model.pipes[task], task)  # tryon, modelfree, reconstruct or layered
    result = verb(**one.images, prompt=one.item.prompt, size=settings.size, steps=settings.steps,
                  guidance=settings.guidance, seed=one.item.seed, callback=callback)
    return {"image": result.images[0]}
