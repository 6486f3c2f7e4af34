"""Any2AnyTryon (arXiv 2501.15891) on FLUX.1-dev: adaptive position ids, any size, four tasks.

Pure torch, never imports ComfyUI. The pieces a ComfyUI patch and a diffusers pipeline share:
tasks (`tasks`), position ids (`position_ids`), canvas layout and size rules (`layout`), 2x2
packing (`packing`), prompt templates (`prompts`), the flow-matching schedule (`schedule`); the
diffusers path adds the clean-reset loop (`sampler`), the pipeline (`pipeline`), loading and LoRA
files (`loading`, `lora`) and the cost model (`memory`).
"""
from .layout import MAX_SIDE, MIN_SIDE, PanelCanvas, plan_panels
from .position_ids import canvas_ids, rewrite_index_ids
from .prompts import build_prompt, resolve_prompt
from .schedule import GUIDANCE, STEPS, shift_mu, shifted_sigmas
from .tasks import TASKS, Task, get_task

__all__ = ["TASKS", "Task", "get_task", "PanelCanvas", "plan_panels", "MIN_SIDE", "MAX_SIDE", "canvas_ids",
           "rewrite_index_ids", "build_prompt", "resolve_prompt", "GUIDANCE", "STEPS", "shift_mu", "shifted_sigmas"]
