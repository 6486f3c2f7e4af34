"""FLOP counts with `torch.utils.flop_counter.FlopCounterMode`: stable where wall time is not.

Counted: matrix products, convolutions and attention (2 FLOPs per multiply-add); element-wise
operations and normalisations are not. Steps are counted on a meta-device twin of the model
(no memory, no compute), where attention decomposes into the matrix products it is made of.
On a real CPU, PyTorch's fused attention (`_scaled_dot_product_flash_attention_for_cpu`) has no
formula in FlopCounterMode; `count_flops` adds the standard one so nothing is missed.
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def _cpu_flash_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


_EXTRA = {}
if hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu"):
    _EXTRA[torch.ops.aten._scaled_dot_product_flash_attention_for_cpu] = _cpu_flash_flops


def count_flops(fn, *modules: torch.nn.Module) -> int:
    """FLOPs of running `fn()` once (under no_grad).

    Parameters of `modules` are frozen meanwhile: FlopCounterMode's module tracker would otherwise
    hook a parameter passed as a module argument under no_grad and fail.
    """
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_EXTRA) as counter:
            fn()
    finally:
        for p in params:
            p.requires_grad_(True)
    return int(counter.get_total_flops())
