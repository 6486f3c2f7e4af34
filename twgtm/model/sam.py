"""SAM, the Semantic Abstraction Module: CLIP image encoder + instruction-prompted QFormer -> F_SAM."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import (
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    InstructBlipQFormerConfig,
    InstructBlipQFormerModel,
)

from .prompts import PAD_ID, VOCAB_SIZE

# CLIP's pixel normalisation (OpenAI CLIP statistics).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class SAMOutput:
    """What SAM gives: the UNet context tokens and the QFormer tokens the SRM starts from."""

    tokens: torch.Tensor  # F_SAM (B, 1+N, cross_dim)
    qformer_tokens: torch.Tensor  # F_QF (B, N, qformer_hidden)


class SemanticAbstraction(nn.Module):
    """F_SAM = [proj(F_G), proj(QFormer(F_S, prompt))] from a reference image and a prompt."""

    def __init__(self, *, clip: dict, qformer: dict, num_query_tokens: int, cross_attention_dim: int):
        super().__init__()
        self.clip = CLIPVisionModelWithProjection(CLIPVisionConfig(**clip))
        qcfg = InstructBlipQFormerConfig(vocab_size=VOCAB_SIZE, pad_token_id=PAD_ID, **qformer)
        self.qformer = InstructBlipQFormerModel(qcfg)
        self.query_tokens = nn.Parameter(torch.zeros(1, num_query_tokens, qcfg.hidden_size))
        nn.init.normal_(self.query_tokens, std=qcfg.initializer_range)
        self.global_proj = nn.Linear(clip["projection_dim"], cross_attention_dim)
        self.qformer_proj = nn.Linear(qcfg.hidden_size, cross_attention_dim)
        self.image_size = int(clip["image_size"])
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) in [-1,1] -> CLIP input (B,3,S,S), resized and normalised."""
        x = F.interpolate(image, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        x = (x + 1.0) / 2.0
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, image: torch.Tensor, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> SAMOutput:
        """Reference image (B,3,H,W) and tokenized prompt (B,L) -> SAMOutput."""
        clip_out = self.clip(pixel_values=self.preprocess(image))
        global_feat = clip_out.image_embeds[:, None]  # F_G (B,1,P)
        clip_tokens = clip_out.last_hidden_state  # F_S (B,1+patches,Dc)
        b = image.shape[0]
        queries = self.query_tokens.expand(b, -1, -1).to(clip_tokens.dtype)  # (B,N,Dq)
        attn = torch.cat([torch.ones(queries.shape[:2], dtype=prompt_mask.dtype, device=prompt_mask.device), prompt_mask], 1)
        qf = self.qformer(
            input_ids=prompt_ids,
            attention_mask=attn,
            query_embeds=queries,
            encoder_hidden_states=clip_tokens,
        ).last_hidden_state[:, : queries.shape[1]]  # F_QF (B,N,Dq)
        tokens = torch.cat([self.global_proj(global_feat), self.qformer_proj(qf)], dim=1)  # (B,1+N,cross)
        return SAMOutput(tokens=tokens, qformer_tokens=qf)
