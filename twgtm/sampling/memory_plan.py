"""The activation memory of one sampling run, from its canvas size, batch and dtype, and what would fit.

A run has three canvas phases, each holding its activations only while it runs (the weights are
extra). Every activation of a convolutional network scales with the area it works on, and the
attention layers use fused kernels that hold no L x S score matrix, so each phase is linear in its
size:

    encode  = B * (a_enc * P + b_enc)       VAE encoding of the masked canvas
    denoise = R * (a_unet * L + b_unet)     one UNet call (the K'/V' cache and F_SAM/F_SRM held)
    decode  = B * (a_dec * P + b_dec)       VAE decoding of the whole canvas
    activation bytes = max(encode, denoise, decode)

with B the images per call, P = Hc * Wc the pixels of one two-image canvas, L = P / f^2 its latent
cells (f the VAE's stride) and R the UNet rows: 2B with the CFG branches batched, B when they run
one after the other or without guidance. The coefficients a (bytes per pixel or per latent cell)
and b (bytes per item) depend on the architecture and the dtype only; they are measured once per
(config, dtype, device type, VAE tiling) by replaying a try-on on the meta device at two probe
sizes (`memory_replay.estimate_tryon_peak`, no memory, about a second) and cached. For
sd15 in bf16 on a GPU a_dec is about 1,540 B per canvas pixel (three live full-resolution tensors of
the 256-channel up-block, 3 * 256 * 2 B) and a_unet about 17 kB per latent cell and row (about 27
tensors of the first 320-channel level); on the CPU each convolution also holds a copy of its
input, which the replay counts. With VAE tiling the VAE phases hold one tile's activations plus
the full-size result, and the same linear form fits their replay above the tile size. The
reference encoders run at their fixed input size (224 px for sd15) before these phases and are
smaller than each of them for any canvas of 256 px and more; they are left out.

`estimate_run` gives the phases for a run; `largest_fitting` inverts the formula (the most items,
or the largest working size at batch 1, that fit into a number of free bytes) for the message of
the out-of-memory error.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

import torch

from ..model.config import TWGTMConfig

__all__ = ["PhaseLine", "ActivationFormula", "activation_formula", "estimate_run", "largest_fitting", "fit_advice",
           "format_bytes", "canvas_size"]

PHASES = ("vae_encode", "denoise_step", "vae_decode")


@dataclass(frozen=True)
class PhaseLine:
    """bytes = count * (per_unit * units + per_item) for one phase."""

    per_unit: float  # bytes per canvas pixel (VAE phases) or per latent cell of one UNet row
    per_item: float  # bytes per image (VAE) or per UNet row that do not scale with the size

    def bytes(self, count: int, units: float) -> int:
        """The phase's bytes for `count` items (or rows) of `units` pixels (or latent cells) each."""
        return int(count * (self.per_unit * units + self.per_item))


@dataclass(frozen=True)
class ActivationFormula:
    """The three phase lines of one (config, dtype, device type, VAE tiling)."""

    vae_encode: PhaseLine
    denoise_step: PhaseLine
    vae_decode: PhaseLine
    vae_scale_factor: int

    def phases(self, canvas: tuple[int, int], batch: int, unet_rows: int) -> dict[str, int]:
        """Bytes of each phase for a canvas (Hc, Wc) of both halves, `batch` items and `unet_rows` UNet rows."""
        pixels = int(canvas[0]) * int(canvas[1])
        cells = pixels / self.vae_scale_factor ** 2
        return {"vae_encode": self.vae_encode.bytes(batch, pixels),
                "denoise_step": self.denoise_step.bytes(unet_rows, cells),
                "vae_decode": self.vae_decode.bytes(batch, pixels)}


def canvas_size(config: TWGTMConfig, half: tuple[int, int]) -> tuple[int, int]:
    """The two-image canvas (Hc, Wc) of one working half (H, W), along the config's concat axis."""
    h, w = int(half[0]), int(half[1])
    return (h, 2 * w) if config.concat_axis == "width" else (2 * h, w)


def _tile_size(config: TWGTMConfig) -> int:
    """The side in pixels above which diffusers' VAE tiling starts (its `tile_sample_min_size`)."""
    size = config.vae.get("sample_size", 512)
    return int(size[0] if isinstance(size, (list, tuple)) else size)


def _probe_halves(config: TWGTMConfig, vae_tiling: bool) -> tuple[tuple[int, int], tuple[int, int]]:
    """Two person sizes (H, W) for the replay: 4:3 portraits, both above the VAE tile when tiling."""
    m = config.pixel_multiple
    base = 8 * m
    if vae_tiling:  # above diffusers' tile size, or tiling would not start
        base = max(base, math.ceil(1.5 * _tile_size(config) / m) * m)
    small = (base, max(m, (base * 3 // 4) // m * m))
    return small, (2 * small[0], 2 * small[1])


def _fit(small: int, large: int, n_small: float, n_large: float) -> PhaseLine:
    """The line through two (units, bytes) points, clamped so that neither coefficient is negative."""
    slope = max(0.0, (large - small) / (n_large - n_small))
    return PhaseLine(slope, max(0.0, small - slope * n_small))


@functools.lru_cache(maxsize=32)
def _cached_formula(config_json: str, dtype: torch.dtype, device_type: str, vae_tiling: bool) -> ActivationFormula:
    from .memory_replay import estimate_tryon_peak  # the replay, imported only when a formula is first needed

    config = TWGTMConfig.from_dict(json.loads(config_json))
    halves = _probe_halves(config, vae_tiling)
    runs = [estimate_tryon_peak(config, height=h, width=w, batch=1, dtype=dtype, cfg=True, cfg_batched=True,
                                vae_tiling=vae_tiling, device_type=device_type)["phases_bytes"] for h, w in halves]
    f = config.vae_scale_factor
    pixels = [canvas_size(config, half)[0] * canvas_size(config, half)[1] for half in halves]
    cells = [2 * p / f ** 2 for p in pixels]  # the replay's UNet batch has 2 rows (CFG batched)
    lines = {}
    for name in PHASES:
        units = cells if name == "denoise_step" else pixels
        line = _fit(runs[0][name], runs[1][name], units[0], units[1])
        if name == "denoise_step":  # the replay ran 2 rows: its intercept is that of 2 rows
            line = PhaseLine(line.per_unit, line.per_item / 2)
        lines[name] = line
    return ActivationFormula(lines["vae_encode"], lines["denoise_step"], lines["vae_decode"], f)


def activation_formula(config: TWGTMConfig, dtype: torch.dtype, device_type: str = "cuda",
                       vae_tiling: bool = False) -> ActivationFormula:
    """The calibrated phase lines of `config` in `dtype` ("cuda": fused attention; "cpu": with convolution copies)."""
    kind = "cpu" if str(device_type) == "cpu" else "cuda"
    return _cached_formula(config.to_json(), dtype, kind, bool(vae_tiling))


def estimate_run(config: TWGTMConfig, half: tuple[int, int], batch: int, *, dtype: torch.dtype,
                 vae_dtype: torch.dtype | None = None, cfg: bool = True, cfg_batched: bool = True,
                 vae_tiling: bool = False, device_type: str = "cuda") -> dict:
    """The estimated activation bytes of one run on working halves `half` (H, W): its phases and their max.

    `vae_dtype`: the VAE's own dtype when it differs from the UNet's (ComfyUI keeps SD VAEs in fp32
    or bf16). Returns {"phases_bytes": {...}, "activation_bytes": int, "canvas": (Hc, Wc), "unet_rows": R}.
    """
    canvas = canvas_size(config, half)
    rows = (2 if cfg and cfg_batched else 1) * int(batch)
    unet = activation_formula(config, dtype, device_type).phases(canvas, batch, rows)
    tiled = vae_tiling and max(canvas) > _tile_size(config)  # diffusers tiles only canvases larger than a tile
    vae = activation_formula(config, vae_dtype or dtype, device_type, tiled).phases(canvas, batch, rows)
    phases = {"vae_encode": vae["vae_encode"], "denoise_step": unet["denoise_step"], "vae_decode": vae["vae_decode"]}
    return {"phases_bytes": phases, "activation_bytes": max(phases.values()), "canvas": canvas, "unet_rows": rows}


def largest_fitting(config: TWGTMConfig, half: tuple[int, int], free_bytes: int, **run) -> dict:
    """What fits into `free_bytes`: the most items at working size `half`, and the largest working size at batch 1.

    `run`: the keywords of `estimate_run` (dtype, cfg, cfg_batched, vae_tiling, ...). The size keeps
    the aspect of `half` and is rounded down to the config's pixel multiple; None when even the
    smallest canvas does not fit.
    """
    one = estimate_run(config, half, 1, **run)["activation_bytes"]
    batch = int(free_bytes // one) if one > 0 else 0
    m = config.pixel_multiple
    size = None
    scale = math.sqrt(free_bytes / one) if one > 0 else 0.0
    while scale > 0:
        h, w = (int(half[0] * scale) // m * m, int(half[1] * scale) // m * m)
        if h < m or w < m:
            break
        if estimate_run(config, (h, w), 1, **run)["activation_bytes"] <= free_bytes:
            size = (h, w)
            break
        scale *= 0.95
    return {"batch": batch, "working_size": size, "bytes_at_batch_1": one}


def format_bytes(n: float) -> str:
    """Bytes as GB (one decimal place more under 10 GB) or MB."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB" if n < 1e10 else f"{n / 1e9:.1f} GB"
    return f"{n / 1e6:.1f} MB"


def fit_advice(config: TWGTMConfig, half: tuple[int, int], free_bytes: int | None, configured: dict,
               lowest: dict) -> str:
    """The out-of-memory error's sentences on what fits into `free_bytes`.

    `configured` / `lowest`: estimate_run's keywords as the call was configured and on the last
    rung of the fallback ladder (CFG halves in turn, VAE tiling; one item at a time).
    """
    need = estimate_run(config, half, 1, **lowest)["activation_bytes"]
    text = (f"A working size of {half[0]}x{half[1]} needs about {format_bytes(need)} of activations per item "
            "even with every fallback")
    if free_bytes is None:
        return text + "; give a smaller working size (size=, in ComfyUI working_height / working_width) or batch."
    parts = [text + "."]
    batch = largest_fitting(config, half, free_bytes, **configured)["batch"]
    if batch >= 1:
        parts.append(f"At this size a batch of {batch} fits as configured.")
    size = largest_fitting(config, half, free_bytes, **lowest)["working_size"]
    if size is not None:
        parts.append(f"At batch 1 a working size of about {size[0]}x{size[1]} fits: set size=({size[0]}, {size[1]}) "
                     "(in ComfyUI the sampler's working_height / working_width).")
    else:
        parts.append("Even the smallest working size does not fit: free memory (other models, other programs).")
    return " ".join(parts)
