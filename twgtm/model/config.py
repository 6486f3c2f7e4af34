"""Model configuration: the network's dataclass, its typed inference settings, and the size presets `sd15`, `demo`, `tiny`."""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, fields

from ..errors import ConfigError

CONCAT_AXES = ("width", "height")
PREDICTION_TYPES = ("epsilon", "v_prediction")
TRYOFF_TARGETS = ("blank", "erased_person")
SINGLE_TASKS = ("tryon", "tryoff")
# The working box (height, width) each size preset samples at by default: big inputs are processed at
# the size the model was trained at. Other configs say their own, or None (the input's own size).
PRESET_WORKING_SIZES = {"demo": (128, 96), "sd15": (512, 384)}


@dataclass
class InferenceSettings:
    """How a model is sampled, beyond its network's shapes; kept with the config in every checkpoint.

    Args:
        working_size: (H, W) of the person half the model samples at by default; None = the input's own size.
        reference_encoders: whether SAM and SRM run (False: null tokens, as the CatVTON / TryOffAnyone profiles).
        tryoff_target: what the try-off target half starts as: 'blank' (a white page, TWGTM) or
            'erased_person' (the person with the garment erased, TryOffAnyone).
        task: the one task of a single-task model ('tryon' or 'tryoff'); None for a model that does both.
        scheduler: the diffusers DDIM scheduler config read from a profile's base model; None for TWGTM.
    """

    working_size: tuple | None = None
    reference_encoders: bool = True
    tryoff_target: str = "blank"
    task: str | None = None
    scheduler: dict | None = None

    def __post_init__(self):
        if self.working_size is not None:
            size = tuple(int(s) for s in self.working_size)
            if len(size) != 2 or min(size) < 1:
                raise ConfigError(f"working_size must be (height, width) with positive sides, got {self.working_size!r}")
            self.working_size = size
        if self.tryoff_target not in TRYOFF_TARGETS:
            raise ConfigError(f"tryoff_target must be one of {TRYOFF_TARGETS}, got {self.tryoff_target!r}")
        if self.task not in (None, *SINGLE_TASKS):
            raise ConfigError(f"task must be one of {SINGLE_TASKS} or None, got {self.task!r}")
        self.reference_encoders = bool(self.reference_encoders)

    @classmethod
    def from_dict(cls, d: dict | None, preset_name: str = "") -> "InferenceSettings":
        """The settings of a stored config; a missing working size is the preset's; unknown keys are an error."""
        if isinstance(d, cls):
            return copy.deepcopy(d)
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown TWGTM inference settings {unknown}; expected some of {sorted(known)}")
        d.setdefault("working_size", PRESET_WORKING_SIZES.get(preset_name))
        return cls(**copy.deepcopy(d))


@dataclass
class TWGTMConfig:
    """Everything needed to build a TWGTM model; stored in each checkpoint's metadata.

    The nested dicts are keyword arguments of the library classes that build each part:
    `unet` of diffusers `UNet2DConditionModel`, `vae` of diffusers `AutoencoderKL`, `clip` of
    transformers `CLIPVisionConfig`, `qformer` of transformers `InstructBlipQFormerConfig`,
    `swin` of timm's Swin (`name` plus overrides), `taskformer` of `twgtm.model.taskformer.TaskFormer`.
    """

    name: str
    unet: dict
    vae: dict
    clip: dict
    qformer: dict
    swin: dict
    taskformer: dict
    num_query_tokens: int = 32
    srm_dim: int = 768
    srm_image_size: tuple = (224, 224)
    prompt_max_length: int = 32
    concat_axis: str = "width"
    extended_blocks: str = "all"
    cross_attention: bool = True
    profile: str = "twgtm"
    # What the UNet predicts and the noise schedule it was trained on (twgtm.sampling.schedulers):
    # SD1.5's epsilon on its own schedule, or the velocity v on the schedule rescaled to zero
    # terminal SNR (the last training step is pure noise, so the first sampling step must take the
    # colours from the reference: the model cannot read them off leftover signal).
    prediction_type: str = "epsilon"
    zero_terminal_snr: bool = False
    inference: InferenceSettings = field(default_factory=InferenceSettings)

    def __post_init__(self):
        if self.concat_axis not in CONCAT_AXES:
            raise ConfigError(f"concat_axis must be one of {CONCAT_AXES}, got {self.concat_axis!r}")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ConfigError(f"prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}")
        if self.zero_terminal_snr and self.prediction_type != "v_prediction":
            raise ConfigError("zero_terminal_snr needs prediction_type 'v_prediction': at zero SNR the noise "
                              "alone does not say what the image is")
        self.srm_image_size = tuple(int(s) for s in self.srm_image_size)
        if not isinstance(self.inference, InferenceSettings):
            self.inference = InferenceSettings.from_dict(self.inference, self.name)

    @property
    def cross_attention_dim(self) -> int:
        """Width of the UNet's cross-attention context (the F_SAM token width)."""
        return int(self.unet["cross_attention_dim"])

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell along each axis."""
        return 2 ** (len(self.vae["block_out_channels"]) - 1)

    @property
    def latent_multiple(self) -> int:
        """A latent side must be a multiple of this for the UNet's down/up sampling."""
        return 2 ** (len(self.unet["block_out_channels"]) - 1)

    @property
    def pixel_multiple(self) -> int:
        """A canvas side in pixels must be a multiple of this (the latent stride)."""
        return self.vae_scale_factor * self.latent_multiple

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict."""
        d = asdict(self)
        d["srm_image_size"] = list(self.srm_image_size)
        if self.inference.working_size is not None:
            d["inference"]["working_size"] = list(self.inference.working_size)
        return d

    def to_json(self) -> str:
        """JSON text of `to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "TWGTMConfig":
        """Inverse of `to_dict`; unknown keys are an error that names them.

        Configs stored before the typed settings kept them as an untyped `extra` dict (empty in TWGTM
        checkpoints): it is read as the `inference` settings, with the preset's working size.
        """
        d = copy.deepcopy(d)
        if "extra" in d and "inference" not in d:
            d["inference"] = d.pop("extra")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown TWGTM config keys {unknown}; expected some of {sorted(known)}")
        d["inference"] = InferenceSettings.from_dict(d.get("inference"), d.get("name", ""))
        return cls(**d)

    def replace(self, **changes) -> "TWGTMConfig":
        """A copy with some top-level fields changed."""
        d = self.to_dict()
        d.update(changes)
        return TWGTMConfig.from_dict(d)


def _sd15() -> TWGTMConfig:
    """The real size: SD1.5-inpainting UNet and VAE, CLIP ViT-L/14, Swin-B, 12-layer QFormer."""
    return TWGTMConfig(
        name="sd15",
        unet=dict(
            sample_size=64, in_channels=9, out_channels=4, layers_per_block=2,
            block_out_channels=[320, 640, 1280, 1280],
            down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
            cross_attention_dim=768, attention_head_dim=8,
        ),
        vae=dict(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
            block_out_channels=[128, 256, 512, 512],
            down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
            sample_size=512, scaling_factor=0.18215,
        ),
        clip=dict(
            hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
            image_size=224, patch_size=14, projection_dim=768,
        ),
        qformer=dict(
            hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
            cross_attention_frequency=2, encoder_hidden_size=1024,
        ),
        swin=dict(name="swin_base_patch4_window7_224"),
        taskformer=dict(hidden_dim=256, num_queries=32, num_units=3, num_heads=8, ffn_dim=2048, num_task_heads=3),
        num_query_tokens=32, srm_dim=768, srm_image_size=(224, 224), prompt_max_length=32,
        inference=InferenceSettings(working_size=PRESET_WORKING_SIZES["sd15"]),
    )


def _demo() -> TWGTMConfig:
    """Small enough to train from scratch on a 2-core CPU in hours (128x96 toy images)."""
    return TWGTMConfig(
        name="demo",
        unet=dict(
            sample_size=32, in_channels=9, out_channels=4, layers_per_block=1,
            block_out_channels=[64, 128, 192],
            down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            cross_attention_dim=128, attention_head_dim=4, norm_num_groups=16,
        ),
        vae=dict(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
            block_out_channels=[32, 64, 64], norm_num_groups=16,
            down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
            sample_size=128, scaling_factor=1.0,
        ),
        clip=dict(
            hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
            image_size=64, patch_size=8, projection_dim=128,
        ),
        qformer=dict(
            hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
            cross_attention_frequency=1, encoder_hidden_size=128,
        ),
        swin=dict(name="swin_tiny_patch4_window7_224", embed_dim=32, depths=[1, 1, 1, 1],
                  num_heads=[2, 4, 4, 8], window_size=4),
        taskformer=dict(hidden_dim=64, num_queries=8, num_units=2, num_heads=4, ffn_dim=128, num_task_heads=2),
        num_query_tokens=8, srm_dim=128, srm_image_size=(64, 48), prompt_max_length=24,
        inference=InferenceSettings(working_size=PRESET_WORKING_SIZES["demo"]),
    )


def _tiny() -> TWGTMConfig:
    """Milliseconds per forward: for tests only."""
    return TWGTMConfig(
        name="tiny",
        unet=dict(
            sample_size=8, in_channels=9, out_channels=4, layers_per_block=1,
            block_out_channels=[16, 32],
            down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            cross_attention_dim=16, attention_head_dim=2, norm_num_groups=8,
        ),
        vae=dict(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
            block_out_channels=[8, 8, 8, 8], norm_num_groups=4,
            down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
            sample_size=64, scaling_factor=1.0,
        ),
        clip=dict(
            hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            image_size=32, patch_size=8, projection_dim=16,
        ),
        qformer=dict(
            hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            cross_attention_frequency=1, encoder_hidden_size=16,
        ),
        swin=dict(name="swin_tiny_patch4_window7_224", embed_dim=8, depths=[1, 1, 1, 1],
                  num_heads=[1, 2, 2, 4], window_size=4),
        taskformer=dict(hidden_dim=16, num_queries=6, num_units=2, num_heads=2, ffn_dim=32, num_task_heads=2),
        num_query_tokens=4, srm_dim=16, srm_image_size=(32, 32), prompt_max_length=16,
    )


PRESETS = {"sd15": _sd15, "demo": _demo, "tiny": _tiny}


def get_preset(name: str) -> TWGTMConfig:
    """A fresh config for a named size preset."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]()
