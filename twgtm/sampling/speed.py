"""The sampler's speed and memory switches, each independent and none changing the result beyond rounding.

attention: "sdpa" (fused scaled_dot_product_attention) or "classic" (explicit softmax).
cfg_batched: run the CFG branches as one UNet batch (default) or one after the other (half the
    activation memory); a call's own `cfg_batched` overrides it.
kv_cache: compute K'/V' once per call (default) or at every step.
skip_null_rows: skip the extended branch for the unconditional CFG rows (default on).
encoder_cache: reuse SAM/SRM outputs across calls with the same reference image, prompt and mode
    (the pipeline's LRU, see twgtm.sampling.encoder_cache); an int sets its size.
vae_slicing / vae_tiling: decode / encode one item / one tile at a time (big canvases).
channels_last: UNet and VAE in channels-last memory format (faster convolutions on GPUs).
compile_unet: `torch.compile` the UNet (first call compiles; off by default). The compiled module
    is kept here and called by the denoising loop; the model's own UNet is left as it is.

The model-wide switches (attention, kv_cache, skip_null_rows, VAE, memory format) live on the model;
`SpeedSettings` reads their current state at construction and applies only the options it is given.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..errors import ConfigError
from ..model.network import TWGTM
from .encoder_cache import EncoderCache

__all__ = ["SPEED_DEFAULTS", "SpeedSettings"]

# Defaults of the speed options.
SPEED_DEFAULTS = dict(attention="sdpa", cfg_batched=True, kv_cache=True, skip_null_rows=True, encoder_cache=True,
                      vae_slicing=False, vae_tiling=False, channels_last=False, compile_unet=False)


def _is_channels_last(module: torch.nn.Module) -> bool:
    weight = module.conv_in.weight
    return weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


class SpeedSettings:
    """The speed options of one pipeline (`options`), applied to its model and its encoder cache."""

    def __init__(self, model: TWGTM, encoder_cache: EncoderCache):
        self.model = model
        self.encoder_cache = encoder_cache
        self.compiled_unet: Callable | None = None  # torch.compile(model.unet) while compile_unet is on
        vae = model.vae
        self.options: dict = dict(  # the model's current state
            SPEED_DEFAULTS, attention=model.attention_backend, kv_cache=model.context.cache_enabled,
            skip_null_rows=model.context.skip_null_rows, vae_slicing=bool(getattr(vae, "use_slicing", False)),
            vae_tiling=bool(getattr(vae, "use_tiling", False)), channels_last=_is_channels_last(model.unet),
            encoder_cache=encoder_cache.maxsize > 0,
        )

    @property
    def unet(self) -> Callable:
        """The UNet the denoising loop calls: the compiled one when compile_unet is on, else the model's."""
        return self.compiled_unet if self.compiled_unet is not None else self.model.unet

    def configure(self, **options) -> None:
        """Set some of SPEED_DEFAULTS' options (see the module docstring); an unknown name is a ConfigError."""
        unknown = sorted(set(options) - set(SPEED_DEFAULTS))
        if unknown:
            raise ConfigError(f"unknown pipeline option(s) {unknown}; expected some of {sorted(SPEED_DEFAULTS)}")
        for name, value in options.items():
            value = getattr(self, f"_set_{name}", self._set_plain)(value)
            self.options[name] = value if isinstance(value, (bool, int, str)) else bool(value)

    def _set_plain(self, value):
        """cfg_batched: read by each call, nothing to apply."""
        return value

    def _set_attention(self, value):
        self.model.set_attention_backend(value)
        return value

    def _set_kv_cache(self, value):
        self.model.context.cache_enabled = bool(value)
        return value

    def _set_skip_null_rows(self, value):
        self.model.context.skip_null_rows = bool(value)
        return value

    def _set_encoder_cache(self, value):
        """True / False switch the cache on / off; an int sets its size (0 = off)."""
        cache = self.encoder_cache
        if not isinstance(value, bool):
            cache.maxsize = int(value)
            return int(value) > 0
        if value and cache.maxsize <= 0:
            cache.maxsize = 4
        return value

    def _set_vae_slicing(self, value):
        (self.model.vae.enable_slicing if value else self.model.vae.disable_slicing)()
        return value

    def _set_vae_tiling(self, value):
        (self.model.vae.enable_tiling if value else self.model.vae.disable_tiling)()
        return value

    def _set_channels_last(self, value):
        fmt = torch.channels_last if value else torch.contiguous_format
        self.model.unet.to(memory_format=fmt)
        self.model.vae.to(memory_format=fmt)
        return value

    def _set_compile_unet(self, value):
        if value and self.compiled_unet is None:
            self.compiled_unet = torch.compile(self.model.unet)  # compiles lazily, on the first call
        elif not value:
            self.compiled_unet = None
        return value
