"""Prompt templates per task, tagging the parts with <MODEL>, <GARMENT>, <TARGET> as the published demo does."""
from __future__ import annotations

from .tasks import Task

TEMPLATES = {
    "tryon": "<MODEL> {model} <GARMENT> {garment} <TARGET> {target}",
    "modelfree": "<GARMENT> {garment} <TARGET> {target}",
    "reconstruct": "<MODEL> {model} <TARGET> {target}",
    "layered": "<MODEL> {model} <GARMENT> {garment} <TARGET> {target}",
}
DEFAULTS = {
    "tryon": {"model": "a person with fashion garment.", "garment": "a garment.",
              "target": "model with fashion garment"},
    "modelfree": {"garment": "The image shows a fashion garment.",
                  "target": "a smiling person with the garment in white background"},
    "reconstruct": {"model": "a person with fashion garment.", "target": "the same garment laid flat."},
    "layered": {"model": "a person with fashion garment.", "garment": "an outer garment.",
                "target": "model wearing the outer garment over the clothes"},
}
TAGS = ("<MODEL>", "<GARMENT>", "<TARGET>")


def build_prompt(task: Task, model: str = "", garment: str = "", target: str = "") -> str:
    """The task's tagged prompt; empty descriptions take the published demo's defaults."""
    defaults = DEFAULTS[task.name]
    parts = {"model": model.strip() or defaults.get("model", ""),
             "garment": garment.strip() or defaults.get("garment", ""),
             "target": target.strip() or defaults["target"]}
    return TEMPLATES[task.name].format(**parts)


def resolve_prompt(task: Task, prompt: str | None = None, **descriptions: str) -> str:
    """A full prompt given by the user (used as is when it carries a tag), else the task's template."""
    text = (prompt or "").strip()
    if text and any(tag in text for tag in TAGS):
        return text
    if text:
        descriptions = {**descriptions, "target": descriptions.get("target") or text}
    return build_prompt(task, **descriptions)
