"""Extended attention as diffusers attention processors.

In each chosen transformer block the self-attention processor computes
    F = SelfAttn(Q, K, V) + ZLL(CrossAttn(Q, K'(F_SRM), V'(F_SRM)))
with ZLL a zero-initialised linear layer, and the block's own cross-attention (`attn2`) then
attends to F_SAM. With ZLL = 0 the block equals the backbone's exactly. K' and V' do not depend on
the timestep: `ReferenceContext` computes them once per set of F_SRM tokens and reuses them.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ExtendedAttention(nn.Module):
    """The weights one block adds: K', V' (from F_SRM) and the zero linear layer ZLL."""

    def __init__(self, *, query_dim: int, inner_dim: int, srm_dim: int):
        super().__init__()
        self.to_k = nn.Linear(srm_dim, inner_dim, bias=False)
        self.to_v = nn.Linear(srm_dim, inner_dim, bias=False)
        self.zll = nn.Linear(inner_dim, query_dim)
        nn.init.zeros_(self.zll.weight)
        nn.init.zeros_(self.zll.bias)

    def key_value(self, tokens: torch.Tensor, heads: int) -> tuple[torch.Tensor, torch.Tensor]:
        """F_SRM (B,S,srm_dim) -> K', V' each (B,heads,S,head_dim)."""
        b, s, _ = tokens.shape
        k = self.to_k(tokens).view(b, s, heads, -1).transpose(1, 2)
        v = self.to_v(tokens).view(b, s, heads, -1).transpose(1, 2)
        return k, v


class ReferenceContext:
    """Per-run state shared by all extended processors: F_SRM, per-item weights, the K'/V' cache."""

    def __init__(self):
        self.enabled = True  # training stage 2 / inference: on; stage 1: off
        self.cache_enabled = True
        self.tokens: torch.Tensor | None = None
        self.weight: torch.Tensor | None = None
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.kv_computations = 0  # how many K'/V' pairs were computed (for tests and benchmarks)

    @property
    def active(self) -> bool:
        """True when the extended branch runs."""
        return self.enabled and self.tokens is not None

    def set(self, tokens: torch.Tensor | None, weight: torch.Tensor | None = None) -> None:
        """Install F_SRM (B,S,D) and optional per-item weights (B,) (0 = no SRM, the CFG null branch)."""
        self.tokens = tokens
        self.weight = weight
        self._cache.clear()

    def set_weight(self, weight: torch.Tensor | None) -> None:
        """Change only the per-item weights (B,), keeping the K'/V' cache (sequential CFG branches)."""
        self.weight = weight

    def clear(self) -> None:
        """Forget the tokens and the cache."""
        self.set(None, None)

    def key_value(self, name: str, module: ExtendedAttention, heads: int) -> tuple[torch.Tensor, torch.Tensor]:
        """K', V' for one block: from the cache when allowed, else computed now."""
        if self.cache_enabled and name in self._cache:
            return self._cache[name]
        kv = module.key_value(self.tokens, heads)
        self.kv_computations += 1
        if self.cache_enabled:
            self._cache[name] = kv
        return kv


class ExtendedAttnProcessor:
    """Self-attention (as diffusers' AttnProcessor2_0) plus the gated cross-attention to F_SRM."""

    def __init__(self, name: str, module: ExtendedAttention, context: ReferenceContext):
        self.name = name
        self.module = module
        self.context = context

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        """Run the block's self-attention and add ZLL(CrossAttn(Q, K', V'))."""
        if hidden_states.ndim != 3 or encoder_hidden_states is not None:
            raise ValueError("ExtendedAttnProcessor serves transformer self-attention (B, L, C) only")
        residual = hidden_states
        b, n, _ = hidden_states.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, n, b).view(b, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        key = attn.to_k(hidden_states)
        value = attn.to_v(hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(b, -1, attn.heads, head_dim).transpose(1, 2)  # (B,h,L,d)
        key = key.view(b, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(b, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False)
        out = out.transpose(1, 2).reshape(b, -1, attn.heads * head_dim).to(query.dtype)  # (B,L,inner)
        out = attn.to_out[1](attn.to_out[0](out))
        ctx = self.context
        if ctx.active:
            k_ref, v_ref = ctx.key_value(self.name, self.module, attn.heads)  # (Br,h,S,d)
            if k_ref.shape[0] != b:
                if b % k_ref.shape[0]:
                    raise ValueError(f"F_SRM batch {k_ref.shape[0]} does not divide the UNet batch {b}")
                reps = b // k_ref.shape[0]
                k_ref, v_ref = k_ref.repeat(reps, 1, 1, 1), v_ref.repeat(reps, 1, 1, 1)
            cross = F.scaled_dot_product_attention(query, k_ref.to(query.dtype), v_ref.to(query.dtype))
            cross = self.module.zll(cross.transpose(1, 2).reshape(b, -1, attn.heads * head_dim))  # (B,L,C)
            if ctx.weight is not None:
                weight = ctx.weight.to(cross.dtype)
                cross = cross * weight.repeat(b // weight.shape[0]).view(b, 1, 1)
            out = out + cross
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


class PassThroughProcessor:
    """Cross-attention removed, as CatVTON and TryOffAnyone do: returns its (normed) input unchanged."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        """Return hidden_states as given."""
        return hidden_states


def self_attention_names(unet) -> list[str]:
    """Processor names of every transformer self-attention (`...attn1.processor`) in a UNet."""
    return [name for name in unet.attn_processors if name.endswith("attn1.processor")]


def module_key(processor_name: str) -> str:
    """A ModuleDict-safe key for a processor name (dots are not allowed in ModuleDict keys)."""
    return processor_name.removesuffix(".processor").replace(".", "__")
