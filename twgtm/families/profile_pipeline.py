"""A profile's pipeline: CatVTON try-on and TryOffAnyone try-off with their published sampling, and the task guard.

`twgtm.load_model(profile=...)` builds it. It shares placement, memory hooks and the out-of-memory
ladder with the TWGTM pipeline (`twgtm.sampling.canvas_pipeline.CanvasPipeline`) and samples as the
project's own inference does (`sd_inpaint_sampler`, `catvton`, `tryoffanyone`). Each profile does
one task; asking for another verb is an `UnsupportedTask` error that names the profile and the
weights that do it.
"""
from __future__ import annotations

from ..errors import ConfigError, UnsupportedTask
from ..results import TryOnResult
from ..sampling.canvas_pipeline import CanvasPipeline
from ..sampling.denoise import seeds_per_item
from ..sampling.inputs import broadcast, check_person
from ..validate import CallRules
from .catvton import catvton_tryon
from .profiles import PROFILES, get_profile, profile_for_task
from .results import ProfileTryOffResult, ProfileTryOnResult, profile_sampling_size
from .sd_inpaint_sampler import InpaintSampler, SamplingRequest
from .tryoffanyone import tryoffanyone_tryoff

TASK_NAMES = {"tryon": "try-on", "tryoff": "try-off"}

__all__ = ["ProfilePipeline", "PROFILES", "TASK_NAMES"]


class ProfilePipeline(CanvasPipeline):
    """Runs one profile model's task as the project's own inference does.

    Args:
        model: a `TWGTM` network with a profile config (what `twgtm.load_model(profile=...)` loads).
        device, dtype, **options: as `TWGTMPipeline`.
    """

    rows_batched = True  # the projects run [uncond, cond] as one UNet batch
    loads_in_parts = False  # its sampler runs UNet and VAE on the UNet's device: loaded whole

    def __init__(self, model, device=None, dtype=None, **options):
        super().__init__(model, device=device, dtype=dtype, **options)
        self.spec = get_profile(self.config.profile)
        self.family = self.spec.name
        self.default_steps = self.spec.steps
        self.sampler = InpaintSampler(self.model)

    def call_rules(self) -> CallRules:
        """The sampling rules; the model reads no text, so only a category is a prompt."""
        return CallRules(takes_text=False)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The one task the weights do."""
        return (self.spec.task,)

    def unsupported(self, verb: str, why: str = "") -> UnsupportedTask:
        """The error for a verb this profile cannot do, naming the weights that do it."""
        spec = self.spec
        if verb == "roundtrip":
            return UnsupportedTask(f"profile {spec.name} does {spec.task} only; a round trip with public weights takes "
                                   "a try-off and a try-on model: twgtm.roundtrip_pair(tryoff_pipe, tryon_pipe, ...) "
                                   "(CLI: roundtrip --tryoff-profile ... --tryon-profile ...)")
        if verb not in TASK_NAMES:
            return super().unsupported(verb, why)
        other = profile_for_task(verb)
        hint = (f"for {TASK_NAMES[verb]} load {other.name}'s {other.weights_file} ({other.repository}) with profile "
                f"{other.name}, or a TWGTM checkpoint (it does both)")
        return UnsupportedTask(f"profile {spec.name} does {TASK_NAMES[spec.task]} only (its weights {spec.weights_file} "
                               f"from {spec.repository}); it cannot do {TASK_NAMES[verb]}: {hint}")

    def _check_task(self, task: str) -> None:
        """An UnsupportedTask error unless this profile does `task`."""
        if task != self.spec.task:
            raise self.unsupported(task)

    def _request(self, b: int, seed, steps, guidance, scheduler, callback, cancel) -> SamplingRequest:
        """The sampling request, with the profile's published defaults for what is not given."""
        if scheduler not in (None, "ddim", "DDIM"):
            raise ConfigError(f"profile {self.spec.name} samples with DDIM (eta 1) as its published inference does; "
                              f"scheduler {scheduler!r} is not available for it: choose ddim")
        return SamplingRequest(seeds_per_item(seed, b), self.spec.steps if steps is None else int(steps),
                               self.spec.guidance if guidance is None else float(guidance), callback, cancel)

    def _tryon_chunk(self, person, garment, mask, *, seed, steps, guidance, scheduler, size, repaint: bool,
                     callback, cancel) -> ProfileTryOnResult:
        """CatVTON try-on of some items (B,3,H,W) in `garment` inside `mask` (or a mask source)."""
        request = self._request(person.shape[0], seed, steps, guidance, scheduler, callback, cancel)
        return catvton_tryon(self.sampler, person, garment, mask, request, size=size, repaint=repaint)

    def _tryoff_chunk(self, person, *, mask, seed, steps, guidance, scheduler, size, callback,
                      cancel) -> ProfileTryOffResult:
        """TryOffAnyone try-off of the garment inside `mask` (or a mask source) on some items (B,3,H,W)."""
        if mask is None:
            raise ConfigError(f"profile {self.spec.name} redraws the garment region of the person: give its garment "
                              "mask (mask=, CLI --mask M or --mask auto with --parser DIR, the TWGTM Auto Mask node); "
                              "mask_mode bbox/full needs a TWGTM checkpoint")
        request = self._request(person.shape[0], seed, steps, guidance, scheduler, callback, cancel)
        return tryoffanyone_tryoff(self.sampler, person, mask, request, size=size)

    def _no_reference(self, reference, image: str) -> None:
        """Profiles have no SAM/SRM encoders: a given reference is an error that says so."""
        if reference is not None:
            raise ConfigError(f"this profile model has no SAM/SRM reference encoders, so encoded features of the {image} "
                              "cannot be used: leave 'reference' unconnected ('TWGTM SAM Encode' needs a TWGTM "
                              "checkpoint)")

    def _run(self, profile_pass, person, size, guidance):
        """`profile_pass(items)` over the batch in chunks as the runner's plan says (one seed per item, so the
        chunks give the batch's images); the runner knows the project runs [uncond, cond] as one UNet batch."""
        guidance = self.spec.guidance if guidance is None else float(guidance)
        half = profile_sampling_size(self.config, size, tuple(person.shape[-2:]))
        return self.runner.run(lambda items, plan: profile_pass(items), person.shape[0], half, guidance, None)

    def tryon(self, person, garment, mask, *, prompt="upper", seed=0, steps=None, guidance=None, scheduler=None,
              size=None, repaint: bool = False, repaint_blur=None, callback=None, cancel=None, cfg_batched=None,
              reference=None) -> TryOnResult:
        """CatVTON try-on, as CatVTON's app runs it.

        Args:
            person: (B,3,H,W) pixels in [-1, 1].
            garment: (1|B,3,h,w) flat garment(s).
            mask: (1|B,1,H,W) region to redraw, or a mask source (e.g. `twgtm.AutoMask`).
            prompt, repaint_blur, cfg_batched: accepted for the same call as TWGTM's; not used (CatVTON has no
                prompt, blurs its repaint by 1/50 of the height and always batches its CFG rows).
            seed: an int (item i uses seed + i) or one per item.
            steps: DDIM steps (default 50, as published).
            guidance: guidance scale (default 2.5).
            scheduler: 'ddim' only (None = ddim).
            size: working size (H, W), multiples of the latent stride (default 1024x768).
            repaint: CatVTON's repaint (the person blended back outside the mask).
            callback, cancel: as `TWGTMPipeline.tryon`.
            reference: must be None (no SAM/SRM encoders).

        Returns:
            ProfileTryOnResult: `images` at the person's size, `masks`, and `working`: CatVTON's own
            8-bit output at the working size.
        """
        self._no_reference(reference, "garment")
        self._check_task("tryon")
        b = check_person(person)
        garment = broadcast(garment, b, "garment", 3)
        seeds = seeds_per_item(seed, b)
        if not callable(mask):
            mask = broadcast(mask, b, "mask", 1)

        def profile_pass(items: slice):
            return self._tryon_chunk(person[items], garment[items], mask if callable(mask) else mask[items],
                                     seed=seeds[items], steps=steps, guidance=guidance, scheduler=scheduler, size=size,
                                     repaint=repaint, callback=callback, cancel=cancel)

        return self._run(profile_pass, person, size, guidance)

    def tryoff(self, person, *, prompt="upper", mask_mode: str = "bbox", mask=None, seed=0, steps=None, guidance=None,
               scheduler=None, size=None, callback=None, cancel=None, cfg_batched=None, reference=None):
        """TryOffAnyone try-off of the garment inside `mask` on `person`, as TryOffAnyone runs it.

        Args:
            person: (B,3,H,W) dressed persons.
            mask: (1|B,1,H,W) the garment region on the person, or a mask source (required).
            prompt, mask_mode, cfg_batched: accepted for the same call as TWGTM's; not used.
            seed, steps, guidance, scheduler, size, callback, cancel: as `tryon` (default 50 steps, 512x384).
            reference: must be None (no SAM/SRM encoders).

        Returns:
            ProfileTryOffResult: `images` at the person's size, `masks`, and TryOffAnyone's own `working` output.
        """
        self._no_reference(reference, "person")
        self._check_task("tryoff")
        b = check_person(person)
        seeds = seeds_per_item(seed, b)
        if mask is not None and not callable(mask):
            mask = broadcast(mask, b, "mask", 1)

        def profile_pass(items: slice):
            part = mask if mask is None or callable(mask) else mask[items]
            return self._tryoff_chunk(person[items], mask=part, seed=seeds[items], steps=steps, guidance=guidance,
                                      scheduler=scheduler, size=size, callback=callback, cancel=cancel)

        return self._run(profile_pass, person, size, guidance)
