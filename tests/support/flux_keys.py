"""Test helper: rename a diffusers FluxTransformer2DModel state dict to the original BFL key layout.

Written for the tests from the BFL layout (img_in, time_in, vector_in, guidance_in, txt_in,
double_blocks.i.{img,txt}_{mod,attn,mlp}, single_blocks.i.{linear1,linear2,norm,modulation},
final_layer) so that ComfyUI's own loader reads the file as a user's flux1-dev.safetensors.
"""
from __future__ import annotations

import torch

SIMPLE = {
    "x_embedder": "img_in",
    "context_embedder": "txt_in",
    "time_text_embed.timestep_embedder.linear_1": "time_in.in_layer",
    "time_text_embed.timestep_embedder.linear_2": "time_in.out_layer",
    "time_text_embed.text_embedder.linear_1": "vector_in.in_layer",
    "time_text_embed.text_embedder.linear_2": "vector_in.out_layer",
    "time_text_embed.guidance_embedder.linear_1": "guidance_in.in_layer",
    "time_text_embed.guidance_embedder.linear_2": "guidance_in.out_layer",
    "proj_out": "final_layer.linear",
}
DOUBLE = {
    "norm1.linear": "img_mod.lin", "norm1_context.linear": "txt_mod.lin",
    "attn.to_out.0": "img_attn.proj", "attn.to_add_out": "txt_attn.proj",
    "ff.net.0.proj": "img_mlp.0", "ff.net.2": "img_mlp.2",
    "ff_context.net.0.proj": "txt_mlp.0", "ff_context.net.2": "txt_mlp.2",
}
DOUBLE_NORMS = {"attn.norm_q": "img_attn.norm.query_norm", "attn.norm_k": "img_attn.norm.key_norm",
                "attn.norm_added_q": "txt_attn.norm.query_norm", "attn.norm_added_k": "txt_attn.norm.key_norm"}
SINGLE = {"proj_out": "linear2", "norm.linear": "modulation.lin"}
SINGLE_NORMS = {"attn.norm_q": "norm.query_norm", "attn.norm_k": "norm.key_norm"}


def _cat(state, names, suffix):
    return torch.cat([state[f"{n}.{suffix}"] for n in names], dim=0)


def flux_to_bfl(state: dict, num_layers: int, num_single_layers: int) -> dict:
    """diffusers keys -> BFL keys (fused qkv, swapped final shift/scale), every tensor used once."""
    out, used = {}, set()

    def take(src, dst):
        for suffix in ("weight", "bias"):
            if f"{src}.{suffix}" in state:
                out[f"{dst}.{suffix}"] = state[f"{src}.{suffix}"]
                used.add(f"{src}.{suffix}")

    for src, dst in SIMPLE.items():
        take(src, dst)
    for i in range(num_layers):
        p = f"transformer_blocks.{i}"
        for src, dst in DOUBLE.items():
            take(f"{p}.{src}", f"double_blocks.{i}.{dst}")
        for src, dst in DOUBLE_NORMS.items():
            out[f"double_blocks.{i}.{dst}.scale"] = state[f"{p}.{src}.weight"]
            used.add(f"{p}.{src}.weight")
        for stream, names in (("img_attn", ("attn.to_q", "attn.to_k", "attn.to_v")),
                              ("txt_attn", ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"))):
            for suffix in ("weight", "bias"):
                out[f"double_blocks.{i}.{stream}.qkv.{suffix}"] = _cat(state, [f"{p}.{n}" for n in names], suffix)
                used.update(f"{p}.{n}.{suffix}" for n in names)
    for i in range(num_single_layers):
        p = f"single_transformer_blocks.{i}"
        for src, dst in SINGLE.items():
            take(f"{p}.{src}", f"single_blocks.{i}.{dst}")
        for src, dst in SINGLE_NORMS.items():
            out[f"single_blocks.{i}.{dst}.scale"] = state[f"{p}.{src}.weight"]
            used.add(f"{p}.{src}.weight")
        names = [f"{p}.attn.to_q", f"{p}.attn.to_k", f"{p}.attn.to_v", f"{p}.proj_mlp"]
        for suffix in ("weight", "bias"):
            out[f"single_blocks.{i}.linear1.{suffix}"] = _cat(state, names, suffix)
            used.update(f"{n}.{suffix}" for n in names)
    for suffix in ("weight", "bias"):  # diffusers AdaLayerNormContinuous: (scale, shift); BFL LastLayer: (shift, scale)
        scale, shift = state[f"norm_out.linear.{suffix}"].chunk(2, dim=0)
        out[f"final_layer.adaLN_modulation.1.{suffix}"] = torch.cat([shift, scale], dim=0)
        used.add(f"norm_out.linear.{suffix}")
    left = sorted(set(state) - used)
    if left:
        raise KeyError(f"flux_to_bfl: diffusers keys without a BFL name: {left[:8]}")
    return out
