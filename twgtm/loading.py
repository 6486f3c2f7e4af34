"""`load_model`: the one front door. It builds the pipeline of every model family from files.

- a TWGTM checkpoint (`load_model("model.safetensors")`; no path: the shipped demo model), with
  `base=` / `clip=` / `swin=` for frozen parts a small checkpoint leaves out, or a size preset with
  random weights (`preset="demo"`): a `TWGTMPipeline` (`twgtm.weights.load_network` reads the files);
- a public profile (`profile="catvton"` try-on, `profile="tryoffanyone"` try-off, with `weights=` the
  project's file, `base=` the SD1.5-inpainting model, `vae=` an optional VAE): a `ProfilePipeline`
  that samples as the project publishes (`twgtm.families.profiles` reads the files);
- Any2AnyTryon (`family="a2a"`, `flux=` a FLUX.1-dev diffusers folder and/or per-part folders, `lora=`
  its LoRA): an `A2APipeline` (`twgtm.families.a2a.loading`).

Every pipeline has the same verbs (`twgtm.verbs.Pipeline`); the family decides which it does. The CLI,
the ComfyUI nodes, the evaluation and the benchmark all load through here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from .errors import ConfigError

__all__ = ["load_model", "pipeline_tasks", "FAMILIES"]

FAMILIES = ("twgtm", "catvton", "tryoffanyone", "a2a")
# Any2AnyTryon's part folders (besides flux=), as twgtm.families.a2a.loading.A2ASources names them.
A2A_PARTS = ("transformer", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")
A2A_OPTIONS = ("lora_scale", "offload", "t5_fp8", "transformer_fp8", "vae_tiling", "max_sequence_length")

PathLike = str | os.PathLike


def _family(family: str | None, profile: str | None) -> str:
    """The family asked for: `family`, or 'twgtm' / the profile's name; a ConfigError for an unknown or clashing one."""
    if family is None:
        return "twgtm" if profile is None else "profile"
    key = str(family).strip().lower()
    if key not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)} "
                          "(or profile='catvton' | 'tryoffanyone')")
    if key in ("catvton", "tryoffanyone"):
        if profile is not None and str(profile).strip().lower() != key:
            raise ConfigError(f"family {key!r} and profile {profile!r} disagree; give one of them")
        return "profile"
    if profile is not None:
        raise ConfigError(f"profile {profile!r} is a CatVTON / TryOffAnyone profile; family {key!r} takes none")
    return key


def _refuse(family: str, given: dict) -> None:
    """A ConfigError naming the options the family does not take."""
    extra = sorted(k for k, v in given.items() if v is not None)
    if extra:
        raise ConfigError(f"{', '.join(extra)} do(es) not apply to the {family} family; leave them out")


def load_model(checkpoint: PathLike | None = None, *, family: str | None = None, profile: str | None = None,
               preset: str | None = None, weights: PathLike | None = None, base: PathLike | None = None,
               vae: PathLike | None = None, clip: PathLike | None = None, swin: PathLike | None = None,
               flux: PathLike | None = None, lora: PathLike | None = None, device=None, dtype=None,
               option_names: Mapping[str, str | None] | None = None, **options):
    """Build the pipeline of a model from files: a TWGTM checkpoint, the demo, a preset, a profile or Any2AnyTryon.

    Args:
        checkpoint: a TWGTM .safetensors checkpoint (None: the shipped demo model); with `profile`, the
            project's weights file (the same as `weights=`).
        family: 'twgtm' (default), 'catvton' / 'tryoffanyone' (the same as `profile=`) or 'a2a'.
        profile: 'catvton' (try-on) or 'tryoffanyone' (try-off): public weights sampled as published.
        preset: without a profile, a size preset ('sd15', 'demo', 'tiny') built with random weights (then
            the checkpoint's, when given); with a profile, its base's preset (None: read from the base files).
        weights: a profile's file (CatVTON: mix-48k-1024/attention/model.safetensors; TryOffAnyone:
            model.safetensors); for TWGTM the same as `checkpoint`.
        base: the SD1.5-inpainting UNet/VAE (a diffusers folder or one original-format .safetensors), for a
            profile or a checkpoint without them.
        vae: a profile's separate SD1.5 VAE (sd-vae-ft-mse); Any2AnyTryon's VAE folder.
        clip: the CLIP image encoder for a checkpoint without it (a CLIPVisionModelWithProjection folder or
            its .safetensors).
        swin: timm Swin weights for a checkpoint without them.
        flux: Any2AnyTryon: a FLUX.1-dev diffusers folder (transformer/, vae/, text_encoder/, tokenizer/,
            text_encoder_2/, tokenizer_2/).
        lora: Any2AnyTryon: its LoRA .safetensors (e.g. dev_lora_any2any_alltasks.safetensors), fused on load.
        device: where the model runs ('cpu', 'cuda', 'cuda:1', a torch.device); None: as loaded (the CPU).
            Any2AnyTryon: default 'cpu'.
        dtype: weight dtype ('fp32', 'bf16', 'fp16' or a torch.dtype); None: as stored. Any2AnyTryon: default bf16.
        option_names: how error messages name the options ('base', 'clip', 'swin', 'vae', 'weights' -> the
            caller's flag or node input; None: not offered).
        **options: TWGTM and profiles: the pipeline's speed switches (attention, cfg_batched, kv_cache,
            skip_null_rows, encoder_cache, vae_slicing, vae_tiling, channels_last, compile_unet).
            Any2AnyTryon: per-part folders (transformer — also a BFL flux1-dev.safetensors — text_encoder,
            tokenizer, text_encoder_2, tokenizer_2), lora_scale, offload ('none', 'model', 'group'),
            t5_fp8, transformer_fp8, vae_tiling, max_sequence_length.

    Returns:
        Pipeline: a `TWGTMPipeline`, `ProfilePipeline` or `A2APipeline`, with the verbs `tryon`, `tryoff`,
        `roundtrip` (and Any2AnyTryon's `modelfree`, `reconstruct`, `layered`); `.model` (or `.parts`)
        holds the weights.
    """
    kind = _family(family, profile)
    if kind == "a2a":
        _refuse("a2a", dict(checkpoint=checkpoint, preset=preset, weights=weights, base=base, clip=clip, swin=swin))
        return _a2a_pipeline(flux, lora, vae, device, dtype, options)
    _refuse(kind if kind == "twgtm" else "profile", dict(flux=flux, lora=lora))
    placement = _placement(device, dtype)
    if weights is not None and checkpoint is not None and Path(weights) != Path(checkpoint):
        raise ConfigError(f"two weights files given ({checkpoint} and weights={weights}); give one")
    weights = weights if weights is not None else checkpoint
    if kind == "profile":
        from .families.profile_pipeline import ProfilePipeline
        from .families.profiles import load_profile_network

        network = load_profile_network(profile or family, weights, base, preset=preset, clip=clip, swin=swin, vae=vae,
                                       option_names=option_names)
        return ProfilePipeline(network, **placement, **options)
    if vae is not None:
        from .weights.loader import option_label

        raise ConfigError(f"{option_label('vae', dict(option_names or {})) or 'vae'} {vae} applies to the CatVTON / "
                          "TryOffAnyone profiles; a TWGTM checkpoint brings its own VAE (or takes it from the base)")
    from .sampling.pipeline import TWGTMPipeline
    from .weights.loader import load_network

    network = load_network(weights, preset=preset, base=base, clip=clip, swin=swin, option_names=option_names)
    return TWGTMPipeline(network, **placement, **options)


def pipeline_tasks(family: str | None = None, profile: str | None = None) -> tuple[str, ...]:
    """The verbs (`tasks`) of the pipeline `load_model(family=..., profile=...)` builds, known without loading it.

    Args:
        family, profile: as `load_model`.

    Returns:
        tuple[str, ...]: the verbs the pipeline does, e.g. ('tryon',) for profile='catvton'.
    """
    kind = _family(family, profile)
    if kind == "a2a":
        from .families.a2a.pipeline import A2APipeline

        return A2APipeline.tasks
    if kind == "profile":
        from .families.profiles import get_profile

        return (get_profile(profile or family).task,)  # what ProfilePipeline.tasks reports
    from .sampling.pipeline import TWGTMPipeline

    return TWGTMPipeline.tasks


def _placement(device, dtype) -> dict:
    """The pipeline's device / dtype keywords from names or torch objects (None: as loaded)."""
    from .vocab import parse_device, parse_dtype

    return dict(device=None if device is None else parse_device(device),
                dtype=None if dtype is None else parse_dtype(dtype))


def _a2a_pipeline(flux, lora, vae, device, dtype, options: dict):
    """Any2AnyTryon's pipeline from its sources; unknown options are a ConfigError that lists the known ones."""
    from .families.a2a.loading import A2ASources, load_pipeline

    unknown = sorted(set(options) - set(A2A_PARTS) - set(A2A_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown Any2AnyTryon option(s) {unknown}; expected some of "
                          f"{', '.join(A2A_PARTS + A2A_OPTIONS)}")
    parts = {k: None if options.get(k) is None else os.fspath(options[k]) for k in A2A_PARTS}
    sources = A2ASources(None if flux is None else os.fspath(flux), vae=None if vae is None else os.fspath(vae), **parts)
    settings = {k: options[k] for k in A2A_OPTIONS if k in options}
    return load_pipeline(sources, lora=lora, device="cpu" if device is None else device,
                         dtype="bf16" if dtype is None else dtype, **settings)
