"""Cost model of one Any2AnyTryon run: tokens, FLOPs per denoising step and peak accelerator memory.

Estimates, not measurements (the bench measures on a GPU when one is present). Weights count
their bytes per parameter in the storage dtype (fp8 storage = 1 byte); activations follow the
largest tensors of a FLUX single-stream block per token (linear1 output, q/k/v with rotary copies,
attention output, MLP activation, the concatenation fed to linear2), SDPA attention keeping no
N x N matrix; VAE phases scale with the pixels they process (per-pixel factors of an SD-style
128..512-channel VAE, about 1.5 kB per output pixel in bf16 for decoding).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...errors import InputError

GIB = 1024 ** 3
CONTEXT_BYTES = int(0.6 * GIB)  # CUDA context, allocator slack, cuBLAS workspace
VAE_DECODE_VALUES_PER_PX = 770  # activation values alive per output pixel while decoding
VAE_ENCODE_VALUES_PER_PX = 400  # ... per input pixel while encoding
OFFLOAD_MODES = ("none", "model", "group")


@dataclass(frozen=True)
class FluxDims:
    """Sizes of a FLUX transformer and the parts around it (parameter counts)."""

    hidden: int = 3072
    mlp: int = 12288
    double: int = 19
    single: int = 38
    transformer_params: int = 11_901_408_320
    double_block_params: int = 339_831_296
    single_block_params: int = 141_591_808
    t5_params: int = 4_762_310_656
    t5_dim: int = 4096
    clip_params: int = 123_060_480
    vae_params: int = 83_819_683
    text_tokens: int = 512


FLUX_DEV = FluxDims()


def dims_of(transformer, t5=None, clip=None, vae=None, text_tokens: int = 512) -> FluxDims:
    """FluxDims read from loaded (or meta) modules."""
    cfg = transformer.config
    hidden = cfg.num_attention_heads * cfg.attention_head_dim
    count = lambda m: sum(p.numel() for p in m.parameters()) if m is not None else 0  # noqa: E731
    double = count(transformer.transformer_blocks[0]) if len(transformer.transformer_blocks) else 0
    single = count(transformer.single_transformer_blocks[0]) if len(transformer.single_transformer_blocks) else 0
    mlp = transformer.single_transformer_blocks[0].proj_mlp.out_features if len(transformer.single_transformer_blocks) \
        else 4 * hidden
    return FluxDims(hidden=hidden, mlp=mlp, double=cfg.num_layers, single=cfg.num_single_layers,
                    transformer_params=count(transformer), double_block_params=double,
                    single_block_params=single, t5_params=count(t5),
                    t5_dim=getattr(getattr(t5, "config", None), "d_model", 0), clip_params=count(clip),
                    vae_params=count(vae), text_tokens=text_tokens)


def step_flops(dims: FluxDims, image_tokens: int, batch: int = 1) -> float:
    """Multiply-add FLOPs (2 per MAC) of one transformer call: the blocks' matmuls plus attention."""
    n = image_tokens + dims.text_tokens
    d, m = dims.hidden, dims.mlp
    per_token_double = 4 * d * d + 2 * d * m  # q,k,v,out + MLP, one stream
    per_token_single = d * (3 * d + m) + (d + m) * d  # linear1 + linear2
    matmul = 2 * n * (dims.double * per_token_double + dims.single * per_token_single)
    attention = 2 * 2 * n * n * d * (dims.double + dims.single)  # QK^T and AV
    return float(batch * (matmul + attention))


def activation_bytes(dims: FluxDims, image_tokens: int, dtype_bytes: int, batch: int = 1) -> int:
    """Peak activation bytes of one transformer call (largest block, no autograd)."""
    n = image_tokens + dims.text_tokens
    per_token = 13 * dims.hidden + 3 * dims.mlp
    return int(batch * n * per_token * dtype_bytes)


@dataclass(frozen=True)
class MemoryOptions:
    """The memory options of a run."""

    dtype_bytes: int = 2  # bf16 / fp16 compute
    offload: str = "none"  # none | model | group
    transformer_fp8: bool = False  # weights stored in fp8, cast per layer
    t5_fp8: bool = False
    vae_tiling: bool = False


def peak_bytes(dims: FluxDims, canvas_hw: tuple[int, int], target_hw: tuple[int, int], image_tokens: int,
               options: MemoryOptions = MemoryOptions(), batch: int = 1) -> dict:
    """Estimated accelerator bytes per phase (text, encode, denoise, decode) and their maximum."""
    if options.offload not in OFFLOAD_MODES:
        raise InputError(f"offload {options.offload!r}: expected one of {', '.join(OFFLOAD_MODES)}")
    b = options.dtype_bytes
    transformer = dims.transformer_params * (1 if options.transformer_fp8 else b)
    t5 = dims.t5_params * (1 if options.t5_fp8 else b)
    clip, vae = dims.clip_params * b, dims.vae_params * b
    if options.offload == "group":  # block-level groups of one block: the largest block twice + the rest
        outside = dims.transformer_params - dims.double * dims.double_block_params - dims.single * dims.single_block_params
        transformer_on_gpu = (2 * dims.double_block_params + outside) * (1 if options.transformer_fp8 else b)
    else:
        transformer_on_gpu = transformer
    tile = lambda px: min(px, 512 * 512) if options.vae_tiling else px  # noqa: E731
    canvas_px = canvas_hw[0] * (canvas_hw[1] - target_hw[1])
    target_px = target_hw[0] * target_hw[1]
    text_act = batch * dims.text_tokens * dims.t5_dim * 8 * b
    phases = {
        "text": t5 + clip + text_act,
        "encode": vae + batch * tile(canvas_px) * VAE_ENCODE_VALUES_PER_PX * b,
        "denoise": transformer_on_gpu + activation_bytes(dims, image_tokens, b, batch),
        "decode": vae + batch * tile(target_px) * VAE_DECODE_VALUES_PER_PX * b,
    }
    if options.offload == "none":
        everything = transformer + t5 + clip + vae
        phases = {k: everything + v - {"text": t5 + clip, "encode": vae, "denoise": transformer, "decode": vae}[k]
                  for k, v in phases.items()}
    phases = {k: int(v + CONTEXT_BYTES) for k, v in phases.items()}
    largest = max(phases, key=phases.get)
    return {"phases": phases, "peak": phases[largest], "largest_phase": largest}


def dtype_bytes(dtype: torch.dtype) -> int:
    """Bytes per element of a torch dtype."""
    return torch.empty((), dtype=dtype).element_size()


def check_budget(estimate: dict, budget_bytes: int | None, what: str) -> None:
    """Raise InputError when the estimated peak exceeds the budget, naming the options that lower it."""
    if budget_bytes is None or estimate["peak"] <= budget_bytes:
        return
    raise InputError(
        f"{what}: estimated peak {estimate['peak'] / GIB:.1f} GiB (phase {estimate['largest_phase']}) exceeds the "
        f"{budget_bytes / GIB:.1f} GiB available; use --offload group (or model), --transformer-fp8, --t5-fp8, "
        f"--vae-tiling, or a smaller --size (see `python -m twgtm.bench --family a2a` for what fits)")
