"""The ATR human-parsing labels of the SegFormer clothes parsers (sayeed99/segformer_b3_clothes, mattmdjaga/...).

Their config's id2label: 0 Background, 1 Hat, 2 Hair, 3 Sunglasses, 4 Upper-clothes, 5 Skirt, 6 Pants,
7 Dress, 8 Belt, 9 Left-shoe, 10 Right-shoe, 11 Face, 12 Left-leg, 13 Right-leg, 14 Left-arm,
15 Right-arm, 16 Bag, 17 Scarf. A parser is read by its label names, not its numbers, so a parser
with the same names in another order works; one without them is an error that lists what it has.
"""
from __future__ import annotations

from ..errors import CheckpointError

ATR_LABELS = ("Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress", "Belt",
              "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm", "Right-arm", "Bag", "Scarf")


def _key(name: str) -> str:
    """A label name compared without case, spaces, '-' or '_'."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def label_ids(id2label: dict, source: str = "the parser") -> dict[str, int]:
    """ATR label name -> the parser's class id, from its config's id2label; every ATR label must be there."""
    by_key = {_key(name): int(index) for index, name in id2label.items()}
    missing = [name for name in ATR_LABELS if _key(name) not in by_key]
    if missing:
        have = [id2label[k] for k in sorted(id2label, key=int)][:24]
        raise CheckpointError(f"{source} does not parse into the ATR clothes labels: it lacks {missing} (it has {have}); "
                              "use a SegFormer clothes parser such as sayeed99/segformer_b3_clothes")
    return {name: by_key[_key(name)] for name in ATR_LABELS}
