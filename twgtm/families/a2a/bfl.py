"""FLUX transformers in the original BFL single-file layout (flux1-dev.safetensors, as ComfyUI loads them).

`bfl_to_diffusers` renames and splits a BFL state dict into diffusers FluxTransformer2DModel keys
(fused qkv and linear1 split by the width the file itself shows, the final layer's shift/scale
swapped), so the CLI can run on the same file a ComfyUI user has; `bfl_config` reads the model's
sizes from the tensors' shapes.
"""
from __future__ import annotations

import re

import torch

from ...errors import CheckpointError

PREFIXES = ("model.diffusion_model.", "diffusion_model.")
SIMPLE = {
    "img_in": "x_embedder", "txt_in": "context_embedder",
    "time_in.in_layer": "time_text_embed.timestep_embedder.linear_1",
    "time_in.out_layer": "time_text_embed.timestep_embedder.linear_2",
    "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
    "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
    "guidance_in.in_layer": "time_text_embed.guidance_embedder.linear_1",
    "guidance_in.out_layer": "time_text_embed.guidance_embedder.linear_2",
    "final_layer.linear": "proj_out",
}
DOUBLE = {"img_mod.lin": "norm1.linear", "txt_mod.lin": "norm1_context.linear", "img_attn.proj": "attn.to_out.0",
          "txt_attn.proj": "attn.to_add_out", "img_mlp.0": "ff.net.0.proj", "img_mlp.2": "ff.net.2",
          "txt_mlp.0": "ff_context.net.0.proj", "txt_mlp.2": "ff_context.net.2",
          "img_attn.norm.query_norm.scale": "attn.norm_q.weight", "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
          "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
          "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight"}
SINGLE = {"linear2": "proj_out", "modulation.lin": "norm.linear", "norm.query_norm.scale": "attn.norm_q.weight",
          "norm.key_norm.scale": "attn.norm_k.weight"}
FLUX_AXES = (16, 56, 56)  # FLUX.1's rope axes for head dim 128


def strip_prefix(state: dict) -> dict:
    """Drop a checkpoint's `model.diffusion_model.` / `diffusion_model.` prefix."""
    for prefix in PREFIXES:
        if any(k.startswith(prefix) for k in state):
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def _count(state: dict, group: str) -> int:
    found = {int(m.group(1)) for k in state if (m := re.match(rf"{group}\.(\d+)\.", k))}
    return max(found) + 1 if found else 0


def bfl_config(state: dict, source: str, axes: tuple[int, int, int] | None = None) -> dict:
    """diffusers config of a BFL FLUX state dict, read from its shapes."""
    if "img_in.weight" not in state or "double_blocks.0.img_attn.qkv.weight" not in state:
        raise CheckpointError(f"{source} is not a FLUX transformer in the BFL layout (no img_in / double_blocks keys); "
                              "give flux1-dev.safetensors or a diffusers transformer folder")
    hidden, in_channels = state["img_in.weight"].shape
    head_dim = state["double_blocks.0.img_attn.norm.query_norm.scale"].shape[0]
    if axes is None:
        if head_dim != sum(FLUX_AXES):
            raise CheckpointError(f"{source}: head dim {head_dim} is not FLUX.1's 128; give a config (--flux DIR with "
                                  "transformer/config.json) that names axes_dims_rope")
        axes = FLUX_AXES
    return {"patch_size": 1, "in_channels": int(in_channels), "num_layers": _count(state, "double_blocks"),
            "num_single_layers": _count(state, "single_blocks"), "attention_head_dim": int(head_dim),
            "num_attention_heads": int(hidden // head_dim), "joint_attention_dim": int(state["txt_in.weight"].shape[1]),
            "pooled_projection_dim": int(state["vector_in.in_layer.weight"].shape[1]),
            "guidance_embeds": "guidance_in.in_layer.weight" in state, "axes_dims_rope": list(axes)}


def bfl_to_diffusers(state: dict, source: str) -> dict:
    """BFL keys -> diffusers FluxTransformer2DModel keys; CheckpointError names keys left unused."""
    state = strip_prefix(state)
    hidden = state["img_in.weight"].shape[0]
    out, used = {}, set()

    def move(src, dst):
        for suffix in ("weight", "bias"):
            key = f"{src}.{suffix}"
            if key in state:
                out[f"{dst}.{suffix}"], _ = state[key], used.add(key)

    def split(src, dsts, sizes):
        for suffix in ("weight", "bias"):
            key = f"{src}.{suffix}"
            for dst, part in zip(dsts, torch.split(state[key], sizes, dim=0)):
                out[f"{dst}.{suffix}"] = part.contiguous()
            used.add(key)

    for src, dst in SIMPLE.items():
        move(src, dst)
    for i in range(_count(state, "double_blocks")):
        b, d = f"double_blocks.{i}", f"transformer_blocks.{i}"
        for src, dst in DOUBLE.items():
            if src.endswith(".scale"):
                out[f"{d}.{dst}"], _ = state[f"{b}.{src}"], used.add(f"{b}.{src}")
            else:
                move(f"{b}.{src}", f"{d}.{dst}")
        split(f"{b}.img_attn.qkv", [f"{d}.attn.to_q", f"{d}.attn.to_k", f"{d}.attn.to_v"], [hidden] * 3)
        split(f"{b}.txt_attn.qkv", [f"{d}.attn.add_q_proj", f"{d}.attn.add_k_proj", f"{d}.attn.add_v_proj"], [hidden] * 3)
    for i in range(_count(state, "single_blocks")):
        b, d = f"single_blocks.{i}", f"single_transformer_blocks.{i}"
        for src, dst in SINGLE.items():
            if src.endswith(".scale"):
                out[f"{d}.{dst}"], _ = state[f"{b}.{src}"], used.add(f"{b}.{src}")
            else:
                move(f"{b}.{src}", f"{d}.{dst}")
        mlp = state[f"{b}.linear1.weight"].shape[0] - 3 * hidden
        split(f"{b}.linear1", [f"{d}.attn.to_q", f"{d}.attn.to_k", f"{d}.attn.to_v", f"{d}.proj_mlp"], [hidden] * 3 + [mlp])
    for suffix in ("weight", "bias"):  # BFL LastLayer: (shift, scale); diffusers AdaLayerNormContinuous: (scale, shift)
        key = f"final_layer.adaLN_modulation.1.{suffix}"
        shift, scale = state[key].chunk(2, dim=0)
        out[f"norm_out.linear.{suffix}"], _ = torch.cat([scale, shift], dim=0), used.add(key)
    left = sorted(set(state) - used)
    if left:
        raise CheckpointError(f"{source}: {len(left)} keys of no FLUX.1 transformer ({left[:4]}...); the file is of "
                              "another model (a FLUX.2, Chroma or a ControlNet?)")
    return out


def load_bfl_transformer(path, dtype: torch.dtype, config: dict | None = None):
    """A diffusers FluxTransformer2DModel from a BFL single file (config from `config` or the shapes)."""
    from diffusers import FluxTransformer2DModel
    from safetensors.torch import load_file

    state = strip_prefix(load_file(str(path)))
    axes = tuple(config["axes_dims_rope"]) if config and "axes_dims_rope" in config else None
    model_config = bfl_config(state, str(path), axes)
    with torch.device("meta"):
        model = FluxTransformer2DModel(**model_config)
    converted = bfl_to_diffusers(state, str(path))
    missing = sorted(set(model.state_dict()) - set(converted))
    if missing:
        raise CheckpointError(f"{path}: missing FLUX transformer weights {missing[:4]}; the file is truncated or partial")
    model.load_state_dict({k: v.to(dtype) for k, v in converted.items()}, assign=True, strict=True)
    return model.eval()
