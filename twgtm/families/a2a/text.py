"""Prompt encoding as FLUX.1 does it: CLIP-L's pooled output and T5's hidden states (padded to 512)."""
from __future__ import annotations

import torch

CLIP_LENGTH = 77
T5_LENGTH = 512


@torch.no_grad()
def encode_prompts(prompts: list[str], clip, clip_tokenizer, t5, t5_tokenizer, device,
                   max_sequence_length: int = T5_LENGTH) -> tuple[torch.Tensor, torch.Tensor]:
    """(T5 hidden states (B, L, D), CLIP pooled (B, 768)) for the prompts, on `device`."""
    clip_ids = clip_tokenizer(prompts, padding="max_length", max_length=min(CLIP_LENGTH, clip_tokenizer.model_max_length),
                              truncation=True, return_tensors="pt").input_ids  # (B, 77)
    pooled = clip(clip_ids.to(_device_of(clip)), output_hidden_states=False).pooler_output  # (B, 768)
    t5_ids = t5_tokenizer(prompts, padding="max_length", max_length=max_sequence_length, truncation=True,
                          return_tensors="pt").input_ids  # (B, L)
    hidden = t5(t5_ids.to(_device_of(t5)), output_hidden_states=False)[0]  # (B, L, D)
    return hidden.to(device), pooled.to(device)


def _device_of(module: torch.nn.Module) -> torch.device:
    """Where the module's first parameter lives (its execution device under offload hooks)."""
    for param in module.parameters():
        return param.device
    return torch.device("cpu")
