"""From data set samples to UNet inputs: canvases, their latents (cached once per stage), mixed batches.

Every micro-batch mixes try-on and try-off items. The data order and every random draw of a
step (task split, condition dropout, timesteps, noise) depend only on the seed and the step, so a
resumed run continues exactly where the interrupted one was, with no data-loader state to save
(the seeds: training/seeding.py).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, default_collate
from tqdm.auto import tqdm

from twgtm import canvas as cv
from twgtm.data import build_dataset
from twgtm.errors import DataError, TWGTMError
from twgtm.masks import square_mask
from twgtm.model.network import TWGTM
from twgtm.pixels import from_uint8, to_uint8

from .config import DataSection

log = logging.getLogger("twgtm")

LATENT_KEYS = ("vton_x0", "vton_masked", "vtoff_x0", "vtoff_masked")
MASK_KEYS = ("vton_mask", "vtoff_mask")
PIXEL_KEYS = ("person", "garment")


def build_datasets(data: DataSection) -> tuple[Dataset, Dataset | None]:
    """The training set and (if its split exists) the validation set, at `data.size`."""
    kwargs = {"size": tuple(data.size), "categories": data.categories}
    extra = {"garment_region": True} if data.solid_colour_fraction > 0 else {}  # the recolouring reads it
    train = build_dataset(data.dataset, data.root, split="train", **kwargs, **extra)
    if len(train) == 0:
        raise DataError(f"the training split of {data.root} holds no samples; check its train pairs file")
    try:
        val = build_dataset(data.dataset, data.root, split=data.validation_split, **kwargs)
    except TWGTMError as err:  # a data set without a test split still trains, without validation images
        log.warning("no validation images: %s", err)
        val = None
    return train, val


class EpochOrder:
    """Sample `position` -> data set index: a fresh seeded permutation each epoch."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed = int(n), int(seed)
        self._epoch, self._perm = -1, None

    def index(self, position: int) -> int:
        """The data set index at sample `position` of the endless order."""
        epoch, offset = divmod(int(position), self.n)
        if epoch != self._epoch:
            self._perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))
            self._epoch = epoch
        return int(self._perm[offset])

    def batch(self, micro: int, batch_size: int, world: int = 1, rank: int = 0) -> list[int]:
        """The indices of micro-batch `micro` for process `rank` of `world` (disjoint across ranks)."""
        start = (int(micro) * world + rank) * batch_size
        return [self.index(p) for p in range(start, start + batch_size)]


class OrderedBatches:
    """Endless micro-batch index lists from micro-batch `start` on (a DataLoader `batch_sampler`)."""

    def __init__(self, order: EpochOrder, start: int, batch_size: int, world: int = 1, rank: int = 0):
        self.order, self.start, self.batch_size, self.world, self.rank = order, int(start), batch_size, world, rank

    def __iter__(self):
        micro = self.start
        while True:
            yield self.order.batch(micro, self.batch_size, self.world, self.rank)
            micro += 1


def pixel_loader(dataset: Dataset, order: EpochOrder, start: int, batch_size: int, world: int = 1, rank: int = 0,
                 num_workers: int = 0):
    """An endless iterator of collated pixel batches in the order of `order`, read by `num_workers` processes."""
    return iter(DataLoader(dataset, batch_sampler=OrderedBatches(order, start, batch_size, world, rank),
                           num_workers=num_workers, collate_fn=default_collate))


def pixel_batch(dataset: Dataset, indices: list[int]) -> dict:
    """Collate the samples `indices` of `dataset` into one batch dict."""
    return default_collate([dataset[i] for i in indices])


def encode_canvases(model: TWGTM, batch: dict, stage: int, square_kernel: int = 9,
                    tryoff: torch.Tensor | None = None) -> dict:
    """Both tasks' canvases of a pixel batch -> latents and latent-size masks (no gradients).

    Try-on `[person | garment]` masked by the person's inpainting mask; try-off `[garment | person]`
    masked by the true flat-garment mask (stage 1) or its square box (stage 2).
    `tryoff` (B,) bool, when the step's task split is already drawn: only each item's own task is
    encoded (half the VAE work) and stored under both tasks' keys, which `assemble` then picks from.
    """
    device, dtype = model.vae.device, model.vae.dtype
    person, garment = batch["person"].to(device, dtype), batch["garment"].to(device, dtype)
    garment_mask = batch["garment_mask"].to(device, dtype)
    axis = model.config.concat_axis
    vton = cv.tryon_canvas(person, garment, batch["inpaint_mask"].to(device, dtype), axis)
    off_mask = garment_mask if stage < 2 else square_mask(garment_mask, square_kernel)
    vtoff = cv.tryoff_canvas(person, off_mask, axis, garment=garment)
    if tryoff is None:
        canvases = [vton.image, vton.masked, vtoff.image, vtoff.masked]
    else:
        chosen = tryoff.to(device).view(-1, 1, 1, 1)
        canvases = [torch.where(chosen, vtoff.image, vton.image), torch.where(chosen, vtoff.masked, vton.masked)]
    with torch.no_grad():
        latents = model.encode(torch.cat(canvases)).float()
    parts = latents.chunk(len(canvases))
    out = dict(zip(LATENT_KEYS, parts if tryoff is None else (parts[0], parts[1], parts[0], parts[1])))  # (B,4,h,2w)
    size = latents.shape[-2:]
    out["vton_mask"] = cv.latent_mask(vton.mask.float(), size)  # (B,1,h,2w)
    out["vtoff_mask"] = cv.latent_mask(vtoff.mask.float(), size)
    out["person"], out["garment"] = person.float(), garment.float()  # SAM/SRM inputs (B,3,H,W)
    out["garment_mask"] = garment_mask.float()  # (B,1,H,W) target of the auxiliary mask loss
    out["prompt"] = list(batch["prompt"])
    return out


class LatentCache:
    """Every training sample's encoded canvases for one stage, kept in memory (latents in fp16, pixels uint8)."""

    def __init__(self, model: TWGTM, dataset: Dataset, stage: int, square_kernel: int, batch_size: int = 32,
                 num_workers: int = 0, store_device=None, show_progress: bool = True):
        self.store_device = torch.device(store_device or "cpu")
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                            collate_fn=default_collate)
        parts: dict[str, list] = {}
        for batch in tqdm(loader, desc=f"encoding stage-{stage} latents", disable=not show_progress, leave=False):
            encoded = encode_canvases(model, batch, stage, square_kernel)
            for key, value in encoded.items():
                parts.setdefault(key, []).append(self._pack(key, value))
        self.data = {k: (sum(v, []) if k == "prompt" else torch.cat(v)) for k, v in parts.items()}
        self.n = len(self.data["prompt"])
        bytes_ = sum(t.numel() * t.element_size() for k, t in self.data.items() if k != "prompt")
        log.info("cached stage-%d latents of %d samples (%.0f MB on %s)", stage, self.n, bytes_ / 2**20,
                 self.store_device)

    def _pack(self, key: str, value):
        if key == "prompt":
            return value
        if key in PIXEL_KEYS:
            return to_uint8(value).to(self.store_device)
        if key in MASK_KEYS or key == "garment_mask":
            return (value > 0.5).to(self.store_device)
        return value.to(self.store_device, torch.float16)

    def batch(self, indices: list[int], device, generator: torch.Generator | None = None,
              tryoff: torch.Tensor | None = None) -> dict:
        """The cached entries of `indices` on `device` as float tensors (both tasks are cached)."""
        idx = torch.as_tensor(indices, device=self.store_device)
        out = {"prompt": [self.data["prompt"][i] for i in indices]}
        for key, value in self.data.items():
            if key == "prompt":
                continue
            item = value.index_select(0, idx).to(device)
            out[key] = from_uint8(item) if key in PIXEL_KEYS else item.float()
        return out


def solid_colours(batch: dict, fraction: float, generator: torch.Generator) -> dict:
    """`batch` with a share `fraction` of its items dressed in one random solid colour each.

    The colour (uniform in [-0.9, 0.9] per channel) replaces the worn garment where it is visible
    on the person (`garment_region`) and the flat garment's cloth pixels (`garment_mask`), so the
    try-on target wears the reference's colour and the try-off target is the person's garment's.
    """
    person, garment = batch["person"], batch["garment"]
    b = person.shape[0]
    chosen = torch.rand(b, generator=generator) < fraction  # (B,) drawn on the CPU: the same on every device
    colours = (torch.rand(b, 3, generator=generator) * 1.8 - 0.9).view(b, 3, 1, 1).to(person.device, person.dtype)
    pick = chosen.view(b, 1, 1, 1).to(person.device)
    region = batch["garment_region"] * pick  # (B,1,H,W)
    cloth = (batch["garment_mask"] > 0.5).to(person.dtype) * pick
    out = dict(batch)
    out["person"] = person * (1 - region) + colours * region
    out["garment"] = garment * (1 - cloth) + colours * cloth
    return out


class OnTheFly:
    """The same interface as LatentCache, encoding each batch when it is asked for (big data sets).

    `solid_colour_fraction` > 0 repaints that share of the items first (`solid_colours`); the
    colours are drawn from the `generator` given to `batch`.
    """

    def __init__(self, model: TWGTM, dataset: Dataset, stage: int, square_kernel: int,
                 solid_colour_fraction: float = 0.0):
        self.model, self.dataset, self.stage, self.square_kernel = model, dataset, stage, square_kernel
        self.solid_colour_fraction = float(solid_colour_fraction)
        self.n = len(dataset)

    def batch(self, indices: list[int], device, generator: torch.Generator | None = None,
              tryoff: torch.Tensor | None = None) -> dict:
        """The encoded canvases of `indices` on `device` (only each item's task when `tryoff` is given)."""
        pixels = pixel_batch(self.dataset, indices)
        if self.solid_colour_fraction > 0:
            if generator is None:
                raise TWGTMError("OnTheFly.batch needs a generator when solid_colour_fraction > 0")
            pixels = solid_colours(pixels, self.solid_colour_fraction, generator)
        out = encode_canvases(self.model, pixels, self.stage, self.square_kernel, tryoff)
        return {k: v.to(device) if torch.is_tensor(v) else v for k, v in out.items()}


class PixelCache(OnTheFly):
    """Every training sample's pixels kept on `store_device` (images uint8, masks bool), each batch
    recoloured and encoded there: no file reads and no host-to-device copies per step (the GPU path
    for the solid-colour curriculum, whose latents change every step)."""

    PACKED = ("person", "garment", "garment_mask", "inpaint_mask", "garment_region")

    def __init__(self, model: TWGTM, dataset: Dataset, stage: int, square_kernel: int,
                 solid_colour_fraction: float = 0.0, store_device=None, num_workers: int = 0,
                 show_progress: bool = True):
        super().__init__(model, dataset, stage, square_kernel, solid_colour_fraction)
        self.store_device = torch.device(store_device or "cpu")
        loader = DataLoader(dataset, batch_size=64, shuffle=False, num_workers=num_workers, collate_fn=default_collate)
        parts: dict[str, list] = {"prompt": []}
        for batch in tqdm(loader, desc="reading the training pixels", disable=not show_progress, leave=False):
            parts["prompt"] += list(batch["prompt"])
            for key in self.PACKED:
                if key in batch:
                    value = batch[key]
                    packed = to_uint8(value) if key in PIXEL_KEYS else value > 0.5
                    parts.setdefault(key, []).append(packed.to(self.store_device))
        self.data = {k: (v if k == "prompt" else torch.cat(v)) for k, v in parts.items()}
        bytes_ = sum(t.numel() * t.element_size() for k, t in self.data.items() if k != "prompt")
        log.info("kept the pixels of %d samples (%.0f MB on %s)", self.n, bytes_ / 2**20, self.store_device)

    def batch(self, indices: list[int], device, generator: torch.Generator | None = None,
              tryoff: torch.Tensor | None = None) -> dict:
        """The encoded canvases of `indices` on `device`, from the kept pixels (see `OnTheFly.batch`)."""
        idx = torch.as_tensor(indices, device=self.store_device)
        pixels = {"prompt": [self.data["prompt"][i] for i in indices]}
        for key, value in self.data.items():
            if key != "prompt":
                item = value.index_select(0, idx).to(device)
                pixels[key] = from_uint8(item) if key in PIXEL_KEYS else item.float()
        if self.solid_colour_fraction > 0:
            if generator is None:
                raise TWGTMError("PixelCache.batch needs a generator when solid_colour_fraction > 0")
            pixels = solid_colours(pixels, self.solid_colour_fraction, generator)
        return encode_canvases(self.model, pixels, self.stage, self.square_kernel, tryoff)


@dataclass
class StepInputs:
    """One micro-batch ready for `TWGTM.forward`, plus the loss targets."""

    unet_input: torch.Tensor  # (B,9,h,2w)
    timesteps: torch.Tensor  # (B,)
    reference: torch.Tensor  # (B,3,H,W): the garment for try-on items, the person for try-off items
    prompts: list
    drop: torch.Tensor  # (B,) bool, condition dropped
    noise: torch.Tensor  # (B,4,h,2w) the noise added
    garment_mask: torch.Tensor  # (B,1,H,W) the target of the auxiliary mask loss
    tryoff: torch.Tensor  # (B,) bool
    target: torch.Tensor  # (B,4,h,2w) the UNet's target: the noise, or v for a v-prediction scheduler
    mask: torch.Tensor  # (B,1,h,2w) the latent mask of each item's canvas (its target half)


def draw_timesteps(n: int, total: int, sampling: str, generator: torch.Generator) -> torch.Tensor:
    """`n` training timesteps in [0, total): "uniform", or "high" (t = total·(1-u²), denser near pure noise)."""
    if sampling == "uniform":
        return torch.randint(0, total, (n,), generator=generator)
    if sampling == "high":
        u = torch.rand(n, generator=generator)
        return (total * (1 - u * u)).long().clamp(0, total - 1)
    raise TWGTMError(f"unknown timestep sampling {sampling!r}; choose uniform or high")


def draw_tasks(b: int, generator: torch.Generator, tryoff_fraction: float) -> torch.Tensor:
    """Which of `b` items are try-off (B,) bool: floor(b·fraction + u) of them, at random places."""
    n_off = math.floor(b * tryoff_fraction + torch.rand((), generator=generator).item())
    tryoff = torch.zeros(b, dtype=torch.bool)
    tryoff[torch.randperm(b, generator=generator)[:n_off]] = True
    return tryoff


def assemble(entries: dict, scheduler, generator: torch.Generator, tryoff_fraction: float,
             cfg_dropout: float, axis: str, timestep_sampling: str = "uniform",
             tryoff: torch.Tensor | None = None) -> StepInputs:
    """Mix try-on and try-off items, drop conditions, noise the canvases: the inputs of one step.

    `tryoff` (B,) bool: the task split `draw_tasks` already drew from this `generator` (so that only
    each item's task was encoded); else it is drawn here first. The target follows
    `scheduler.config.prediction_type` (epsilon: the noise; v_prediction: v).
    """
    x0 = entries["vton_x0"]
    b, device = x0.shape[0], x0.device
    if tryoff is None:
        tryoff = draw_tasks(b, generator, tryoff_fraction)
    drop = torch.rand(b, generator=generator) < cfg_dropout
    timesteps = draw_timesteps(b, scheduler.config.num_train_timesteps, timestep_sampling, generator)
    noise = torch.randn(x0.shape, generator=generator).to(device)
    tryoff, drop, timesteps = tryoff.to(device), drop.to(device), timesteps.to(device)

    def pick(on_key: str, off_key: str) -> torch.Tensor:
        return torch.where(tryoff.view(-1, 1, 1, 1), entries[off_key], entries[on_key])

    x0, masked, mask = pick("vton_x0", "vtoff_x0"), pick("vton_masked", "vtoff_masked"), pick("vton_mask", "vtoff_mask")
    reference = pick("garment", "person")
    masked = torch.where(drop.view(-1, 1, 1, 1), cv.null_reference(masked, axis), masked)
    noisy = scheduler.add_noise(x0, noise, timesteps)
    target = scheduler.get_velocity(x0, noise, timesteps) if scheduler.config.prediction_type == "v_prediction" \
        else noise
    return StepInputs(cv.unet_input(noisy, mask, masked), timesteps, reference, entries["prompt"], drop, noise,
                      entries["garment_mask"], tryoff, target, mask)
