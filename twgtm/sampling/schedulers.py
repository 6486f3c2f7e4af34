"""Diffusers schedulers by name, built from one SD1.5 training-noise config (no hub access)."""
from __future__ import annotations

from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler, UniPCMultistepScheduler

from ..vocab import MAX_STEPS, SCHEDULERS, parse_scheduler

__all__ = ["SCHEDULERS", "MAX_STEPS", "SD15_NOISE", "noise_config", "make_scheduler"]

# The noise schedule SD1.5 (and so SD1.5-inpainting, CatVTON, TryOffAnyone) was trained with.
SD15_NOISE = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    prediction_type="epsilon", steps_offset=1, timestep_spacing="leading",
)
_BUILDERS = {  # one per twgtm.vocab.SCHEDULERS name
    "ddim": lambda noise: DDIMScheduler(**noise, clip_sample=False, set_alpha_to_one=False),
    "dpmpp_2m": lambda noise: DPMSolverMultistepScheduler(**noise, algorithm_type="dpmsolver++", solver_order=2),
    "euler": lambda noise: EulerDiscreteScheduler(**noise),
    "unipc": lambda noise: UniPCMultistepScheduler(**noise, solver_order=2),
}


def noise_config(prediction_type: str = "epsilon", zero_terminal_snr: bool = False) -> dict:
    """The schedulers' config for a model's prediction type and schedule (`TWGTMConfig` fields).

    Zero terminal SNR (Lin et al., "Common Diffusion Noise Schedules and Sample Steps Are Flawed"):
    the SD1.5 betas rescaled so that the last step is pure noise, sampled with "trailing" spacing so
    the first step is that last training step (999; "leading" starts at 981).
    """
    noise = dict(SD15_NOISE, prediction_type=prediction_type)
    if zero_terminal_snr:
        noise.update(rescale_betas_zero_snr=True, timestep_spacing="trailing", steps_offset=0)
    return noise


def make_scheduler(name: str, prediction_type: str = "epsilon", zero_terminal_snr: bool = False):
    """A fresh deterministic scheduler: 'ddim' (eta 0), 'dpmpp_2m' (DPM-Solver++ multistep), 'euler', 'unipc'.

    `prediction_type` and `zero_terminal_snr` are the model's (see `noise_config`).
    """
    return _BUILDERS[parse_scheduler(name)](noise_config(prediction_type, zero_terminal_snr))
