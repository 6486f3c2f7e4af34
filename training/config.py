"""Training configuration: a YAML file over built-in defaults, plus dotted `key=value` overrides.

Every key has a default here, so a config file names only what it changes; an unknown key is an
error that lists the known ones (a typo never silently does nothing).
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from twgtm.errors import ConfigError

DEFAULTS: dict = {
    "output_dir": "runs/default",
    "seed": 0,
    "resume": None,  # None | "latest" | a checkpoint folder
    "model": {
        "preset": "demo",  # a twgtm size preset: sd15 | demo | tiny
        "init": None,  # a TWGTM .safetensors checkpoint to start from
        "base": None,  # sd15: a diffusers SD1.5-inpainting folder or an original .safetensors file (UNet + VAE)
        "clip": None,  # sd15: a transformers CLIPVisionModelWithProjection folder
        "swin": None,  # sd15: timm's swin_base_patch4_window7_224 .safetensors (or its folder) for the SRM
        "train_encoders": False,  # from-scratch presets: also train the CLIP image encoder and Swin
    },
    "data": {
        "dataset": "toy",  # toy | vitonhd | dresscode
        "root": None,
        "size": [128, 96],  # (H, W) of each canvas half
        "categories": None,  # dresscode: a subset of upper / lower / dress
        "cache_latents": True,  # encode the canvases once per stage (frozen VAE) and keep them in memory
        "num_workers": 0,
        "validation_split": "test",
    },
    "train": {
        "batch_size": 8,  # per process
        "grad_accum": 1,
        "mixed_precision": "no",  # no | fp16 | bf16 (accelerate)
        "lr": 1.0e-4,
        "lr_schedule": "cosine",  # cosine | constant
        "warmup_steps": 100,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "ema_decay": 0.999,  # 0 turns EMA off
        "cfg_dropout": 0.1,  # probability of dropping the condition (classifier-free guidance)
        "tryoff_fraction": 0.5,  # share of try-off items in every batch; the rest are try-on
        "max_steps": None,  # cap on every stage's steps (quick checks)
        "threads": 0,  # torch CPU threads; 0 = torch's default
    },
    "stages": {
        "vae": {"steps": 0, "lr": 1.0e-3, "batch_size": 16, "kl_weight": 1.0e-6, "max_minutes": None,
                "train": "all"},  # all | decoder (keeps a trained model's latents)
        "stage1": {"steps": 1000, "lr": None, "mask_loss_weight": 0.1, "dice_weight": 1.0, "bce_weight": 1.0,
                   "max_minutes": None},
        "stage2": {"steps": 1000, "lr": None, "square_kernel": 9, "max_minutes": None},
        # no UNet: refines TFQ_0 with the mask loss, F_SRM held to the stage's starting values
        "srm": {"steps": 0, "lr": None, "tryoff_fraction": 0.75, "distill_weight": 1.0, "dice_weight": 1.0,
                "bce_weight": 1.0, "max_minutes": None},
    },
    "checkpoint": {"every": 500, "keep": 3},
    "validate": {"every": 500, "count": 4, "steps": 20, "guidance": 2.5},
    "log_every": 10,
    "export": {"path": None, "dtype": "float32"},  # path None = <output_dir>/model.safetensors
}


def _merge(base: dict, update: dict, where: str) -> dict:
    """`base` updated by `update`, recursively; unknown keys are an error naming the known ones."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if key not in base:
            raise ConfigError(f"unknown training config key {where}{key!r}; known keys here: {sorted(base)}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"training config key {where}{key} must be a mapping, got {value!r}")
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list[str], object]:
    """`a.b=value` -> (["a", "b"], value parsed as YAML: numbers, booleans, null, lists)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.subkey=value (e.g. train.max_steps=2)")
    key, value = text.split("=", 1)
    path = [part for part in key.strip().split(".") if part]
    if not path:
        raise ConfigError(f"override {text!r} has no key before '='")
    return path, yaml.safe_load(value) if value.strip() else None


def apply_overrides(config: dict, overrides: list[str]) -> dict:
    """Apply dotted overrides; each key must exist in the defaults."""
    for text in overrides:
        path, value = parse_override(text)
        nested: object = value
        for part in reversed(path):
            nested = {part: nested}
        config = _merge(config, nested, "")
    return config


def load_config(path: str | Path | None, overrides: list[str] = ()) -> dict:
    """Defaults, then the YAML file (if any), then the overrides; validated."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"training config {path} not found; configs shipped with the pack are in "
                              f"{Path(__file__).parent / 'configs'}")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"training config {path} is not valid YAML: {err}") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"training config {path} must be a mapping of keys, got {type(loaded).__name__}")
        config = _merge(config, loaded, "")
    config = apply_overrides(config, list(overrides))
    validate(config)
    return config


def validate(config: dict) -> None:
    """Check values whose mistakes would only show up hours into a run."""
    train, data = config["train"], config["data"]
    if train["mixed_precision"] not in ("no", "fp16", "bf16"):
        raise ConfigError(f"train.mixed_precision must be no, fp16 or bf16; got {train['mixed_precision']!r}")
    if train["lr_schedule"] not in ("cosine", "constant"):
        raise ConfigError(f"train.lr_schedule must be cosine or constant; got {train['lr_schedule']!r}")
    for key in ("batch_size", "grad_accum"):
        if int(train[key]) < 1:
            raise ConfigError(f"train.{key} must be at least 1; got {train[key]}")
    if not 0.0 <= float(train["tryoff_fraction"]) <= 1.0:
        raise ConfigError(f"train.tryoff_fraction must be in [0, 1]; got {train['tryoff_fraction']}")
    if not 0.0 <= float(train["cfg_dropout"]) < 1.0:
        raise ConfigError(f"train.cfg_dropout must be in [0, 1); got {train['cfg_dropout']}")
    if data["root"] is None:
        raise ConfigError("data.root is not set: pass the data set folder, e.g. data.root=data/toy "
                          "(make one with `python -m twgtm.data.toy --out data/toy --n 4000`)")
    if len(data["size"]) != 2:
        raise ConfigError(f"data.size must be [H, W]; got {data['size']!r}")
    for name, stage in config["stages"].items():
        if int(stage["steps"]) < 0:
            raise ConfigError(f"stages.{name}.steps must be 0 or more; got {stage['steps']}")
    if config["stages"]["vae"]["train"] not in ("all", "decoder"):
        raise ConfigError(f"stages.vae.train must be all or decoder; got {config['stages']['vae']['train']!r}")
    if config["export"]["dtype"] not in ("float32", "float16", "bfloat16"):
        raise ConfigError(f"export.dtype must be float32, float16 or bfloat16; got {config['export']['dtype']!r}")
