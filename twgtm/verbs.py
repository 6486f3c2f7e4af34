"""The verbs every pipeline has, whatever its model family: `tryon`, `tryoff`, `roundtrip`, and
Any2AnyTryon's `modelfree`, `reconstruct`, `layered`.

`twgtm.load_model` returns a `Pipeline` of the model's family: `TWGTMPipeline` (a TWGTM checkpoint,
the demo model, a preset), `ProfilePipeline` (CatVTON: try-on only; TryOffAnyone: try-off only) or
`A2APipeline` (Any2AnyTryon on FLUX.1-dev: all six). A verb the family cannot do raises
`UnsupportedTask` (a `ConfigError`) naming the family and the model that does it; `tasks` lists
the verbs a pipeline does. Every verb a family defines checks its arguments before it runs
(`twgtm.validate.check_call` with the family's `call_rules()`), however the pipeline is called:
the Python API, the CLI, the nodes, the evaluation and the demo.
"""
from __future__ import annotations

from .errors import UnsupportedTask
from .validate import CallRules, checked

__all__ = ["Pipeline", "VERBS", "A2A_ONLY", "CHECKED_CALLS"]

VERBS = ("tryon", "tryoff", "roundtrip", "modelfree", "reconstruct", "layered")
A2A_ONLY = ("modelfree", "reconstruct", "layered")
# The calls whose arguments are checked before they run (twgtm.validate.check_call): the verbs, a TWGTM model's
# reference encoding, Any2AnyTryon's task-by-name `run`.
CHECKED_CALLS = (*VERBS, "encode_image", "run")
# Which model does each verb, for the error of a pipeline that does not.
DOERS = {
    "tryon": "a TWGTM checkpoint, CatVTON (profile='catvton') or Any2AnyTryon (family='a2a')",
    "tryoff": "a TWGTM checkpoint, TryOffAnyone (profile='tryoffanyone') or Any2AnyTryon (family='a2a')",
    "roundtrip": "a TWGTM checkpoint or Any2AnyTryon (family='a2a'); with public weights, "
                 "twgtm.roundtrip_pair(tryoffanyone_pipe, catvton_pipe, ...)",
    "modelfree": "Any2AnyTryon: twgtm.load_model(family='a2a', flux=FLUX_DIR, lora=LORA_FILE)",
    "reconstruct": "Any2AnyTryon: twgtm.load_model(family='a2a', flux=FLUX_DIR, lora=LORA_FILE)",
    "layered": "Any2AnyTryon: twgtm.load_model(family='a2a', flux=FLUX_DIR, lora=LORA_FILE)",
}


class Pipeline:
    """Base of every family's pipeline: the six verbs, each an `UnsupportedTask` error unless the family does it."""

    family = "unknown"  # "twgtm", "catvton", "tryoffanyone" or "a2a"
    default_steps = 30  # denoising steps when a call leaves them out

    def __init_subclass__(cls, **kwargs):
        """Each family's verbs check their arguments first (images, masks, prompts, steps, guidance, seeds,
        sizes...) by the family's `call_rules()`: one wrapper for every pipeline class, its own and future ones."""
        super().__init_subclass__(**kwargs)
        for name in CHECKED_CALLS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "checks_inputs", False):
                setattr(cls, name, checked(method, name))

    def call_rules(self) -> CallRules:
        """What this family's verbs accept (twgtm.validate.CallRules): by default the sampling rules."""
        return CallRules()

    @property
    def tasks(self) -> tuple[str, ...]:
        """The verbs this pipeline does."""
        return ()

    def unsupported(self, verb: str, why: str = "") -> UnsupportedTask:
        """The error for a verb this family cannot do: what the model is, what it does, which model does `verb`."""
        does = ", ".join(self.tasks) or "nothing"
        reason = f" ({why})" if why else ""
        return UnsupportedTask(f"the {self.family} model does {does}; it cannot do {verb}{reason}. "
                               f"For {verb} load {DOERS[verb]}")

    def tryon(self, person, garment, mask=None, **options):
        """Dress `person` (B,3,H,W) in `garment`; see the family's pipeline for the options.

        Args:
            person: (B,3,H,W) pixels in [-1, 1].
            garment: (1|B,3,h,w) pixels in [-1, 1].
            mask: (1|B,1,H,W) region to redraw (1 = redraw), a mask source, or None where the family is mask-free.
            **options: the family's sampling options (prompt, seed, steps, guidance, size, ...).

        Returns:
            TryOnResult: `images` (B,3,H,W) at the person's size.
        """
        raise self.unsupported("tryon")

    def tryoff(self, person, **options):
        """Take the garment off `person` (B,3,H,W) as a flat image.

        Args:
            person: (B,3,H,W) pixels in [-1, 1].
            **options: the family's options (prompt, mask, seed, steps, guidance, size, ...).

        Returns:
            TryOffResult: `images` (B,3,H,W), the flat garments.
        """
        raise self.unsupported("tryoff")

    def roundtrip(self, person_a, person_b=None, **options):
        """Take A's garment off, then dress B (default A) in it.

        Args:
            person_a: (B,3,H,W) persons whose garment is taken.
            person_b: (1|B,3,H,W) persons to dress, or None for A itself.
            **options: the family's options (mask_a, mask_b, prompt, seed, steps, guidance, size, ...).

        Returns:
            RoundTripResult: `garments`, `dressed`; `images` are the dressed persons.
        """
        raise self.unsupported("roundtrip")

    def modelfree(self, garment, **options):
        """A new person wearing `garment` (Any2AnyTryon).

        Args:
            garment: (B,3,h,w) pixels in [-1, 1].
            **options: prompt, size, seed, steps, guidance, ...

        Returns:
            A2AResult: `images` (B,3,H,W) at the target size.
        """
        raise self.unsupported("modelfree")

    def reconstruct(self, person, **options):
        """The garment `person` wears, laid flat (Any2AnyTryon's garment reconstruction).

        Args:
            person: (B,3,H,W) pixels in [-1, 1].
            **options: prompt, size, seed, steps, guidance, ...

        Returns:
            A2AResult: `images` (B,3,H,W) at the target size.
        """
        raise self.unsupported("reconstruct")

    def layered(self, person, garment, **options):
        """`garment` worn over what `person` already wears, in one pass (Any2AnyTryon).

        Args:
            person: (B,3,H,W) the dressed person.
            garment: (1|B,3,h,w) the extra garment.
            **options: prompt, size, seed, steps, guidance, ...

        Returns:
            A2AResult: `images` (B,3,H,W) at the person's size.
        """
        raise self.unsupported("layered")
