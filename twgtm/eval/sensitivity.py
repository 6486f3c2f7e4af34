"""Garment sensitivity: does a try-on wear the colour of the garment it is given, and does a try-off
take off the colour the person wears?

One person is dressed in K solid-colour garments, each cut in the silhouette of that person's own
flat garment (its cloth-mask pixels set to the colour, the white page kept). The output's mean
colour y_k over the garment region (where the garment is visible on the person) is regressed on the
reference colour x_k, all K colours and the three channels pooled, each channel centred on its
mean over the K colours:

    slope = Σ_k Σ_c (x_kc − x̄_c)(y_kc − ȳ_c) / Σ_k Σ_c (x_kc − x̄_c)²

0: the reference is ignored (the same output for every colour); 1: the colour is worn exactly. The
toy persons' lighting and folds scale a garment's colour by about 0.8–1.1, so a perfect try-on
lands near 1, not on it. A colour is *recognised* when y_k is nearer (Euclidean RGB) to x_k than
to every other reference colour.

The try-off probe turns it round: the person's visible garment (garment region) is painted in each
solid colour, and the output's mean colour over the true flat garment's cloth mask is regressed on it.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..errors import InputError
from .region_scores import PIXEL_SCALE, region_mean_colour

# The solid colours of the probe, 0–255 RGB: primaries, a secondary, and the two ends of grey.
SOLID_COLOURS = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 210),
    "yellow": (235, 210, 40), "white": (235, 235, 235), "black": (25, 25, 25),
}


def colour_table(names: list[str] | None = None) -> tuple[list[str], torch.Tensor]:
    """(names, colours (K,3) in 0–255) of the named probe colours (all of SOLID_COLOURS by default)."""
    names = list(SOLID_COLOURS) if names is None else list(names)
    unknown = [name for name in names if name not in SOLID_COLOURS]
    if unknown or len(names) < 2:
        raise InputError(f"sensitivity colours must be at least two of {sorted(SOLID_COLOURS)}, got {names}")
    return names, torch.tensor([SOLID_COLOURS[name] for name in names], dtype=torch.float32)


def solid_garments(garment: torch.Tensor, cloth_mask: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """K copies (K,3,H,W) of a flat garment (1,3,H,W) with its cloth-mask pixels set to each colour (K,3, 0–255)."""
    if garment.ndim != 4 or garment.shape[0] != 1 or cloth_mask.shape != (1, 1, *garment.shape[-2:]):
        raise InputError(f"solid_garments takes one garment (1,3,H,W) and its mask (1,1,H,W), got "
                         f"{tuple(garment.shape)} and {tuple(cloth_mask.shape)}")
    region = (cloth_mask >= 0.5).float()  # (1,1,H,W)
    fill = (colours.float() / PIXEL_SCALE - 1.0).view(-1, 3, 1, 1)  # (K,3,1,1) in [-1, 1]
    return garment * (1.0 - region) + fill * region  # (K,3,H,W)


def colour_slope(references: torch.Tensor, outputs: torch.Tensor) -> float:
    """The pooled per-channel-centred regression slope of output colours (K,3) on reference colours (K,3)."""
    if references.shape != outputs.shape or references.ndim != 2 or references.shape[1] != 3:
        raise InputError(f"references and outputs must both be K×3, got {tuple(references.shape)} "
                         f"and {tuple(outputs.shape)}")
    x = references.double() - references.double().mean(dim=0)
    y = outputs.double() - outputs.double().mean(dim=0)
    spread = float((x * x).sum())
    if spread == 0.0:
        raise InputError("the reference colours are all the same: the slope needs at least two different colours")
    return float((x * y).sum()) / spread


def recognised(references: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """(K,) bool: output colour k is nearer to reference k than to any other reference (ties count as not)."""
    distance = torch.cdist(outputs.double()[None], references.double()[None])[0]  # (K,K): output k, reference j
    own = distance.diagonal()
    others = distance + torch.diag(torch.full_like(own, float("inf")))
    return own < others.min(dim=1).values


def solid_persons(person: torch.Tensor, garment_region: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """K copies (K,3,H,W) of a person (1,3,H,W) whose visible garment (garment_region) is each solid colour."""
    region = (garment_region >= 0.5).float()  # (1,1,H,W)
    fill = (colours.float() / PIXEL_SCALE - 1.0).view(-1, 3, 1, 1)
    return person * (1.0 - region) + fill * region


def probe_person(dress: Callable[[torch.Tensor], torch.Tensor], garment: torch.Tensor, cloth_mask: torch.Tensor,
                 garment_region: torch.Tensor, colours: torch.Tensor) -> dict:
    """Dress one person in every solid colour and score it.

    `dress(garments (K,3,H,W)) -> dressed persons (K,3,H,W)` runs the try-on (or a baseline);
    garment (1,3,H,W) and cloth_mask (1,1,H,W) give the silhouette, garment_region (1,1,H,W) where
    the garment shows on the person. Returns slope, the recognised flags and the mean colours (K,3).
    """
    garments = solid_garments(garment, cloth_mask, colours)  # (K,3,H,W)
    dressed = dress(garments)
    if dressed.shape[0] != colours.shape[0]:
        raise InputError(f"the try-on returned {dressed.shape[0]} images for {colours.shape[0]} garments")
    region = garment_region.expand(colours.shape[0], -1, -1, -1)
    means = region_mean_colour(dressed.float().cpu(), region.cpu())  # (K,3)
    if torch.isnan(means).any():
        raise InputError("the garment region is empty: the probe needs a person whose garment is visible")
    return {"slope": colour_slope(colours, means), "recognised": recognised(colours, means), "mean_colours": means}


def probe_tryoff(undress: Callable[[torch.Tensor], torch.Tensor], person: torch.Tensor, garment_region: torch.Tensor,
                 cloth_mask: torch.Tensor, colours: torch.Tensor) -> dict:
    """Dress one person's visible garment in every solid colour, take it off, and score the flat garments.

    `undress(persons (K,3,H,W)) -> flat garments (K,3,H,W)` runs the try-off (or a baseline); person
    (1,3,H,W), garment_region (1,1,H,W) where its garment shows, cloth_mask (1,1,H,W) where the flat
    garment lies. Returns slope, the recognised flags and the mean colours (K,3) over the cloth mask.
    """
    persons = solid_persons(person, garment_region, colours)  # (K,3,H,W)
    garments = undress(persons)
    if garments.shape[0] != colours.shape[0]:
        raise InputError(f"the try-off returned {garments.shape[0]} images for {colours.shape[0]} persons")
    means = region_mean_colour(garments.float().cpu(), cloth_mask.expand(colours.shape[0], -1, -1, -1).cpu())
    if torch.isnan(means).any():
        raise InputError("the cloth mask is empty: the probe needs the flat garment's mask")
    return {"slope": colour_slope(colours, means), "recognised": recognised(colours, means), "mean_colours": means}
