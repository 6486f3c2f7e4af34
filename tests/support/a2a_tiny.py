"""Tiny random FLUX parts for the Any2AnyTryon tests, saved as a FLUX.1-dev-style diffusers folder.

Transformer: 1 double + 1 single block, 2 heads of 16, rope axes (4, 6, 6), guidance embedding.
VAE: 16 latent channels, 8x (three downsamplings), scaling/shift factors of the FLUX VAE.
Text: a 1-layer CLIP text model and a 1-layer T5 encoder with word-level tokenizers built here.
"""
from __future__ import annotations

from pathlib import Path

import torch

WORDS = ("<MODEL> <GARMENT> <TARGET> a the person man woman with fashion garment model wearing laid flat same "
         "shirt t-shirt dress coat blue red striped in white background smiling image shows an outer over clothes "
         "of and pocket").split()
TEXT_DIM = 32


def tiny_transformer(seed: int = 0, guidance: bool = True, text_dim: int = TEXT_DIM, single: int = 1):
    """FluxTransformer2DModel: 1 double + `single` single blocks, head dim 16, axes (4, 6, 6)."""
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(seed)
    model = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=single,
                                   attention_head_dim=16, num_attention_heads=2, joint_attention_dim=text_dim,
                                   pooled_projection_dim=text_dim, guidance_embeds=guidance, axes_dims_rope=(4, 6, 6))
    with torch.no_grad():  # zero-initialised output layers would make every prediction 0: give them weights
        for name, param in model.named_parameters():
            if param.abs().sum() == 0 and name.endswith("weight"):
                param.normal_(0, 0.05)
    return model.eval()


def tiny_vae(seed: int = 0, quant_conv: bool = False):
    """AutoencoderKL with 16 latent channels and the FLUX VAE's scaling (0.3611) and shift (0.1159).

    32 channels per level because ComfyUI's VAE blocks use GroupNorm(32); quant_conv=True gives the
    layout ComfyUI builds from an explicit config (its legacy AutoencoderKL)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(32, 32, 32, 32),
                         down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                         layers_per_block=1, norm_num_groups=32, use_quant_conv=quant_conv,
                         use_post_quant_conv=quant_conv, scaling_factor=0.3611, shift_factor=0.1159).eval()


def tiny_tokenizer(eos: str, pad: str, max_length: int):
    """A word-level fast tokenizer over WORDS that appends `eos`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([pad, eos, "<unk>", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single=f"$A {eos}", special_tokens=[(eos, vocab[eos])])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=pad, eos_token=eos, unk_token="<unk>",
                                   model_max_length=max_length)


def tiny_clip(tokenizer, seed: int = 0):
    """1-layer CLIPTextModel whose pooled output reads the eos token."""
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=TEXT_DIM, intermediate_size=64, num_hidden_layers=1,
                            num_attention_heads=2, max_position_embeddings=77, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.pad_token_id)
    return CLIPTextModel(config).eval()


def tiny_t5(tokenizer, seed: int = 0):
    """1-layer T5EncoderModel."""
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=16, d_ff=64, num_layers=1, num_heads=2,
                      feed_forward_proj="gated-gelu", pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id)
    return T5EncoderModel(config).eval()


def write_flux_folder(root: Path, seed: int = 0, guidance: bool = True) -> Path:
    """Save the six tiny parts in the FLUX.1-dev diffusers layout under `root`; return it."""
    root = Path(root)
    clip_tok = tiny_tokenizer("<|endoftext|>", "<|pad|>", 77)
    t5_tok = tiny_tokenizer("</s>", "<pad>", 512)
    tiny_transformer(seed, guidance).save_pretrained(root / "transformer")
    tiny_vae(seed).save_pretrained(root / "vae")
    tiny_clip(clip_tok, seed).save_pretrained(root / "text_encoder")
    clip_tok.save_pretrained(root / "tokenizer")
    tiny_t5(t5_tok, seed).save_pretrained(root / "text_encoder_2")
    t5_tok.save_pretrained(root / "tokenizer_2")
    return root


def random_pixels(height: int, width: int, seed: int, batch: int = 1) -> torch.Tensor:
    """Smooth random pixels (B,3,H,W) in [-1,1]: low-resolution noise upsampled."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, 3, max(2, height // 16), max(2, width // 16), generator=gen) * 2 - 1
    return torch.nn.functional.interpolate(low, size=(height, width), mode="bilinear", align_corners=False)
