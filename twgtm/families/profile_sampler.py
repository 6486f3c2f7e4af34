"""A profile model's tasks: CatVTON try-on and TryOffAnyone try-off with their published sampling, and the task guard.

`TWGTMPipeline` routes `tryon` / `tryoff` here when its model is a profile; each profile does one task,
and asking for the other is a ConfigError that names the profile and the weights that do it.
"""
from __future__ import annotations

from ..errors import ConfigError
from ..sampling.inputs import broadcast, check_person
from .catvton import catvton_tryon
from .preprocess import CATVTON_MASK_BLUR
from .profiles import PROFILES, get_profile, profile_for_task
from .results import ProfileTryOffResult, ProfileTryOnResult, working_size
from .sd_inpaint_sampler import InpaintSampler, SamplingRequest
from .tryoffanyone import tryoffanyone_tryoff

TASK_NAMES = {"tryon": "try-on", "tryoff": "try-off"}


def seeds_of(seed, b: int) -> list[int]:
    """An int gives seed, seed+1, ...; a list gives one seed per item (as the TWGTM sampler)."""
    from ..sampling.denoise import item_seeds

    return item_seeds(seed, b)


class ProfileSampler:
    """Runs one profile model's task as the project's own inference does."""

    def __init__(self, model):
        self.model = model
        self.profile = get_profile(model.config.profile)
        self.sampler = InpaintSampler(model)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The one task the weights do."""
        return (self.profile.task,)

    def check_task(self, task: str) -> None:
        """A ConfigError unless this profile does `task`, naming the weights that do."""
        if task == self.profile.task:
            return
        other = profile_for_task(task) if task in TASK_NAMES else None
        does = TASK_NAMES[self.profile.task]
        wanted = TASK_NAMES.get(task, task)
        hint = (f"for {wanted} load {other.name}'s {other.weights_file} ({other.repository}) with profile {other.name}, "
                "or a TWGTM checkpoint (it does both)") if other else "a round trip needs a try-off and a try-on model"
        raise ConfigError(f"profile {self.profile.name} does {does} only (its weights {self.profile.weights_file} from "
                          f"{self.profile.repository}); it cannot do {wanted}: {hint}")

    def request(self, b: int, seed, steps, guidance, scheduler, callback, cancel) -> SamplingRequest:
        """The sampling request, with the profile's published defaults for what is not given."""
        if scheduler not in (None, "ddim", "DDIM"):
            raise ConfigError(f"profile {self.profile.name} samples with DDIM (eta 1) as its published inference does; "
                              f"scheduler {scheduler!r} is not available for it: choose ddim")
        return SamplingRequest(seeds_of(seed, b), self.profile.steps if steps is None else int(steps),
                               self.profile.guidance if guidance is None else float(guidance), callback, cancel)

    def tryon(self, person, garment, mask, *, seed=0, steps=None, guidance=None, scheduler=None, size=None,
              repaint: bool = False, mask_blur: int = CATVTON_MASK_BLUR, callback=None, cancel=None) -> ProfileTryOnResult:
        """CatVTON try-on of `person` (B,3,H,W) in `garment` inside `mask` (or a mask source)."""
        self.check_task("tryon")
        request = self.request(person.shape[0], seed, steps, guidance, scheduler, callback, cancel)
        return catvton_tryon(self.sampler, person, garment, mask, request, size=size, repaint=repaint, mask_blur=mask_blur)

    def tryoff(self, person, *, mask=None, seed=0, steps=None, guidance=None, scheduler=None, size=None,
               callback=None, cancel=None) -> ProfileTryOffResult:
        """TryOffAnyone try-off of the garment inside `mask` (or a mask source) on `person` (B,3,H,W)."""
        self.check_task("tryoff")
        if mask is None:
            raise ConfigError(f"profile {self.profile.name} redraws the garment region of the person: give its garment "
                              "mask (mask=, CLI --mask M or --mask auto with --parser DIR, the TWGTM Auto Mask node); "
                              "mask_mode bbox/full needs a TWGTM checkpoint")
        request = self.request(person.shape[0], seed, steps, guidance, scheduler, callback, cancel)
        return tryoffanyone_tryoff(self.sampler, person, mask, request, size=size)

    # ----- a pipeline call: the batch through the pipeline's BatchRunner (memory hooks, the ladder from the chunks on)
    def no_reference(self, reference, image: str) -> None:
        """Profiles have no SAM/SRM encoders: a given reference is an error that says so."""
        if reference is not None:
            raise ConfigError(f"this profile model has no SAM/SRM reference encoders, so encoded features of the {image} "
                              "cannot be used: leave 'reference' unconnected ('TWGTM SAM Encode' needs a TWGTM "
                              "checkpoint)")

    def _run(self, runner, profile_pass, person, size, guidance):
        """`profile_pass(items)` over the batch in chunks as the runner's plan says (one seed per item, so the
        chunks give the batch's images); the runner knows the project runs [uncond, cond] as one UNet batch."""
        guidance = self.profile.guidance if guidance is None else float(guidance)
        half = working_size(self.model.config, size, tuple(person.shape[-2:]))
        return runner.run(lambda items, plan: profile_pass(items), person.shape[0], half, guidance, None)

    def run_tryon(self, runner, person, garment, mask, *, seed=0, steps=None, guidance=None, scheduler=None,
                  size=None, repaint: bool = False, callback=None, cancel=None, reference=None) -> ProfileTryOnResult:
        """`TWGTMPipeline.tryon` on this profile: the batch checked and broadcast, then `tryon` per chunk."""
        self.no_reference(reference, "garment")
        self.check_task("tryon")
        b = check_person(person)
        garment = broadcast(garment, b, "garment", 3)
        seeds = seeds_of(seed, b)
        if not callable(mask):
            mask = broadcast(mask, b, "mask", 1)

        def profile_pass(items: slice):
            return self.tryon(person[items], garment[items], mask if callable(mask) else mask[items], seed=seeds[items],
                              steps=steps, guidance=guidance, scheduler=scheduler, size=size, repaint=repaint,
                              callback=callback, cancel=cancel)

        return self._run(runner, profile_pass, person, size, guidance)

    def run_tryoff(self, runner, person, *, mask=None, seed=0, steps=None, guidance=None, scheduler=None, size=None,
                   callback=None, cancel=None, reference=None) -> ProfileTryOffResult:
        """`TWGTMPipeline.tryoff` on this profile: the batch checked and broadcast, then `tryoff` per chunk."""
        self.no_reference(reference, "person")
        self.check_task("tryoff")
        b = check_person(person)
        seeds = seeds_of(seed, b)
        if mask is not None and not callable(mask):
            mask = broadcast(mask, b, "mask", 1)

        def profile_pass(items: slice):
            part = mask if mask is None or callable(mask) else mask[items]
            return self.tryoff(person[items], mask=part, seed=seeds[items], steps=steps, guidance=guidance,
                               scheduler=scheduler, size=size, callback=callback, cancel=cancel)

        return self._run(runner, profile_pass, person, size, guidance)

    def refuse_roundtrip(self) -> None:
        """A profile does one task: the ConfigError that says a round trip takes two models."""
        raise ConfigError(f"profile {self.profile.name} does {self.profile.task} only; a round trip with public "
                          "weights takes a try-off and a try-on model: "
                          "twgtm.families.roundtrip.roundtrip_pair(tryoff_pipe, tryon_pipe, ...) "
                          "(CLI: roundtrip --tryoff-profile ... --tryon-profile ...)")


__all__ = ["ProfileSampler", "PROFILES", "TASK_NAMES"]
