"""Training configuration: typed sections, a YAML file over their defaults, dotted `key=value` overrides.

Every key has a default here, so a config file names only what it changes. An unknown key, a
value of the wrong type (a string where an integer is expected, a list of the wrong length) or an
unknown choice is a ConfigError that names the key, the file (or the override) and what is
expected, so a typo never silently does nothing and a wrong value never waits hours to fail.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import yaml

from twgtm.errors import ConfigError

from .config_types import build_section, merge_mapping, section_fields, section_values

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass
class ModelSection:
    """What to train: a size preset and where its starting weights come from."""

    preset: str = "demo"  # a twgtm size preset: sd15 | demo | tiny
    init: Optional[str] = None  # a TWGTM .safetensors checkpoint to start from
    base: Optional[str] = None  # sd15: a diffusers SD1.5-inpainting folder or an original .safetensors (UNet + VAE)
    clip: Optional[str] = None  # sd15: a transformers CLIPVisionModelWithProjection folder
    swin: Optional[str] = None  # sd15: timm's swin_base_patch4_window7_224 .safetensors (or its folder) for the SRM
    train_encoders: bool = False  # from-scratch presets: also train the CLIP image encoder and Swin
    # What the UNet predicts and on which noise schedule (null: the init file's, else the preset's
    # epsilon on SD1.5's schedule); saved in the exported model, which samples accordingly.
    prediction_type: Optional[Literal["epsilon", "v_prediction"]] = None
    zero_terminal_snr: Optional[bool] = None  # true needs v_prediction


@dataclass
class DataSection:
    """The data set and how its canvases reach the model."""

    dataset: Literal["toy", "vitonhd", "dresscode"] = "toy"
    root: Optional[str] = None
    size: tuple[int, int] = (128, 96)  # (H, W) of each canvas half
    categories: Optional[list[str]] = None  # dresscode: a subset of upper / lower / dress
    cache_latents: bool = True  # encode the canvases once per stage (frozen VAE) and keep them in memory
    # with cache_latents false: keep every sample's pixels on the training device and encode each batch
    # there (no file reads per step; the fast path of the solid-colour curriculum on a GPU)
    cache_pixels: bool = False
    num_workers: int = 0
    validation_split: str = "test"
    # Share of each batch's items whose worn garment and flat garment are both repainted in one random
    # solid colour (a curriculum: the colour has to come from the reference). Needs parse maps (toy,
    # vitonhd) and cache_latents false, since the colours change every step.
    solid_colour_fraction: float = 0.0


@dataclass
class TrainSection:
    """Settings every stage shares."""

    batch_size: int = 8  # per process
    grad_accum: int = 1  # micro-batches per optimiser step (diffusion stages)
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"  # accelerate's
    lr: float = 1.0e-4
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 100
    weight_decay: float = 0.0
    max_grad_norm: Optional[float] = 1.0  # 0 or null: no clipping
    ema_decay: float = 0.999  # 0 turns EMA off
    cfg_dropout: float = 0.1  # probability of dropping the condition (classifier-free guidance)
    tryoff_fraction: float = 0.5  # share of try-off items in every batch; the rest are try-on
    # Diffusion stages: how timesteps are drawn ("high": t = T(1-u^2), denser towards pure noise, where
    # a sample's colours are decided) and where the loss counts: the target half's cells inside the
    # mask weigh `inpaint_loss_weight`, its other cells 1, the reference half's `reference_loss_weight`.
    timestep_sampling: Literal["uniform", "high"] = "uniform"
    inpaint_loss_weight: float = 1.0
    reference_loss_weight: float = 1.0
    max_steps: Optional[int] = None  # cap on every stage's steps (quick checks)
    # diffusion stages: the UNet compiled in place with this torch.compile backend (null: eager;
    # "inductor" on a GPU); its state-dict keys, and so the checkpoints, stay as they are
    compile: Optional[str] = None
    threads: int = 0  # torch CPU threads; 0 = torch's default


@dataclass
class VAEStageSection:
    """Stage vae: the small VAE of the from-scratch presets, or its decoder alone."""

    steps: int = 0
    lr: Optional[float] = 1.0e-3
    batch_size: int = 16
    kl_weight: float = 1.0e-6
    max_minutes: Optional[float] = None
    train: Literal["all", "decoder"] = "all"  # decoder keeps a trained model's latents


@dataclass
class Stage1Section:
    """Stage 1: mask-guided inpainting for both tasks plus the mask loss on TFQ_0."""

    steps: int = 1000
    lr: Optional[float] = None  # null: train.lr
    mask_loss_weight: float = 0.1
    dice_weight: float = 1.0
    bce_weight: float = 1.0
    max_minutes: Optional[float] = None


@dataclass
class Stage2Section:
    """Stage 2: square try-off masks, extended attention on; the mask loss on TFQ_0 stays (0: noise loss only)."""

    steps: int = 1000
    lr: Optional[float] = None
    square_kernel: int = 9
    # Kept from stage 1 so that the noise loss alone does not move the try-off mask head (TFQ_0)
    # away from the garment: one run trains both tasks and every head.
    mask_loss_weight: float = 0.1
    dice_weight: float = 1.0
    bce_weight: float = 1.0
    freeze: list[str] = field(default_factory=list)  # parts kept as they are, e.g. [taskformer, qformer]
    max_minutes: Optional[float] = None


@dataclass
class SRMStageSection:
    """Stage srm (no UNet): refines TFQ_0 with the mask loss, F_SRM held to the stage's starting values."""

    steps: int = 0
    lr: Optional[float] = None
    tryoff_fraction: float = 0.75
    distill_weight: float = 1.0
    dice_weight: float = 1.0
    bce_weight: float = 1.0
    max_minutes: Optional[float] = None


@dataclass
class StagesSection:
    """The four stages, in the order they run."""

    vae: VAEStageSection = field(default_factory=VAEStageSection)
    stage1: Stage1Section = field(default_factory=Stage1Section)
    stage2: Stage2Section = field(default_factory=Stage2Section)
    srm: SRMStageSection = field(default_factory=SRMStageSection)


@dataclass
class CheckpointSection:
    """Resumable checkpoints: every `every` steps (0: only at stage ends), the newest `keep` kept."""

    every: int = 500
    keep: int = 3


@dataclass
class ValidateSection:
    """Validation grids of held-out pairs with the real sampler (diffusion stages)."""

    every: int = 500
    count: int = 4
    steps: int = 20
    guidance: float = 2.5


@dataclass
class ExportSection:
    """The final model file."""

    path: Optional[str] = None  # null: <output_dir>/model.safetensors
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"


@dataclass
class TrainingConfig:
    """One training run's whole configuration."""

    output_dir: str = "runs/default"
    seed: int = 0
    resume: Optional[str] = None  # null | latest | a checkpoint folder
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    stages: StagesSection = field(default_factory=StagesSection)
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    validate: ValidateSection = field(default_factory=ValidateSection)
    log_every: int = 10
    export: ExportSection = field(default_factory=ExportSection)

    def to_dict(self) -> dict:
        """The config as plain nested values (saved in checkpoints and the exported model)."""
        return section_values(self)


def parse_override(text: str) -> tuple[list[str], object]:
    """`a.b=value` -> (["a", "b"], value parsed as YAML: numbers, booleans, null, lists)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.subkey=value (e.g. train.max_steps=2)")
    key, value = text.split("=", 1)
    path = [part for part in key.strip().split(".") if part]
    if not path:
        raise ConfigError(f"override {text!r} has no key before '='")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: the value is not valid YAML ({err}); quote it or fix it") from err
    return path, parsed


def read_yaml(path: Path) -> dict:
    """The mapping of one YAML config file."""
    if not path.is_file():
        raise ConfigError(f"training config {path} not found; configs shipped with the pack are in {CONFIG_DIR}")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"training config {path} is not valid YAML: {err}") from err
    if not isinstance(loaded, dict):
        raise ConfigError(f"training config {path} must be a mapping of keys, got {type(loaded).__name__}")
    return loaded


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainingConfig:
    """Defaults, then the YAML file (if any), then the overrides; type- and range-checked."""
    values, sources = section_fields(TrainingConfig()), {}
    if path is not None:
        values = merge_mapping(TrainingConfig, values, read_yaml(Path(path)), "", str(path), sources)
    for text in overrides:
        keys, value = parse_override(text)
        nested: object = value
        for part in reversed(keys):
            nested = {part: nested}
        values = merge_mapping(TrainingConfig, values, nested, "", f"override {text!r}", sources)
    config = build_section(TrainingConfig, values)
    validate(config, sources)
    return config


def validate(config: TrainingConfig, sources: dict[str, str] | None = None) -> None:
    """Check values whose mistakes would only show up hours into a run (`sources`: where each key was set)."""
    def require(ok: bool, key: str, expected: str, value) -> None:
        if not ok:
            where = (sources or {}).get(key, "the defaults")
            raise ConfigError(f"training config key {key} (in {where}) must be {expected}; got {value!r}")

    train, data = config.train, config.data
    for key in ("batch_size", "grad_accum"):
        require(getattr(train, key) >= 1, f"train.{key}", "at least 1", getattr(train, key))
    require(0.0 <= train.tryoff_fraction <= 1.0, "train.tryoff_fraction", "in [0, 1]", train.tryoff_fraction)
    require(0.0 <= train.cfg_dropout < 1.0, "train.cfg_dropout", "in [0, 1)", train.cfg_dropout)
    if data.root is None:
        raise ConfigError("data.root is not set: pass the data set folder, e.g. data.root=data/toy "
                          "(make one with `python -m twgtm.data.toy --out data/toy --n 4000`)")
    for name in ("vae", "stage1", "stage2", "srm"):
        steps = getattr(config.stages, name).steps
        require(steps >= 0, f"stages.{name}.steps", "0 or more", steps)
    require(config.stages.vae.batch_size >= 1, "stages.vae.batch_size", "at least 1", config.stages.vae.batch_size)
    require(config.log_every >= 1, "log_every", "at least 1", config.log_every)
    require(data.num_workers >= 0, "data.num_workers", "0 or more (0 reads in the training process)", data.num_workers)
    require(all(side > 0 for side in data.size), "data.size", "two positive sides [H, W]", list(data.size))
    require(train.inpaint_loss_weight >= 0, "train.inpaint_loss_weight", "0 or more", train.inpaint_loss_weight)
    require(train.reference_loss_weight >= 0, "train.reference_loss_weight", "0 or more", train.reference_loss_weight)
    require(0.0 <= data.solid_colour_fraction <= 1.0, "data.solid_colour_fraction", "in [0, 1]",
            data.solid_colour_fraction)
    if data.solid_colour_fraction > 0:
        require(data.dataset in ("toy", "vitonhd"), "data.dataset",
                "toy or vitonhd when data.solid_colour_fraction > 0 (it needs parse maps)", data.dataset)
        require(not data.cache_latents, "data.cache_latents",
                "false when data.solid_colour_fraction > 0 (the colours change every step)", data.cache_latents)
    from twgtm.model.network import PARTS

    unknown = [part for part in config.stages.stage2.freeze if part not in PARTS]
    require(not unknown, "stages.stage2.freeze", f"model parts among {sorted(PARTS)}", config.stages.stage2.freeze)
    if config.model.zero_terminal_snr:
        require(config.model.prediction_type == "v_prediction", "model.prediction_type",
                "v_prediction when model.zero_terminal_snr is true", config.model.prediction_type)
