"""The TWGTM sampler: try-on, try-off and the round trip, for any image size and any batch size.

A thin façade over the sampling parts, built once per model and reused by every call (a CatVTON or
TryOffAnyone profile model is routed to its project's own sampling, `twgtm.families.profile_sampler`):
`tasks` prepares each task's canvas and mask at the working size and takes the result back to the
input's size, `reference.ReferenceEncoder` runs SAM/SRM once per call through the pipeline's own
`encoder_cache`, `denoise.Denoiser` runs the denoising loop with classifier-free guidance, and
`speed.SpeedSettings` holds the speed and memory switches (`TWGTMPipeline(model, **options)` or
`configure(**options)`; `python -m twgtm.bench` measures each). The dtype is the constructor's.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError, SamplingCancelled
from ..model.network import TWGTM, ReferenceFeatures
from . import tasks
from .denoise import Callback, Denoiser, SamplerSettings, item_seeds
from .encoder_cache import EncoderCache
from .inputs import broadcast, per_item
from .letterbox import letterbox
from .reference import EncodedReference, ReferenceEncoder
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
        self.encoders = ReferenceEncoder(model, self.encoder_cache)
        self.denoiser = Denoiser(model)
        self.speed = SpeedSettings(model, self.encoder_cache)
        self.profile = None  # the ProfileSampler of a CatVTON / TryOffAnyone model
        if model.config.profile != "twgtm":
            from ..families.profile_sampler import ProfileSampler

            self.profile = ProfileSampler(model)
        self.configure(**options)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks this model does: both for TWGTM, one for a profile."""
        return ("tryon", "tryoff") if self.profile is None else self.profile.tasks

    @property
    def device(self) -> torch.device:
        """Where the model's weights are now (ComfyUI moves them between calls)."""
        return next(self.model.parameters()).device

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
        return tasks.working_size(self.config, size)

    # ----- reference encoders ----------------------------------------------------------------------
    def encode_reference(self, image: torch.Tensor, prompts: list[str], mode: str = "") -> ReferenceFeatures:
        """SAM + SRM on the reference half (B,3,H,W), once per call; null tokens for profiles without them.

        With the `encoder_cache` option, a call with the same image, prompts and `mode` (the
        task and its mask mode) on unchanged weights returns the stored features.
        """
        return self.encoders(image, prompts, mode, use_cache=bool(self.options.get("encoder_cache")))

    def encode_image(self, image: torch.Tensor, prompt="upper", size=None) -> EncodedReference:
        """SAM + SRM on a reference image (B,3,H,W) letterboxed to the working size, as the samplers see it."""
        plan = tasks.plan_canvas(image, self.config, size)
        prompts = per_item(prompt, image.shape[0], "prompt")
        image_w = letterbox(image, plan, fill=1.0)  # (B,3,Hc,Wc)
        return EncodedReference(self.encode_reference(image_w, prompts), plan, prompts)

    def _settings(self, seed, b, steps, guidance, scheduler, callback, cancel, cfg_batched) -> SamplerSettings:
        steps = DEFAULT_STEPS if steps is None else steps
        guidance = 2.5 if guidance is None else guidance
        scheduler = "ddim" if scheduler is None else scheduler
        if cfg_batched is None:
            cfg_batched = self.options.get("cfg_batched", True)
        return SamplerSettings(item_seeds(seed, b), int(steps), float(guidance), scheduler, callback, cancel,
                               bool(cfg_batched))

    # ----- tasks -----------------------------------------------------------------------------------
    def tryon(self, person: torch.Tensor, garment: torch.Tensor, mask, *, prompt="upper",
              seed=0, steps: int | None = None, guidance: float | None = None, scheduler: str | None = None, size=None,
              repaint: bool = False, repaint_blur: int | None = None, callback: Callback | None = None,
              cancel=None, cfg_batched: bool | None = None) -> TryOnResult:
        """Dress `person` (B,3,H,W) in `garment` (1|B,3,h,w) inside `mask` (1|B,1,H,W); output (B,3,H,W).

        `prompt`: a category ('upper', 'lower', 'dress') or free text, one or per item. `repaint`
        pastes the person back outside the mask through a blurred edge (radius `repaint_blur`, default
        1/64 of the image height): pixels outside the mask are then exactly the input's. `mask` may
        also be a mask source (person -> mask, e.g. `twgtm.parsing.AutoMask`). Defaults: 30 DDIM steps,
        guidance 2.5; a CatVTON profile samples as CatVTON does (50 steps, its repaint), a try-off-only
        profile refuses.
        """
        if self.profile is not None:
            return self.profile.tryon(person, garment, mask, seed=seed, steps=steps, guidance=guidance,
                                      scheduler=scheduler, size=size, repaint=repaint, callback=callback, cancel=cancel)
        if callable(mask):
            mask = mask(person)  # (B,1,H,W)
        job = tasks.prepare_tryon(person, garment, mask, prompt, self.config, size)
        settings = self._settings(seed, person.shape[0], steps, guidance, scheduler, callback, cancel, cfg_batched)
        feats = self.encode_reference(job.garment, job.prompts, mode="tryon")
        sampled = self.denoiser.sample(job.canvas, feats, settings, unet=self.speed.unet)  # (B,3,Hc,Wc)
        return tasks.finish_tryon(job, sampled, person, repaint, repaint_blur)

    def tryoff(self, person: torch.Tensor, *, prompt="upper", mask_mode: str = "bbox", mask=None,
               seed=0, steps: int | None = None, guidance: float | None = None, scheduler: str | None = None, size=None,
               callback: Callback | None = None, cancel=None, cfg_batched: bool | None = None) -> TryOffResult:
        """Take the garment off `person` (B,3,H,W): a flat garment image (B,3,H,W) at the person's size.

        The garment is generated inside: `mask` when given (1|B,1,H,W, on the target half, or a mask
        source), else `mask_mode` 'full' (the whole half) or 'bbox' (the box of the SRM-predicted
        garment mask). A TryOffAnyone profile takes `mask` as the garment region on the person and
        samples as TryOffAnyone does (50 steps); a try-on-only profile refuses.
        """
        if self.profile is not None:
            return self.profile.tryoff(person, mask=mask, seed=seed, steps=steps, guidance=guidance,
                                       scheduler=scheduler, size=size, callback=callback, cancel=cancel)
        if callable(mask):
            mask = mask(person)  # (B,1,H,W)
        job = tasks.prepare_tryoff(person, prompt, mask_mode, mask, self.config, size, has_srm=self.encoders.enabled)
        settings = self._settings(seed, person.shape[0], steps, guidance, scheduler, callback, cancel, cfg_batched)
        feats = self.encode_reference(job.person, job.prompts, mode=job.mode)
        canvas, target_mask, probs = tasks.tryoff_canvas(job, feats, self.config)
        sampled = self.denoiser.sample(canvas, feats, settings, unet=self.speed.unet)  # (B,3,Hc,Wc)
        return tasks.finish_tryoff(job, sampled, person, target_mask, probs)

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
            raise ConfigError(f"profile {self.profile.profile.name} does {self.profile.profile.task} only; a round trip "
                              "with public weights takes a try-off and a try-on model: "
                              "twgtm.families.roundtrip.roundtrip_pair(tryoff_pipe, tryon_pipe, ...) "
                              "(CLI: roundtrip --tryoff-profile ... --tryon-profile ...)")
        common = dict(prompt=prompt, seed=seed, steps=steps, guidance=guidance, scheduler=scheduler, size=size,
                      callback=callback, cancel=cancel)
        off = self.tryoff(person_a, mask_mode=mask_mode, mask=mask_a, **common)
        b = off.images.shape[0]
        person_b = person_a if person_b is None else broadcast(person_b, b, "person_b", 3)
        if mask_b is None:
            mask_b = tasks.category_masks(prompt, person_b)
        on = self.tryon(person_b, off.images, mask_b, repaint=repaint, **common)
        return RoundTripResult(garments=off, dressed=on)
