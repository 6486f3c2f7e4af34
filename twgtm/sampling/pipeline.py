"""The TWGTM sampler: try-on, try-off and the round trip, for any image size and any batch size.

A thin façade over the sampling parts, built once per model and reused by every call (a CatVTON or
TryOffAnyone profile model is routed to its project's own sampling, `twgtm.families.profile_sampler`):
`tasks` prepares each task's canvas and mask at the working size and takes the result back to the
input's size, `reference.ReferenceEncoder` runs SAM/SRM once per call through the pipeline's own
`encoder_cache`, `denoise.Denoiser` runs the denoising loop with classifier-free guidance, and
`speed.SpeedSettings` holds the speed and memory switches (`TWGTMPipeline(model, **options)` or
`configure(**options)`; `python -m twgtm.bench` measures each). The dtype is the constructor's.

Memory: every call runs through `runner.BatchRunner` (`oom.run_with_fallback`; on an out-of-memory
error: the CFG halves one after the other, then the batch in chunks, then VAE tiling; the same
images). `set_memory` installs a host's `MemoryHooks` (asked to free each attempt's estimated
activation bytes, `memory_plan.estimate_run`) and a `Placement` (`SequentialPlacement`: one phase's
parts on the GPU at a time).
"""
from __future__ import annotations

import torch

from ..errors import SamplingCancelled
from ..model.network import TWGTM, ReferenceFeatures
from ..validate import check_sampling
from . import tasks
from .denoise import Callback, Denoiser, SamplerSettings, item_seeds
from .encoder_cache import EncoderCache
from .inputs import broadcast, check_person, per_item
from .letterbox import letterbox
from .oom import MemoryHooks, RunPlan
from .placement import Placement
from .reference import EncodedReference, ReferenceEncoder, features_to, item_digests
from .runner import BatchRunner
from .speed import SPEED_DEFAULTS, SpeedSettings
from .tasks import DEFAULT_WORKING_SIZE, MASK_MODES, RoundTripResult, TryOffResult, TryOnResult

DEFAULT_STEPS = 30  # TWGTM checkpoints; profiles use their projects' published defaults

__all__ = ["TWGTMPipeline", "SamplingCancelled", "TryOnResult", "TryOffResult", "RoundTripResult",
           "DEFAULT_WORKING_SIZE", "MASK_MODES", "SPEED_DEFAULTS", "Callback"]


class TWGTMPipeline:
    """Try-on, try-off and round trip with one TWGTM model (or a CatVTON / TryOffAnyone profile)."""

    def __init__(self, model: TWGTM, device=None, dtype: torch.dtype | None = None, **options):
        if device is not None or dtype is not None:
            model = model.to(device=device, dtype=dtype)
        self.model = model.eval()
        self.config = model.config
        model.set_extended_attention(True)  # inference runs the SRM branch (stage-2 behaviour)
        self.encoder_cache = EncoderCache()
        self.placement = Placement(model)
        self.encoders = ReferenceEncoder(model, self.encoder_cache, self.placement)
        self.denoiser = Denoiser(model, self.placement)
        self.speed = SpeedSettings(model, self.encoder_cache)
        self.profile = None  # the ProfileSampler of a CatVTON / TryOffAnyone model
        if model.config.profile != "twgtm":
            from ..families.profile_sampler import ProfileSampler

            self.profile = ProfileSampler(model)
        self.runner = BatchRunner(model, self.speed, self.placement, rows_batched=self.profile is not None)
        self.configure(**options)

    def set_memory(self, hooks: MemoryHooks | None = None, placement: Placement | None = None) -> "TWGTMPipeline":
        """Install a host's memory hooks (None: none) and part placement (None: every part where it is)."""
        self.runner.hooks = hooks
        self.placement = placement or Placement(self.model)
        self.encoders.placement = self.denoiser.placement = self.runner.placement = self.placement
        return self

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks this model does: both for TWGTM, one for a profile."""
        return ("tryon", "tryoff") if self.profile is None else self.profile.tasks

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

    def configure(self, **options) -> "TWGTMPipeline":
        """Set speed / memory options (see twgtm.sampling.speed); none changes the result beyond rounding."""
        self.speed.configure(**options)
        return self

    def working_size(self, size=None) -> tuple[int, int] | None:
        """The working box (H,W) of the person half: `size`, else the model's default, else None (input size)."""
        if self.profile is not None and size is None:
            return self.config.extra.get("working_size") and tuple(self.config.extra["working_size"])
        return tasks.working_size(self.config, size)

    # ----- reference encoders ----------------------------------------------------------------------
    def encode_reference(self, image: torch.Tensor, prompts: list[str], mode: str = "") -> ReferenceFeatures:
        """SAM + SRM on the reference half (B,3,H,W), once per call; null tokens for profiles without them.

        With the `encoder_cache` option, a call with the same image, prompts and `mode` (the
        task and its mask mode) on unchanged weights returns the stored features.
        """
        return self.encoders(image, prompts, mode, use_cache=bool(self.options.get("encoder_cache")))

    def encode_image(self, image: torch.Tensor, prompt="upper", size=None, mode: str = "") -> EncodedReference:
        """SAM + SRM on a reference image (B,3,H,W) letterboxed to the working size, as the samplers see it.

        The result can be handed to `tryon` / `tryoff` (`reference=`) for a job whose reference half is
        this image at the same working size (the garment for try-on, the person for try-off).
        """
        check_sampling("encode", self.config, {"image": image}, prompt=prompt, takes_text=self.profile is None, size=size)
        plan = tasks.plan_canvas(image, self.config, size)
        prompts = per_item(prompt, image.shape[0], "prompt")
        image_w = letterbox(image.float(), plan, fill=1.0)  # (B,3,Hc,Wc)
        try:
            features = self.encode_reference(image_w, prompts, mode)
        finally:
            self.placement.finish()
        return EncodedReference(features, plan, prompts, item_digests(image_w))

    @staticmethod
    def _defaults(steps, guidance, scheduler) -> tuple[int, float, str]:
        """TWGTM's sampling defaults for the settings a caller left at None: 30 DDIM steps, guidance 2.5."""
        return (DEFAULT_STEPS if steps is None else int(steps), 2.5 if guidance is None else float(guidance),
                "ddim" if scheduler is None else scheduler)

    def _settings(self, seeds: list[int], steps, guidance, scheduler, callback, cancel, cfg_batched: bool) -> SamplerSettings:
        return SamplerSettings(list(seeds), int(steps), float(guidance), scheduler, callback, cancel, bool(cfg_batched))

    def _features(self, reference: EncodedReference | None, image: torch.Tensor, prompts: list[str], items: slice,
                  mode: str, what: str) -> ReferenceFeatures:
        """The reference half's features: from a given `reference` (checked to be of `image`), else computed."""
        if reference is None:
            return self.encode_reference(image, prompts, mode)
        return features_to(reference.for_images(image, prompts, items, what), self.device)

    # ----- tasks -----------------------------------------------------------------------------------
    def tryon(self, person: torch.Tensor, garment: torch.Tensor, mask, *, prompt="upper",
              seed=0, steps: int | None = None, guidance: float | None = None, scheduler: str | None = None, size=None,
              repaint: bool = False, repaint_blur: int | None = None, callback: Callback | None = None,
              cancel=None, cfg_batched: bool | None = None, reference: EncodedReference | None = None) -> TryOnResult:
        """Dress `person` (B,3,H,W) in `garment` (1|B,3,h,w) inside `mask` (1|B,1,H,W); output (B,3,H,W).

        `prompt`: a category ('upper', 'lower', 'dress') or free text, one or per item. `repaint`
        pastes the person back outside the mask through a blurred edge (radius `repaint_blur`, default
        1/64 of the image height; a soft mask keeps its own edge): pixels outside the mask are then
        exactly the input's. `mask` may also be a mask source (person -> mask, e.g.
        `twgtm.parsing.AutoMask`). `reference`: the garment's features from `encode_image` (else
        computed). Defaults: 30 DDIM steps, guidance 2.5; a CatVTON profile samples as CatVTON does
        (50 steps, its repaint), a try-off-only profile refuses.
        """
        check_sampling("tryon", self.config, {"person": person, "garment": garment}, {"mask": (mask, True)},
                       prompt=prompt, takes_text=self.profile is None, seed=seed, steps=steps, guidance=guidance,
                       scheduler=scheduler, size=size, repaint_blur=repaint_blur)
        if self.profile is not None:
            return self.profile.run_tryon(self.runner, person, garment, mask, seed=seed, steps=steps, guidance=guidance,
                                          scheduler=scheduler, size=size, repaint=repaint, callback=callback,
                                          cancel=cancel, reference=reference)
        b = check_person(person)
        if callable(mask):
            mask = mask(person)  # (B,1,H,W)
        steps, guidance, scheduler = self._defaults(steps, guidance, scheduler)
        job = tasks.prepare_tryon(person, garment, mask, prompt, self.config, size)
        seeds = item_seeds(seed, b)

        def one_pass(items: slice, plan: RunPlan) -> TryOnResult:
            part = job.select(items)
            settings = self._settings(seeds[items], steps, guidance, scheduler, callback, cancel, plan.cfg_batched)
            feats = self._features(reference, part.garment, part.prompts, items, "tryon", "garment")
            sampled = self.denoiser.sample(part.canvas, feats, settings, unet=self.speed.unet)  # (b,3,Hc,Wc)
            return tasks.finish_tryon(part, sampled, person[items], repaint, repaint_blur)

        return self.runner.run(one_pass, b, job.plan.canvas, guidance, cfg_batched, tasks.concat_tryon)

    def tryoff(self, person: torch.Tensor, *, prompt="upper", mask_mode: str = "bbox", mask=None,
               seed=0, steps: int | None = None, guidance: float | None = None, scheduler: str | None = None, size=None,
               callback: Callback | None = None, cancel=None, cfg_batched: bool | None = None,
               reference: EncodedReference | None = None) -> TryOffResult:
        """Take the garment off `person` (B,3,H,W): a flat garment image (B,3,H,W) at the person's size.

        The garment is generated inside: `mask` when given (1|B,1,H,W, on the target half, or a mask
        source), else `mask_mode` 'full' (the whole half) or 'bbox' (the box of the SRM-predicted
        garment mask). `reference`: the person's features from `encode_image` (else computed). A
        TryOffAnyone profile takes `mask` as the garment region on the person and samples as
        TryOffAnyone does (50 steps); a try-on-only profile refuses.
        """
        check_sampling("tryoff", self.config, {"person": person}, {"mask": (mask, True)}, prompt=prompt,
                       takes_text=self.profile is None, seed=seed, steps=steps, guidance=guidance, scheduler=scheduler,
                       size=size, mask_mode=mask_mode if mask is None else None)
        if self.profile is not None:
            return self.profile.run_tryoff(self.runner, person, mask=mask, seed=seed, steps=steps, guidance=guidance,
                                           scheduler=scheduler, size=size, callback=callback, cancel=cancel,
                                           reference=reference)
        b = check_person(person)
        if callable(mask):
            mask = mask(person)  # (B,1,H,W)
        steps, guidance, scheduler = self._defaults(steps, guidance, scheduler)
        job = tasks.prepare_tryoff(person, prompt, mask_mode, mask, self.config, size, has_srm=self.encoders.enabled)
        seeds = item_seeds(seed, b)

        def one_pass(items: slice, plan: RunPlan) -> TryOffResult:
            part = job.select(items)
            settings = self._settings(seeds[items], steps, guidance, scheduler, callback, cancel, plan.cfg_batched)
            feats = self._features(reference, part.person, part.prompts, items, part.mode, "person")
            canvas, target_mask, probs = tasks.tryoff_canvas(part, feats, self.config)
            sampled = self.denoiser.sample(canvas, feats, settings, unet=self.speed.unet)  # (b,3,Hc,Wc)
            return tasks.finish_tryoff(part, sampled, person[items], target_mask, probs)

        return self.runner.run(one_pass, b, job.plan.canvas, guidance, cfg_batched, tasks.concat_tryoff)

    def roundtrip(self, person_a: torch.Tensor, person_b: torch.Tensor | None = None, *, mask_b: torch.Tensor | None = None,
                  mask_a: torch.Tensor | None = None, mask_mode: str = "bbox", prompt="upper", seed=0,
                  steps: int | None = None, guidance: float | None = None, scheduler: str | None = None, size=None,
                  repaint: bool = False, callback: Callback | None = None, cancel=None) -> RoundTripResult:
        """Take A's garment off as a flat image, then dress B in it (B = A when not given: a consistency check).

        B's try-on mask is `mask_b` when given; otherwise the body-region box of the garment category
        (upper / lower / dress; free-text prompts use the upper box) — give `mask_b` for real use.
        A profile does one task: a round trip with public weights takes two models
        (`twgtm.families.roundtrip.roundtrip_pair`).
        """
        if self.profile is not None:
            self.profile.refuse_roundtrip()
        check_sampling("round trip", self.config, {"person_a": person_a, "person_b": person_b},
                       {"mask_a": (mask_a, True), "mask_b": (mask_b, True)}, prompt=prompt, seed=seed, steps=steps,
                       guidance=guidance, scheduler=scheduler, size=size, mask_mode=mask_mode if mask_a is None else None)
        common = dict(prompt=prompt, seed=seed, steps=steps, guidance=guidance, scheduler=scheduler, size=size,
                      callback=callback, cancel=cancel)
        off = self.tryoff(person_a, mask_mode=mask_mode, mask=mask_a, **common)
        b = off.images.shape[0]
        person_b = person_a if person_b is None else broadcast(person_b, b, "person_b", 3)
        if mask_b is None:
            mask_b = tasks.category_masks(prompt, person_b)
        on = self.tryon(person_b, off.images, mask_b, repaint=repaint, **common)
        return RoundTripResult(garments=off, dressed=on)
