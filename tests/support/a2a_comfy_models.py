"""Random weights files in the formats ComfyUI's core loaders detect, for the Any2AnyTryon server tests.

- Flux (UNETLoader, BFL keys): ComfyUI 0.3.75 builds every BFL Flux with 24 heads of 128 and rope
  axes (16, 56, 56), so the smallest it loads is 3072 wide: here 1 double block and no single
  block (~0.39 B parameters, bf16), context and pooled widths 768 to take CLIP-L's conditioning.
- VAE (VAELoader): the FLUX VAE layout (128-512 channels, 16 latent channels, no quant conv), which
  ComfyUI's detection fixes; diffusers keys (ComfyUI converts them).
- CLIP-L (CLIPLoader): the full CLIP ViT-L/14 text model, whose config ComfyUI fixes.
- LoRA (LoraLoaderModelOnly): rank 4 on the attention and MLP layers in the diffusers/PEFT format of
  the published Any2AnyTryon files.
Tensors are drawn straight in the target dtype from shapes taken on the meta device: fast.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from .flux_keys import flux_to_bfl

CLIP_WIDTH = 768


def _random(shapes: dict, dtype, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        if key.endswith(("norm.weight", "norm1.weight", "norm2.weight", "layer_norm.weight", ".scale")) or \
                ("norm" in key and key.endswith(".weight") and len(shape) == 1):
            out[key] = torch.ones(shape, dtype=dtype)
        elif len(shape) == 1:
            out[key] = torch.zeros(shape, dtype=dtype)
        else:
            fan_in = max(1, int(torch.tensor(shape[1:]).prod()))
            out[key] = (torch.randn(shape, generator=gen) * min(0.02, fan_in ** -0.5)).to(dtype)
    return out


def flux_meta(single: int = 0):
    """The smallest FluxTransformer2DModel that ComfyUI's UNETLoader accepts, on the meta device."""
    from diffusers import FluxTransformer2DModel

    with torch.device("meta"):
        return FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=single,
                                      attention_head_dim=128, num_attention_heads=24, joint_attention_dim=CLIP_WIDTH,
                                      pooled_projection_dim=CLIP_WIDTH, guidance_embeds=True,
                                      axes_dims_rope=(16, 56, 56))


def write_flux(path: Path, seed: int = 0, guidance: bool = True) -> Path:
    """A random FLUX.1-dev-shaped (1 block) transformer in BFL keys, bf16."""
    meta = flux_meta()
    shapes = {k: tuple(v.shape) for k, v in flux_to_bfl(meta.state_dict(), 1, 0).items()}
    state = _random(shapes, torch.bfloat16, seed)
    if not guidance:  # FLUX.1-schnell has no guidance_in
        state = {k: v for k, v in state.items() if not k.startswith("guidance_in.")}
    save_file(state, path)
    return path


def write_flux_vae(path: Path, seed: int = 1) -> Path:
    """A random VAE in the FLUX VAE layout, diffusers keys, fp16."""
    from diffusers import AutoencoderKL

    with torch.device("meta"):
        vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
                            down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                            layers_per_block=2, use_quant_conv=False, use_post_quant_conv=False)
    save_file(_random({k: tuple(v.shape) for k, v in vae.state_dict().items()}, torch.float16, seed), path)
    return path


def write_clip_l(path: Path, seed: int = 2) -> Path:
    """A random CLIP ViT-L/14 text model with its projection, HF keys, fp16."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=49408, hidden_size=CLIP_WIDTH, intermediate_size=3072, num_hidden_layers=12,
                            num_attention_heads=12, max_position_embeddings=77, projection_dim=CLIP_WIDTH)
    with torch.device("meta"):
        model = CLIPTextModelWithProjection(config)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if "position_ids" not in k}
    save_file(_random(shapes, torch.float16, seed), path)
    return path


def write_flux_lora(path: Path, rank: int = 4, seed: int = 3) -> dict:
    """A diffusers/PEFT-format LoRA for the `write_flux` model; returns its tensors."""
    meta = flux_meta()
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name in ("transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn.to_v", "transformer_blocks.0.ff.net.2"):
        layer = meta.get_submodule(name)
        state[f"transformer.{name}.lora_A.weight"] = (torch.randn(rank, layer.in_features, generator=gen) * 0.01).to(torch.bfloat16)
        state[f"transformer.{name}.lora_B.weight"] = (torch.randn(layer.out_features, rank, generator=gen) * 0.01).to(torch.bfloat16)
    save_file(state, path)
    return state


def _taesd_shapes(latent_channels: int = 16) -> dict:
    """Key -> shape of a TAESD (the tiny autoencoder ComfyUI's VAELoader detects by 'taesd_decoder.1.weight')."""
    shapes = {}

    def conv(prefix, n_in, n_out, bias=True, k=3):
        shapes[f"{prefix}.weight"] = (n_out, n_in, k, k)
        if bias:
            shapes[f"{prefix}.bias"] = (n_out,)

    def block(prefix):
        for i in (0, 2, 4):
            conv(f"{prefix}.conv.{i}", 64, 64)

    enc = "taesd_encoder"
    conv(f"{enc}.0", 3, 64)
    block(f"{enc}.1")
    index = 2
    for _ in range(3):
        conv(f"{enc}.{index}", 64, 64, bias=False)
        for j in range(1, 4):
            block(f"{enc}.{index + j}")
        index += 4
    conv(f"{enc}.{index}", 64, latent_channels)
    dec = "taesd_decoder"
    conv(f"{dec}.1", latent_channels, 64)
    index = 3
    for _ in range(3):
        for j in range(3):
            block(f"{dec}.{index + j}")
        conv(f"{dec}.{index + 4}", 64, 64, bias=False)  # after the Upsample at index + 3
        index += 5
    block(f"{dec}.{index}")
    conv(f"{dec}.{index + 1}", 64, 3)
    return shapes


def write_taesd(path: Path, seed: int = 4) -> Path:
    """A random 16-channel TAESD ('taef1' layout), fp16: a fast stand-in VAE for most workflow runs."""
    state = _random(_taesd_shapes(16), torch.float16, seed)
    state["vae_scale"], state["vae_shift"] = torch.tensor(1.0), torch.tensor(0.0)
    save_file(state, path)
    return path
