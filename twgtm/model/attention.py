"""Extended attention as diffusers attention processors.

In each chosen transformer block the self-attention processor computes
    F = SelfAttn(Q, K, V) + ZLL(CrossAttn(Q, K'(F_SRM), V'(F_SRM)))
with ZLL a zero-initialised linear layer, and the block's own cross-attention (`attn2`) then
attends to F_SAM. With ZLL = 0 the block equals the backbone's exactly. K' and V' do not depend on
the timestep: `ReferenceContext` computes them once per set of F_SRM tokens and reuses them.

Fast paths (each switchable, see `twgtm.bench`): the attention backend ("sdpa": PyTorch's fused
`scaled_dot_product_attention`; "classic": explicit softmax(QKᵀ)V), the K'/V' cache, and skipping
the extended branch for rows whose SRM weight is 0 (the unconditional half of a CFG batch).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError, InputError

ATTENTION_BACKENDS = ("sdpa", "classic")


def check_backend(backend: str) -> str:
    """`backend` if it is a known attention backend, else a ConfigError that names the choices."""
    if backend not in ATTENTION_BACKENDS:
        raise ConfigError(f"attention backend must be one of {ATTENTION_BACKENDS}, got {backend!r}; "
                          "use 'sdpa' (fused, the default) or 'classic' (explicit softmax)")
    return backend


def attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: torch.Tensor | None = None,
           backend: str = "sdpa") -> torch.Tensor:
    """Attention (B,h,L,d) x (B,h,S,d) -> (B,h,L,d) with `backend` "sdpa" (fused) or "classic" (explicit).

    `attn_mask` is additive (float) or boolean (True = may attend), broadcastable to (B,h,L,S).
    The classic path materialises the (B,h,L,S) scores and takes the softmax in float32.
    """
    if backend == "sdpa":
        return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, dropout_p=0.0, is_causal=False)
    scores = torch.matmul(query * query.shape[-1] ** -0.5, key.transpose(-1, -2)).float()  # (B,h,L,S)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    return torch.matmul(scores.softmax(dim=-1).to(value.dtype), value)


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
        self.skip_null_rows = True  # run the extended branch only on rows with a non-zero weight
        self.tokens: torch.Tensor | None = None
        self.weight: torch.Tensor | None = None
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._plans: dict[tuple, tuple] = {}
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
        self._plans.clear()

    def set_weight(self, weight: torch.Tensor | None) -> None:
        """Change only the per-item weights (B,), keeping the K'/V' cache (sequential CFG branches)."""
        self.weight = weight
        self._plans.clear()

    def row_plan(self, batch: int, token_batch: int, device, skip: bool | None = None) -> tuple:
        """Which rows of a UNet batch run the extended branch: (rows, token_rows, scale), each maybe None.

        `skip` (default `skip_null_rows`): leave out the rows whose weight is 0. The processor skips
        only when no gradient is recorded: in training every row keeps the branch (multiplied by its
        weight), so its weights take part in every step even when a whole batch is dropped (DDP).

        rows picks rows of the UNet batch: None = all, a slice when they are contiguous (the
        conditional half of a CFG batch), else an index tensor (n,); token_rows (n,) indexes K'/V'
        (None = K'/V' as they are); scale (n,1,1) multiplies the branch (None = 1). The weights (B,)
        repeat along the UNet batch as [w, w, ...]; K'/V' rows repeat the same way. Computed once per
        weights and batch size (one device sync), then reused at every step and block.
        """
        skip = self.skip_null_rows if skip is None else bool(skip)
        key = (batch, token_batch, skip, str(device))
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        if batch % token_batch:
            raise InputError(f"F_SRM batch {token_batch} does not divide the UNet batch {batch}; give one reference per "
                             "person (or one for all)")
        weight = None
        if self.weight is not None:
            if batch % self.weight.shape[0]:
                raise InputError(f"SRM weights for {self.weight.shape[0]} items do not divide the UNet batch {batch}; "
                                 "give one weight per reference item")
            weight = self.weight.detach().float().cpu().repeat(batch // self.weight.shape[0])  # (batch,)
        rows = torch.arange(batch)
        if weight is not None and skip:
            rows = rows[weight != 0]
        token_rows = rows % token_batch
        scale = None
        if weight is not None and not bool((weight[rows] == 1).all()):
            scale = weight[rows].to(device).view(-1, 1, 1)
        if rows.numel() == batch:
            picked = None
        elif rows.numel() and torch.equal(rows, torch.arange(int(rows[0]), int(rows[0]) + rows.numel())):
            picked = slice(int(rows[0]), int(rows[0]) + rows.numel())
        else:
            picked = rows.to(device)
        plan = (
            picked,
            None if torch.equal(token_rows, torch.arange(token_batch)) else token_rows.to(device),
            scale,
        )
        self._plans[key] = plan
        return plan

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

    def __init__(self, name: str, module: ExtendedAttention, context: ReferenceContext, backend: str = "sdpa"):
        self.name = name
        self.module = module
        self.context = context
        self.backend = check_backend(backend)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        """Run the block's self-attention and add ZLL(CrossAttn(Q, K', V'))."""
        if hidden_states.ndim != 3 or encoder_hidden_states is not None:
            raise ConfigError("ExtendedAttnProcessor serves transformer self-attention (B, L, C) only; "
                              "install it on attn1 processors of a UNet2DConditionModel")
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
        out = attend(query, key, value, attention_mask, self.backend)
        out = out.transpose(1, 2).reshape(b, -1, attn.heads * head_dim).to(query.dtype)  # (B,L,inner)
        out = attn.to_out[1](attn.to_out[0](out))
        ctx = self.context
        if ctx.active:
            k_ref, v_ref = ctx.key_value(self.name, self.module, attn.heads)  # (Br,h,S,d)
            skip = ctx.skip_null_rows and not torch.is_grad_enabled()
            rows, token_rows, scale = ctx.row_plan(b, k_ref.shape[0], query.device, skip)
            if not (isinstance(rows, torch.Tensor) and rows.numel() == 0):
                if rows is None:
                    q = query
                else:
                    q = query[rows] if isinstance(rows, slice) else query.index_select(0, rows)  # (n,h,L,d)
                if token_rows is not None:
                    k_ref, v_ref = k_ref.index_select(0, token_rows), v_ref.index_select(0, token_rows)
                cross = attend(q, k_ref.to(query.dtype), v_ref.to(query.dtype), backend=self.backend)
                cross = self.module.zll(cross.transpose(1, 2).reshape(q.shape[0], -1, attn.heads * head_dim))  # (n,L,C)
                if scale is not None:
                    cross = cross * scale.to(cross.dtype)
                out = _add_rows(out, rows, cross.to(out.dtype))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def _add_rows(out: torch.Tensor, rows, cross: torch.Tensor) -> torch.Tensor:
    """out[rows] + cross: in place when no gradient is recorded (`out` is a fresh projection output)."""
    inplace = not torch.is_grad_enabled()
    if rows is None:
        return out.add_(cross) if inplace else out + cross
    if isinstance(rows, slice):
        if inplace:
            out[rows] += cross
            return out
        return torch.cat([out[: rows.start], out[rows] + cross, out[rows.stop:]])
    return out.index_add_(0, rows, cross) if inplace else out.index_add(0, rows, cross)


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
