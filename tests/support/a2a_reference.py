"""An independent reading of Any2AnyTryon's published loop (their FluxTryonPipeline + infer.py), for the tests.

Written from their semantics, not from twgtm's code: the canvas is ONE image [blank target | model |
garment] (or [target | one condition]); the target panel and the condition strip are VAE-encoded
apart with posterior *sampling* from one CPU generator, then the noise of the whole canvas is drawn
from it; ids are laid out over the whole canvas grid; all canvas tokens are packed jointly
(row-major over the canvas); before every call the tokens outside the target are set back to their
clean latents by the mask; the whole canvas is stepped; the target columns are returned.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _tokens(latent):  # (B,C,h,w) -> (B, h/2*w/2, 4C), 2x2 patches, channel order (c, dy, dx)
    return F.pixel_unshuffle(latent, 2).flatten(2).transpose(1, 2)


def _latent(tokens, h, w):  # inverse of _tokens
    return F.pixel_shuffle(tokens.transpose(1, 2).reshape(tokens.shape[0], -1, h // 2, w // 2), 2)


def canvas_grid_ids(rows, cols, target_cols, tryon):
    """Their _prepare_latent_image_ids with a target width: over the whole canvas grid."""
    ids = torch.zeros(rows, cols, 3)
    ids[:, target_cols:, 0] = 1
    ids[..., 1] = torch.arange(rows)[:, None].float()
    if tryon:
        ids[:, 2 * target_cols:, 0] = 2
        ids[:, :target_cols, 2] = torch.arange(target_cols).float()
        ids[:, target_cols:, 2] = torch.arange(cols - target_cols).float()
    else:
        ids[..., 2] = torch.arange(cols).float()
    return ids.reshape(-1, 3)


def text_embeddings(prompt, clip, clip_tokenizer, t5, t5_tokenizer, length=512):
    """FLUX prompt encoding: CLIP pooled (77 tokens) and T5 hidden states (padded to `length`)."""
    clip_ids = clip_tokenizer([prompt], padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    t5_ids = t5_tokenizer([prompt], padding="max_length", max_length=length, truncation=True, return_tensors="pt")
    with torch.no_grad():
        return t5(t5_ids.input_ids)[0], clip(clip_ids.input_ids).pooler_output


@torch.no_grad()
def published_loop(transformer, vae, canvas, target_width, tryon, text, pooled, steps, guidance, seed,
                   posterior="sample", noise=None):
    """Target latent (B,16,H/8,target_width/8) after `steps` steps; `canvas` (B,3,H,W) in [-1,1].

    posterior="mean" and an explicit `noise` (B,16,H/8,target_width/8) give the set-up ComfyUI uses
    (VAEEncode takes the posterior mean; KSampler draws the target's noise alone).
    """
    generator = torch.Generator("cpu").manual_seed(seed)
    batch, _, height, width = canvas.shape

    def encode(pixels):
        dist = vae.encode(pixels).latent_dist
        raw = dist.sample(generator) if posterior == "sample" else dist.mean
        return (raw - vae.config.shift_factor) * vae.config.scaling_factor

    image_latents = torch.cat([encode(canvas[..., :target_width]), encode(canvas[..., target_width:])], dim=-1)
    h, w, tw = height // 8, width // 8, target_width // 8
    full_noise = torch.randn((batch, 16, h, w), generator=generator)
    if noise is not None:
        full_noise[..., :tw] = noise
    mask = torch.zeros(1, 1, h, w)
    mask[..., :tw] = 1.0
    latents, clean, keep = _tokens(full_noise), _tokens(image_latents), _tokens(mask.expand(1, 16, h, w))
    ids = canvas_grid_ids(h // 2, w // 2, tw // 2, tryon)
    sigmas = [1.0 - i * (1.0 - 1.0 / steps) / max(steps - 1, 1) for i in range(steps)]
    mu = (h // 2) * (w // 2) * (1.15 - 0.5) / (4096 - 256) + 0.5 - 256 * (1.15 - 0.5) / (4096 - 256)
    sigmas = [math.exp(mu) / (math.exp(mu) + (1 / s - 1)) for s in sigmas] + [0.0]
    for i in range(steps):
        latents = (1 - keep) * clean + keep * latents
        t = torch.tensor([sigmas[i] * 1000.0]).expand(batch)
        velocity = transformer(hidden_states=latents, timestep=t / 1000, guidance=torch.full((batch,), guidance),
                               pooled_projections=pooled, encoder_hidden_states=text,
                               txt_ids=torch.zeros(text.shape[1], 3), img_ids=ids, return_dict=False)[0]
        latents = latents + (sigmas[i + 1] - sigmas[i]) * velocity
    return _latent(latents, h, w)[..., :tw]
