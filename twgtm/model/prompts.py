"""Garment prompts for the QFormer: category names and a byte-level tokenizer (no download)."""
from __future__ import annotations

import torch

from ..errors import InputError
from ..vocab import CATEGORY_PROMPTS, GARMENT_CATEGORIES

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
BYTE_OFFSET = 3
VOCAB_SIZE = 256 + BYTE_OFFSET


def prompt_for(category_or_text: str) -> str:
    """The instruction prompt: a known category's name ('upper', 'lower', 'dress') or free text."""
    text = str(category_or_text).strip()
    if not text:
        raise InputError(f"the garment prompt is empty; give a category ({', '.join(GARMENT_CATEGORIES)}) or a text")
    return CATEGORY_PROMPTS.get(text.lower(), text)


def tokenize(prompts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """UTF-8 bytes -> ids (B,L) with BOS/EOS and padding, and the attention mask (B,L)."""
    if max_length < 3:
        raise InputError(f"prompt max_length must be at least 3, got {max_length}")
    ids = torch.full((len(prompts), max_length), PAD_ID, dtype=torch.long)
    for i, text in enumerate(prompts):
        body = [b + BYTE_OFFSET for b in prompt_for(text).encode("utf-8")][: max_length - 2]
        row = [BOS_ID] + body + [EOS_ID]
        ids[i, : len(row)] = torch.tensor(row)
    return ids, (ids != PAD_ID).long()
