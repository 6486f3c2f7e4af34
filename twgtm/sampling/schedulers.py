"""Diffusers schedulers by name, built from one SD1.5 training-noise config (no hub access)."""
from __future__ import annotations

from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler, UniPCMultistepScheduler

from ..errors import ConfigError

# The noise schedule SD1.5 (and so SD1.5-inpainting, CatVTON, TryOffAnyone) was trained with.
SD15_NOISE = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    prediction_type="epsilon", steps_offset=1, timestep_spacing="leading",
)
_BUILDERS = {
    "ddim": lambda: DDIMScheduler(**SD15_NOISE, clip_sample=False, set_alpha_to_one=False),
    "dpmpp_2m": lambda: DPMSolverMultistepScheduler(**SD15_NOISE, algorithm_type="dpmsolver++", solver_order=2),
    "euler": lambda: EulerDiscreteScheduler(**SD15_NOISE),
    "unipc": lambda: UniPCMultistepScheduler(**SD15_NOISE, solver_order=2),
}
ALIASES = {"dpm++": "dpmpp_2m", "dpm-solver++": "dpmpp_2m", "dpmsolver++": "dpmpp_2m", "dpmpp": "dpmpp_2m"}
SCHEDULERS = tuple(_BUILDERS)
# With "leading" spacing and steps_offset 1, 1000 steps would ask for timestep 1000 (past the schedule).
MAX_STEPS = SD15_NOISE["num_train_timesteps"] - 1


def make_scheduler(name: str):
    """A fresh deterministic scheduler: 'ddim' (eta 0), 'dpmpp_2m' (DPM-Solver++ multistep), 'euler', 'unipc'."""
    key = str(name).strip().lower().replace(" ", "")
    key = ALIASES.get(key, key)
    if key not in _BUILDERS:
        raise ConfigError(f"unknown scheduler {name!r}; choose one of {list(SCHEDULERS)} (aliases {sorted(ALIASES)})")
    return _BUILDERS[key]()
