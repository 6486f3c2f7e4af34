"""Test files with the public projects' real key layouts, on random weights.

- An SD1.5-inpainting base laid out exactly as the real one (block types, two layers per block, 16
  transformer blocks, 9 input channels, 768-wide cross-attention, 4 latent channels) but with narrow
  channels, so that a 256×192 canvas samples in seconds on a CPU: a diffusers folder (unet/, vae/,
  scheduler/) or one original-format .safetensors.
- CatVTON's attention file: the ModuleList of every module named '*attn1*' with its processors as
  modules (8 entries per block), saved with shared tensors under their first name: 80 keys at module
  indices 0, 8, ..., 120, as `mix-48k-1024/attention/model.safetensors`.
- TryOffAnyone's file: the ModuleList of the down, mid and up `attentions`: 416 keys `<i>.<j>.<key>`.
- A separate SD1.5 VAE: a diffusers folder or one original-format (sd-vae-ft-mse-original) file.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import save_file

from twgtm.weights.base_config import sd15_unet, sd15_vae

from .ldm_keys import unet_to_ldm, vae_to_ldm

NARROW_UNET_WIDTHS = [32, 64, 64, 64]
NARROW_VAE_WIDTHS = [32, 32, 64, 64]
SCHEDULER = {"_class_name": "DDIMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
             "clip_sample": False, "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True,
             "steps_offset": 1, "trained_betas": None}


def narrow_unet_config(**changes) -> dict:
    """SD1.5-inpainting's UNet config with narrow channels (the layout unchanged)."""
    return {**sd15_unet(), "block_out_channels": NARROW_UNET_WIDTHS, **changes}


def narrow_vae_config(**changes) -> dict:
    """SD1.5's VAE config with narrow channels."""
    return {**sd15_vae(), "block_out_channels": NARROW_VAE_WIDTHS, **changes}


def random_modules(seed: int, unet_config: dict | None = None, vae_config: dict | None = None):
    """(UNet, VAE) with random weights; the UNet's output layer scaled up so that sampling moves visibly."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**(unet_config or narrow_unet_config())).eval()
    vae = AutoencoderKL(**(vae_config or narrow_vae_config())).eval()
    with torch.no_grad():
        unet.conv_out.weight.mul_(8.0)
    return unet, vae


def write_base_folder(folder: Path, unet, vae, scheduler: bool = True) -> Path:
    """A diffusers SD1.5-inpainting folder: unet/, vae/ (safetensors) and scheduler/scheduler_config.json."""
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    if scheduler:
        (folder / "scheduler").mkdir(parents=True, exist_ok=True)
        (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SCHEDULER))
    return folder


def write_base_file(path: Path, unet, vae) -> Path:
    """One original-format (LDM) file with the UNet and the VAE."""
    up_attention = ["CrossAttn" in t for t in unet.config.up_block_types]
    state = {**unet_to_ldm(unet.state_dict(), unet.config.layers_per_block, up_attention),
             **vae_to_ldm(vae.state_dict(), len(vae.config.block_out_channels))}
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def write_vae_file(path: Path, vae, prefix: str = "") -> Path:
    """One original-format VAE file (keys `encoder.down.0.block...`, optionally prefixed)."""
    state = vae_to_ldm(vae.state_dict(), len(vae.config.block_out_channels))
    state = {prefix + k[len("first_stage_model."):]: v.contiguous() for k, v in state.items()}
    save_file(state, str(path))
    return path


class ModuleProcessor(torch.nn.Module):
    """A processor that is an nn.Module (as CatVTON's are), so it is listed by named_modules(); passes through."""

    def __call__(self, attn, hidden_states, *args, **kwargs):
        return hidden_states


def _trained(unet, seed: int):
    """A copy of the UNet's attention weights moved by noise: what a fine-tuned release would hold."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if ".attentions." in name:
                p.add_(torch.randn_like(p) * 0.05)
    return unet


def _first_names(state: dict) -> dict:
    """Shared tensors kept under their first name only (the 80-key layout of CatVTON's release)."""
    seen, out = set(), {}
    for key, value in state.items():
        if value.data_ptr() in seen:
            continue
        seen.add(value.data_ptr())
        out[key] = value.contiguous()
    return out


def write_catvton_file(path: Path, unet_config: dict | None = None, seed: int = 5) -> dict:
    """CatVTON's attention file for a UNet of `unet_config`; returns the attn1 tensors by our UNet key."""
    unet = _trained(UNet2DConditionModel(**(unet_config or narrow_unet_config())), seed)
    expected = {k: v.clone() for k, v in unet.state_dict().items() if ".attn1." in k}
    unet.set_attn_processor({name: ModuleProcessor() for name in unet.attn_processors})
    modules = torch.nn.ModuleList(m for name, m in unet.named_modules() if "attn1" in name)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(_first_names(modules.state_dict()), str(path))
    return expected


def write_tryoffanyone_file(path: Path, unet_config: dict | None = None, seed: int = 6) -> dict:
    """TryOffAnyone's file for a UNet of `unet_config`; returns the transformer tensors by our UNet key."""
    unet = _trained(UNet2DConditionModel(**(unet_config or narrow_unet_config())), seed)
    expected = {k: v.clone() for k, v in unet.state_dict().items() if ".attentions." in k}
    modules = torch.nn.ModuleList()
    for blocks in (unet.down_blocks, [unet.mid_block], unet.up_blocks):
        modules.extend(block.attentions for block in blocks if hasattr(block, "attentions"))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in modules.state_dict().items()}, str(path))
    return expected


def write_tiny_parser(folder: Path, label: str | None = None, seed: int = 0) -> Path:
    """A tiny random SegFormer with the ATR labels, saved as a transformers folder (config, safetensors, processor).

    With `label`, the classifier is zeroed and its bias favours that label: every pixel parses to it.
    """
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    from twgtm.parsing.labels import ATR_LABELS

    torch.manual_seed(seed)
    config = SegformerConfig(num_channels=3, num_encoder_blocks=4, depths=[1, 1, 1, 1], sr_ratios=[8, 4, 2, 1],
                             hidden_sizes=[8, 16, 16, 16], num_attention_heads=[1, 1, 1, 1], decoder_hidden_size=16,
                             num_labels=len(ATR_LABELS), id2label=dict(enumerate(ATR_LABELS)),
                             label2id={n: i for i, n in enumerate(ATR_LABELS)})
    model = SegformerForSemanticSegmentation(config).eval()
    if label is not None:
        with torch.no_grad():
            model.decode_head.classifier.weight.zero_()
            model.decode_head.classifier.bias.zero_()
            model.decode_head.classifier.bias[ATR_LABELS.index(label)] = 10.0
    model.save_pretrained(folder, safe_serialization=True)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder
