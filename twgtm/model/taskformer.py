"""TaskFormer: a Mask2Former-style decoder with masked attention (the SRM's core).

Per unit i, queries F pass through three blocks (paper, SRM):
    F'  = Block1(F_{i-1}, F_QF, M1_{i-1})      attend to QFormer tokens under mask M1 (B×K×N)
    F'' = Block2(F',      H2,   M2_{i-1})      attend to 1/8 features under mask M2
    F_i = Block3(F'',     H3,   M2_{i-1})      attend to 1/16 features under M2 resized
then the heads refresh the masks from F_i:
    M1 = σ(Linear(F)·F_QFᵀ),  M2 = σ(MLP(F)·H1),  TFQ_j = MLP_j(F[:, j])·H1  (task head j reads query j)
TFQ_0 is the predicted flat-garment mask (logits, B×1×H/4×W/4); TFQ_j, j ≥ 1, are refinement maps.
A query whose mask is empty attends everywhere (Mask2Former's rule), so no row is all -inf.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError


def sine_position_2d(h: int, w: int, dim: int, *, device=None, dtype=None) -> torch.Tensor:
    """Fixed 2-D sine position code (h*w, dim) for any grid size."""
    quarter = max(dim // 4, 1)
    freq = torch.exp(torch.arange(quarter, device=device, dtype=torch.float32) * (-math.log(10000.0) / quarter))
    ys = torch.arange(h, device=device, dtype=torch.float32)[:, None] * freq  # (h,q)
    xs = torch.arange(w, device=device, dtype=torch.float32)[:, None] * freq  # (w,q)
    y = torch.cat([ys.sin(), ys.cos()], -1)[:, None, :].expand(h, w, -1)
    x = torch.cat([xs.sin(), xs.cos()], -1)[None, :, :].expand(h, w, -1)
    pos = torch.cat([y, x], -1).reshape(h * w, -1)  # (h*w, 4q)
    pos = F.pad(pos, (0, dim - pos.shape[-1]))
    return pos.to(dtype=dtype or torch.float32)


def attention_mask_from_probs(probs: torch.Tensor) -> torch.Tensor:
    """Boolean SDPA mask (True = may attend) from mask probabilities (B,K,S); empty rows open fully."""
    allowed = probs.detach() >= 0.5
    empty = ~allowed.any(dim=-1, keepdim=True)
    return allowed | empty


class MultiHeadAttention(nn.Module):
    """Plain multi-head attention on SDPA with an optional boolean mask (B,K,S)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, query, key, value, mask: torch.Tensor | None = None) -> torch.Tensor:
        """query (B,K,D), key/value (B,S,D) -> (B,K,D)."""
        b, k, d = query.shape
        h = self.num_heads

        def heads(x):  # (B,L,D) -> (B,h,L,D/h)
            return x.reshape(b, x.shape[1], h, d // h).transpose(1, 2)

        attn_mask = None if mask is None else mask[:, None]  # (B,1,K,S)
        out = F.scaled_dot_product_attention(heads(self.q(query)), heads(self.k(key)), heads(self.v(value)), attn_mask=attn_mask)
        return self.out(out.transpose(1, 2).reshape(b, k, d))


class MLP(nn.Module):
    """A few Linear layers with ReLU between them."""

    def __init__(self, dim_in: int, dim_hidden: int, dim_out: int, num_layers: int = 3):
        super().__init__()
        dims = [dim_in] + [dim_hidden] * (num_layers - 1) + [dim_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., dim_in) -> (..., dim_out)."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class TaskBlock(nn.Module):
    """Masked cross-attention to a memory, then self-attention among queries, then an FFN (post-norm)."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int):
        super().__init__()
        self.cross = MultiHeadAttention(dim, num_heads)
        self.self_attn = MultiHeadAttention(dim, num_heads)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), nn.Linear(ffn_dim, dim))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(3))

    def forward(self, queries, query_pos, memory, memory_pos, mask) -> torch.Tensor:
        """queries (B,K,D), memory (B,S,D), mask (B,K,S) boolean -> (B,K,D)."""
        key = memory if memory_pos is None else memory + memory_pos
        x = self.norms[0](queries + self.cross(queries + query_pos, key, memory, mask))
        x = self.norms[1](x + self.self_attn(x + query_pos, x + query_pos, x))
        return self.norms[2](x + self.ffn(x))


@dataclass
class TaskFormerOutput:
    """Final queries, the task maps of the last unit, and every unit's garment-mask logits."""

    queries: torch.Tensor  # F (B,K,D)
    task_maps: torch.Tensor  # TFQ logits (B,T,h1,w1); channel 0 = flat-garment mask
    garment_mask_logits: list  # per unit (B,1,h1,w1), the last is the prediction


class TaskFormer(nn.Module):
    """K queries initialised from F_QF, refined unit by unit under masks M1 and M2."""

    def __init__(self, *, hidden_dim: int, num_queries: int, num_units: int, num_heads: int, ffn_dim: int,
                 num_task_heads: int, qformer_dim: int, num_qformer_tokens: int):
        super().__init__()
        if num_task_heads > num_queries:
            raise ConfigError(f"taskformer num_task_heads ({num_task_heads}) must not exceed num_queries ({num_queries}): "
                              "task head j reads query j; lower num_task_heads or raise num_queries in the config")
        d = hidden_dim
        self.qformer_in = nn.Linear(qformer_dim, d)
        self.token_mix = nn.Linear(num_qformer_tokens, num_queries)  # N query slots -> K
        self.query_embed = nn.Parameter(torch.zeros(1, num_queries, d))
        self.query_pos = nn.Parameter(torch.randn(1, num_queries, d) * 0.02)
        self.units = nn.ModuleList(
            nn.ModuleList(TaskBlock(d, num_heads, ffn_dim) for _ in range(3)) for _ in range(num_units)
        )
        self.norm = nn.LayerNorm(d)
        self.m1_head = nn.Linear(d, d)
        self.m2_head = MLP(d, d, d)
        self.task_heads = nn.ModuleList(MLP(d, d, d) for _ in range(num_task_heads))

    def heads(self, queries, qf, h1):
        """Masks M1 (B,K,N), M2 (B,K,h1,w1) and task maps (B,T,h1,w1), all logits."""
        f = self.norm(queries)
        m1 = torch.einsum("bkd,bnd->bkn", self.m1_head(f), qf)
        m2 = torch.einsum("bkd,bdhw->bkhw", self.m2_head(f), h1)
        task = torch.stack([torch.einsum("bd,bdhw->bhw", head(f[:, j]), h1) for j, head in enumerate(self.task_heads)], 1)
        return m1, m2, task

    def forward(self, qformer_tokens: torch.Tensor, h1: torch.Tensor, h2: torch.Tensor, h3: torch.Tensor) -> TaskFormerOutput:
        """F_QF (B,N,Dq) and features H1/H2/H3 (B,D,h,w) at 1/4, 1/8, 1/16 -> TaskFormerOutput."""
        qf = self.qformer_in(qformer_tokens)  # (B,N,D)
        queries = self.token_mix(qf.transpose(1, 2)).transpose(1, 2) + self.query_embed  # (B,K,D)
        b, d = queries.shape[0], queries.shape[-1]
        qpos = self.query_pos.expand(b, -1, -1)
        mem2 = h2.flatten(2).transpose(1, 2)  # (B,h2*w2,D)
        mem3 = h3.flatten(2).transpose(1, 2)  # (B,h3*w3,D)
        pos2 = sine_position_2d(*h2.shape[-2:], d, device=h2.device, dtype=h2.dtype)[None]
        pos3 = sine_position_2d(*h3.shape[-2:], d, device=h3.device, dtype=h3.dtype)[None]
        m1, m2, task = self.heads(queries, qf, h1)
        garment_logits = []
        for block1, block2, block3 in self.units:
            mask1 = attention_mask_from_probs(m1.sigmoid())
            mask2 = attention_mask_from_probs(F.interpolate(m2, size=h2.shape[-2:], mode="bilinear", align_corners=False).sigmoid().flatten(2))
            mask3 = attention_mask_from_probs(F.interpolate(m2, size=h3.shape[-2:], mode="bilinear", align_corners=False).sigmoid().flatten(2))
            queries = block1(queries, qpos, qf, None, mask1)
            queries = block2(queries, qpos, mem2, pos2, mask2)
            queries = block3(queries, qpos, mem3, pos3, mask3)
            m1, m2, task = self.heads(queries, qf, h1)
            garment_logits.append(task[:, :1])
        return TaskFormerOutput(queries=self.norm(queries), task_maps=task, garment_mask_logits=garment_logits)
