"""What every pipeline on a TWGTM network shares, whatever its sampler: placement, memory, speed, reference encoders.

A TWGTM checkpoint (`twgtm.sampling.pipeline.TWGTMPipeline`) and a CatVTON / TryOffAnyone profile
(`twgtm.families.profile_pipeline.ProfilePipeline`) both run on the `TWGTM` network class; they
share the parts here and each brings its own verbs. The pipeline is built once per model and
reused by every call: its encoder cache, speed settings and memory hooks live with it.

Memory: every call runs through `runner.BatchRunner` (`oom.run_with_fallback`; on an out-of-memory
error: the CFG halves one after the other, then the batch in chunks, then VAE tiling; the same
images). `set_memory` installs a host's `MemoryHooks` (asked to free each attempt's estimated
activation bytes, `memory_plan.estimate_run`) and a `Placement` (`SequentialPlacement`: one phase's
parts on the GPU at a time).
"""
from __future__ import annotations

import torch

from ..model.network import TWGTM, ReferenceFeatures
from ..validate import CallRules, check_model_fits
from ..verbs import Pipeline
from ..vocab import parse_device
from .encoder_cache import EncoderCache
from .inputs import per_item
from .letterbox import letterbox
from .oom import MemoryHooks
from .placement import Placement
from .reference import EncodedReference, ReferenceEncoder, item_digests
from .runner import BatchRunner
from .speed import SpeedSettings
from .working_size import letterbox_plan, resolve_working_size

__all__ = ["CanvasPipeline"]


class CanvasPipeline(Pipeline):
    """The shared machinery of the pipelines on a `TWGTM` network (see the module docstring)."""

    rows_batched = False  # True: the sampler always runs its CFG rows as one UNet batch (the ladder starts at chunks)
    loads_in_parts = True  # whether a host may place its parts one phase at a time (SequentialPlacement)

    def __init__(self, model: TWGTM, device=None, dtype: torch.dtype | None = None, **options):
        if device is not None:
            device = parse_device(device)
            check_model_fits(model, device, dtype)  # before moving: a device too small is an error, not a crash
        if device is not None or dtype is not None:
            model = model.to(device=device, dtype=dtype)
        self.model = model.eval()
        self.config = model.config
        model.set_extended_attention(True)  # inference runs the SRM branch (stage-2 behaviour)
        self.encoder_cache = EncoderCache()
        self.placement = Placement(model)
        self.encoders = ReferenceEncoder(model, self.encoder_cache, self.placement)
        self.speed = SpeedSettings(model, self.encoder_cache)
        self.runner = BatchRunner(model, self.speed, self.placement, rows_batched=self.rows_batched)
        self.configure(**options)

    def _placed(self) -> list:
        """The parts that compute through the placement (each has a `placement` attribute)."""
        return [self.encoders, self.runner]

    def set_memory(self, hooks: MemoryHooks | None = None, placement: Placement | None = None) -> "CanvasPipeline":
        """Install a host's memory hooks (None: none) and part placement (None: every part where it is)."""
        self.runner.hooks = hooks
        self.placement = placement or Placement(self.model)
        for user in self._placed():
            user.placement = self.placement
        return self

    def call_rules(self) -> CallRules:
        """The checks of every verb's arguments: the sampling rules, prompts as long as the model reads."""
        return CallRules(prompt_bytes=self.config.prompt_max_length - 2)  # its tokenizer adds BOS and EOS

    @property
    def device(self) -> torch.device:
        """Where the work runs: the model's weights (ComfyUI moves them between calls), or the placement's device."""
        return self.placement.device

    @property
    def dtype(self) -> torch.dtype:
        """The model's weight dtype."""
        return next(self.model.parameters()).dtype

    @property
    def options(self) -> dict:
        """The speed options in force (see twgtm.sampling.speed)."""
        return self.speed.options

    def configure(self, **options) -> "CanvasPipeline":
        """Set speed / memory options (see twgtm.sampling.speed); none changes the result beyond rounding."""
        self.speed.configure(**options)
        return self

    def working_size(self, size=None) -> tuple[int, int] | None:
        """The working box (H,W) of the person half: `size`, else the model's default, else None (input size)."""
        return resolve_working_size(self.config, size)

    # ----- reference encoders ----------------------------------------------------------------------
    def encode_reference(self, image: torch.Tensor, prompts: list[str], mode: str = "") -> ReferenceFeatures:
        """SAM + SRM on the reference half (B,3,H,W), once per call; null tokens for models without them.

        With the `encoder_cache` option, a call with the same image, prompts and `mode` (the
        task and its mask mode) on unchanged weights returns the stored features.
        """
        return self.encoders(image, prompts, mode, use_cache=bool(self.options.get("encoder_cache")))

    def encode_image(self, image: torch.Tensor, prompt="upper", size=None, mode: str = "") -> EncodedReference:
        """SAM + SRM on a reference image (B,3,H,W) letterboxed to the working size, as the samplers see it.

        The result can be handed to `tryon` / `tryoff` (`reference=`) for a job whose reference half is
        this image at the same working size (the garment for try-on, the person for try-off).
        """
        plan = letterbox_plan(image, self.config, size)
        prompts = per_item(prompt, image.shape[0], "prompt")
        image_w = letterbox(image.float(), plan, fill=1.0)  # (B,3,Hc,Wc)
        try:
            features = self.encode_reference(image_w, prompts, mode)
        finally:
            self.placement.finish()
        return EncodedReference(features, plan, prompts, item_digests(image_w))
