"""Automatic masks for real photos: a SegFormer clothes parser (ATR labels) and the mask rules on its parse map.

`ClothesParser(folder)` loads a transformers SegFormer from a local folder (no downloads) and parses a
person into the 18 ATR labels; `rules` turns a parse map into the try-on agnostic mask of a garment
category or the try-off garment mask; `AutoMask` joins both into a mask source that the samplers call
on the person (the profiles call it on the person at their working size, as their own maskers run).
"""
from .auto_mask import AutoMask, auto_mask
from .labels import ATR_LABELS, label_ids
from .parser import ClothesParser, load_parser
from .rules import MASK_TASKS, tryoff_garment_mask, tryon_agnostic_mask

__all__ = ["ATR_LABELS", "label_ids", "ClothesParser", "load_parser", "tryon_agnostic_mask", "tryoff_garment_mask",
           "MASK_TASKS", "AutoMask", "auto_mask"]
