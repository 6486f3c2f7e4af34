"""Mask rules on ATR parse maps: the try-on agnostic mask of a garment category and the try-off garment mask.

Try-off (as TryOffAnyone's `mask_generation`): upper = Upper-clothes ∪ Dress (its "Tops"),
lower = Skirt ∪ Pants (its "Bottoms"), dress = Dress ∪ Upper-clothes ∪ Skirt.

Try-on, after CatVTON's automatic masker (which needs DensePose; this one reads only the parse map):
1. the region a new garment may cover: the category's garments and the limbs it covers
   (upper: tops and dresses, both arms; lower: skirts, trousers, dresses, belt, both legs; dress: all);
2. filled row by row between its leftmost and rightmost pixel (the gaps between arms, torso and legs,
   where a looser garment goes), then dilated by 1/50 of the image's long side;
3. minus what is kept: face, hair, hat, sunglasses, bag, scarf, shoes, the garments of the other half
   of the body (upper keeps skirts, trousers and legs; lower keeps tops and arms), and the hands and
   feet: the far end of each arm (leg) piece along its long axis, away from the face, over a hand's
   (foot's) length (9 % / 5 % of the person's height; a piece shorter than that, a hand below a long
   sleeve, is kept whole);
4. plus the category's garment pixels themselves, then minus the kept parts again.
Steps 2-3 run at most 256 pixels on the long side (nearest-resized), the kept parts at full size.
Parse maps are (B,H,W) class ids; masks come out (B,1,H,W) float {0, 1}.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..masks import dilate
from ..vocab import GARMENT_CATEGORIES, parse_category

MASK_TASKS = ("tryon", "tryoff")
TRYOFF_GARMENTS = {"upper": ("Upper-clothes", "Dress"), "lower": ("Skirt", "Pants"),
                   "dress": ("Dress", "Upper-clothes", "Skirt")}
ARMS, LEGS = ("Left-arm", "Right-arm"), ("Left-leg", "Right-leg")
TRYON_GARMENTS = {"upper": ("Upper-clothes", "Dress"), "lower": ("Skirt", "Pants", "Dress", "Belt"),
                  "dress": ("Upper-clothes", "Dress", "Skirt", "Pants", "Belt")}
TRYON_LIMBS = {"upper": ARMS, "lower": LEGS, "dress": ARMS + LEGS}
ALWAYS_KEPT = ("Face", "Hair", "Hat", "Sunglasses", "Bag", "Scarf", "Left-shoe", "Right-shoe")
KEPT = {"upper": ("Skirt", "Pants") + LEGS, "lower": ("Upper-clothes",) + ARMS, "dress": ()}
EXTREMITY = {"Left-arm": 0.09, "Right-arm": 0.09, "Left-leg": 0.05, "Right-leg": 0.05}  # of the person's height
WORK_SIDE = 256


def _any_of(parse: torch.Tensor, labels: dict, names) -> torch.Tensor:
    """Where the parse map (…,H,W) holds one of the named labels (bool)."""
    ids = torch.tensor([labels[n] for n in names], device=parse.device, dtype=parse.dtype)
    return torch.isin(parse, ids)


def _dilate_bool(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """Binary dilation of an (H,W) bool mask with a kernel×kernel square (`twgtm.masks.dilate`, odd kernel)."""
    return dilate(mask[None, None].float(), kernel)[0, 0] > 0  # (H,W)


def _row_span(mask: torch.Tensor) -> torch.Tensor:
    """Each row filled between its leftmost and rightmost True (H,W) bool."""
    from_left = mask.int().cummax(dim=-1).values > 0
    from_right = mask.flip(-1).int().cummax(dim=-1).values.flip(-1) > 0
    return from_left & from_right


def _person_height(parse: torch.Tensor, background: int) -> int:
    """Rows spanned by the non-background pixels of one parse map (H,W)."""
    rows = (parse != background).any(dim=1).nonzero()
    return int(rows[-1] - rows[0] + 1) if len(rows) else 0


def _anchor(parse: torch.Tensor, labels: dict) -> torch.Tensor:
    """(y, x) the limbs are measured from: the face's centre, else the top centre of the person."""
    face = (parse == labels["Face"]).nonzero().float()
    if len(face):
        return face.mean(dim=0)
    person = (parse != labels["Background"]).nonzero().float()
    return torch.stack([person[:, 0].min(), person[:, 1].mean()]) if len(person) else torch.zeros(2)


def _piece(left: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """The 8-connected piece of `left` (H,W) bool that holds pixel `start`."""
    reached = torch.zeros_like(left)
    reached[start[0], start[1]] = True
    frontier = reached
    while frontier.any():
        frontier = _dilate_bool(reached, 3) & left & ~reached
        reached |= frontier
    return reached


def far_ends(limb: torch.Tensor, anchor: torch.Tensor, length: float) -> torch.Tensor:
    """The end of each piece of `limb` (H,W) bool away from `anchor`, over `length` pixels along the piece's long axis.

    The axis is the principal direction of the piece's pixels, pointing from its end nearer the anchor
    to the other; a piece shorter than `length` along it (a hand below a sleeve) is returned whole.
    """
    out = torch.zeros_like(limb)
    left = limb.clone()
    while left.any():
        spots = left.nonzero()
        piece = _piece(left, spots[0])
        coords = piece.nonzero().float()  # (N,2) y, x
        centred = coords - coords.mean(dim=0)
        axis = torch.linalg.eigh(centred.T @ centred)[1][:, -1] if len(coords) > 1 else torch.tensor([1.0, 0.0])
        along = centred @ axis  # (N,)
        near = ((coords - anchor) ** 2).sum(dim=1).argmin()
        if along[near] > along.mean():  # orient: low values at the end nearer the anchor
            along = -along
        far = along >= along.max() - length
        out[coords[far, 0].long(), coords[far, 1].long()] = True
        left &= ~piece
    return out


def tryoff_garment_mask(parse: torch.Tensor, labels: dict, category: str = "upper") -> torch.Tensor:
    """The garment to take off (B,1,H,W): the category's garment labels (TryOffAnyone's Tops / Bottoms)."""
    category = parse_category(category)
    return _any_of(parse, labels, TRYOFF_GARMENTS[category])[:, None].float()


def _region(parse: torch.Tensor, labels: dict, category: str) -> torch.Tensor:
    """Steps 1-2 and the hands/feet of one parse map (H,W), at its own size: (region, extremities) bool."""
    region = _any_of(parse, labels, TRYON_GARMENTS[category] + TRYON_LIMBS[category])
    region = _dilate_bool(_row_span(region), max(3, max(parse.shape) // 50 | 1))
    height = _person_height(parse, labels["Background"])
    anchor = _anchor(parse, labels)
    ends = torch.zeros_like(region)
    for limb in TRYON_LIMBS[category]:
        ends |= far_ends(parse == labels[limb], anchor, EXTREMITY[limb] * height)
    return region, ends


def tryon_agnostic_mask(parse: torch.Tensor, labels: dict, category: str = "upper") -> torch.Tensor:
    """The region a new garment of `category` is drawn in (B,1,H,W), from parse maps (B,H,W); see the module docstring."""
    category = parse_category(category)
    if category not in GARMENT_CATEGORIES:
        raise ConfigError(f"unknown garment category {category!r}; choose one of {GARMENT_CATEGORIES}")
    out = []
    for item in parse:
        h, w = item.shape
        scale = max(1, -(-max(h, w) // WORK_SIDE))
        small = item[::scale, ::scale]  # nearest
        region, ends = _region(small, labels, category)
        up = lambda m: F.interpolate(m[None, None].float(), size=(h, w), mode="nearest")[0, 0] > 0  # noqa: E731
        kept = _any_of(item, labels, ALWAYS_KEPT + KEPT[category]) | (up(ends) & _any_of(item, labels, TRYON_LIMBS[category]))
        garment = _any_of(item, labels, TRYON_GARMENTS[category])
        out.append((up(region) | garment) & ~kept)
    return torch.stack(out)[:, None].float()  # (B,1,H,W)
