"""The four Any2AnyTryon tasks and what each one puts on the canvas.

A task names its condition panels in canvas order (after the target) and whether the first
condition is pixel-aligned with the target (its x positions restart at 0) or continues after it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConfigError


@dataclass(frozen=True)
class Task:
    """One task: its condition panels in order and how their position ids are laid out."""

    name: str
    conditions: tuple[str, ...]  # "model" (the person image) and/or "garment", in canvas order
    aligned: bool  # True: the model image shares the target's x positions (try-on geometry)
    description: str

    def needs(self, part: str) -> bool:
        """Whether the task takes this input ("model" or "garment")."""
        return part in self.conditions


TASKS: dict[str, Task] = {
    "tryon": Task("tryon", ("model", "garment"), True, "dress the model image in the garment"),
    "modelfree": Task("modelfree", ("garment",), False, "a new person wearing the garment (no model image)"),
    "reconstruct": Task("reconstruct", ("model",), False, "the garment the model wears, laid flat"),
    "layered": Task("layered", ("model", "garment"), True, "an extra garment over what the model already wears"),
}


def get_task(name: str) -> Task:
    """The Task called `name`; ConfigError lists the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown Any2AnyTryon task {name!r}; expected one of {', '.join(TASKS)}") from None
