"""The TWGTM sampler: try-on, try-off and the round trip, for any image size and any batch size.

A thin façade over the sampling parts, built once per model and reused by every call (`twgtm.load_model`
builds it for a TWGTM checkpoint, the demo model or a preset; other families bring their own
pipelines): `tasks` prepares each task's canvas and mask at the working size and takes the result
back to the input's size, `reference.ReferenceEncoder` runs SAM/SRM once per call through the
pipeline's own `encoder_cache`, `denoise.Denoiser` runs the denoising loop with classifier-free
guidance, and `speed.SpeedSettings` holds the speed and memory switches (`TWGTMPipeline(model,
**options)` or `configure(**options)`; `python -m twgtm.bench` measures each). The dtype is the
constructor's. Placement, memory hooks and the encoders are `canvas_pipeline.CanvasPipeline`'s.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError, SamplingCancelled
from ..model.network import TWGTM, ReferenceFeatures
from ..results import RoundTripResult, TryOffResult, TryOnResult
from . import tasks
from .canvas_pipeline import CanvasPipeline
from .denoise import Callback, Denoiser, SamplerSettings, seeds_per_item
from .inputs import broadcast, check_person
from .oom import RunPlan
from .reference import EncodedReference, features_to
from .speed import SPEED_DEFAULTS
from .tasks import MASK_MODES

DEFAULT_STEPS = 30  # TWGTM checkpoints; profiles use their projects' published defaults
DEFAULT_GUIDANCE = 2.5

__all__ = ["TWGTMPipeline", "SamplingCancelled", "TryOnResult", "TryOffResult", "RoundTripResult", "MASK_MODES",
           "SPEED_DEFAULTS", "Callback"]


class TWGTMPipeline(CanvasPipeline):
    """Try-on, try-off and round trip with one TWGTM model.

    Args:
        model: a `TWGTM` network (what `twgtm.load_model` loads from a checkpoint, or `build_model(preset)`).
        device: move the model there first (None: where it is).
        dtype: cast the weights first (None: as they are).
        **options: speed and memory switches (`twgtm.sampling.speed`: attention, cfg_batched, kv_cache,
            skip_null_rows, encoder_cache, vae_slicing, vae_tiling, channels_last, compile_unet).
    """

    family = "twgtm"
    default_steps = DEFAULT_STEPS
    tasks = ("tryon", "tryoff", "roundtrip")  # the verbs it does, known before a model loads (twgtm.loading)

    def __init__(self, model: TWGTM, device=None, dtype: torch.dtype | None = None, **options):
        if model.config.profile != "twgtm":
            raise ConfigError(f"this is a {model.config.profile} model, sampled as its project publishes: build its "
                              "pipeline with twgtm.load_model(profile=...) or twgtm.ProfilePipeline(model)")
        super().__init__(model, device=device, dtype=dtype, **options)
        self.denoiser = Denoiser(self.model, self.placement)

    def _placed(self) -> list:
        """The encoders, the runner and the denoiser compute through the placement."""
        return [*super()._placed(), self.denoiser]

    @staticmethod
    def _defaults(steps, guidance, scheduler) -> tuple[int, float, str]:
        """TWGTM's sampling defaults for the settings a caller left at None: 30 DDIM steps, guidance 2.5."""
        return (DEFAULT_STEPS if steps is None else int(steps), DEFAULT_GUIDANCE if guidance is None else float(guidance),
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
        """Dress `person` in `garment` inside `mask`.

        Args:
            person: (B,3,H,W) pixels in [-1, 1], any size (letterboxed to the working size and back).
            garment: (1|B,3,h,w) flat garment(s) in [-1, 1], any size (aspect kept).
            mask: (1|B,1,H,W) region to redraw on the person (1 = redraw), or a mask source (person ->
                mask, e.g. `twgtm.AutoMask`).
            prompt: a category ('upper', 'lower', 'dress') or free text, one or one per item.
            seed: an int (item i uses seed + i) or one seed per item.
            steps: denoising steps (default 30).
            guidance: classifier-free guidance scale (default 2.5; 1 = off).
            scheduler: 'ddim' (default), 'dpmpp_2m', 'euler' or 'unipc'.
            size: the working size (H, W) of the person half (default: the model's own).
            repaint: paste the person back outside the mask through a blurred edge: pixels outside the
                mask are then exactly the input's.
            repaint_blur: the edge's radius in pixels (default 1/64 of the height; a soft mask keeps its own edge).
            callback: called after each step with (step, steps, latents); returning False stops.
            cancel: an Event, a callable or a bool, checked before each step.
            cfg_batched: run both guidance branches as one batch (default: the pipeline's option).
            reference: the garment's features from `encode_image` (else computed).

        Returns:
            TryOnResult: `images` (B,3,H,W) at the person's size and the binarized `masks` used.
        """
        b = check_person(person)
        if callable(mask):
            mask = mask(person)  # (B,1,H,W)
        steps, guidance, scheduler = self._defaults(steps, guidance, scheduler)
        job = tasks.prepare_tryon(person, garment, mask, prompt, self.config, size)
        seeds = seeds_per_item(seed, b)

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
        """Take the garment off `person` as a flat garment image.

        Args:
            person: (B,3,H,W) dressed persons in [-1, 1].
            prompt: which garment: a category or free text, one or one per item.
            mask_mode: where the garment is generated when no `mask` is given: 'bbox' (the box of the
                SRM-predicted garment mask, the paper's best) or 'full' (the whole half).
            mask: (1|B,1,H,W) the region to generate the garment in, or a mask source; overrides `mask_mode`.
            seed, steps, guidance, scheduler, size, callback, cancel, cfg_batched: as in `tryon`.
            reference: the person's features from `encode_image` (else computed).

        Returns:
            TryOffResult: `images` (B,3,H,W) at the person's size, the `masks` generated in and the
            predicted `garment_masks`.
        """
        b = check_person(person)
        if callable(mask):
            mask = mask(person)  # (B,1,H,W)
        steps, guidance, scheduler = self._defaults(steps, guidance, scheduler)
        job = tasks.prepare_tryoff(person, prompt, mask_mode, mask, self.config, size, has_srm=self.encoders.enabled)
        seeds = seeds_per_item(seed, b)

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

        Args:
            person_a: (B,3,H,W) persons whose garment is taken.
            person_b: (1|B,3,H',W') persons to dress (default: A).
            mask_b: B's try-on region; default the body-region box of the category (free text: the
                upper box) — give it for real use.
            mask_a: the try-off region on A (overrides `mask_mode`).
            mask_mode, prompt, seed, steps, guidance, scheduler, size, repaint, callback, cancel: as in
                `tryon` / `tryoff`, for both passes.

        Returns:
            RoundTripResult: `garments` (the try-off), `dressed` (the try-on); `images` are the dressed persons.
        """
        common = dict(prompt=prompt, seed=seed, steps=steps, guidance=guidance, scheduler=scheduler, size=size,
                      callback=callback, cancel=cancel)
        off = self.tryoff(person_a, mask_mode=mask_mode, mask=mask_a, **common)
        b = off.images.shape[0]
        person_b = person_a if person_b is None else broadcast(person_b, b, "person_b", 3)
        if mask_b is None:
            mask_b = tasks.category_masks(prompt, person_b)
        on = self.tryon(person_b, off.images, mask_b, repaint=repaint, **common)
        return RoundTripResult(garments=off, dressed=on)
