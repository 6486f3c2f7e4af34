"""The TWGTM sampler: try-on, try-off and the round trip, for any image size and any batch size.

Every call: letterbox the person to the working size (a multiple of `config.pixel_multiple`),
build the canvas, run SAM/SRM once and install F_SRM once (K'/V' cached for all steps), denoise
with a diffusers scheduler and classifier-free guidance (both branches in one batch), decode the
whole canvas and keep its target half, crop and resize it back to the input size.

Speed and memory switches (`TWGTMPipeline(..., **options)` or `configure(**options)`; the
benchmark `python -m twgtm.bench` measures each): attention backend, CFG branches batched or
sequential, K'/V' cache, encoder-output cache across calls, VAE slicing / tiling, channels-last
memory format, `torch.compile` of the UNet. The dtype is the constructor's `dtype`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import torch

from .. import canvas as cv
from .encoder_cache import shared_cache
from ..errors import ConfigError, InputError, SamplingCancelled
from ..masks import blur_mask, category_box, mask_to_bbox
from ..model.network import TWGTM, ReferenceFeatures
from ..model.prompts import CATEGORY_PROMPTS
from .letterbox import Letterbox, fit_into, letterbox, plan_letterbox, resize, unletterbox
from .schedulers import MAX_STEPS, make_scheduler

log = logging.getLogger("twgtm")

# Default working box (height, width) of each size preset: big inputs are processed at the size
# the model was trained at. A config may set `extra["working_size"]`; None = the input's own size.
DEFAULT_WORKING_SIZE = {"demo": (128, 96), "sd15": (512, 384)}
MASK_MODES = ("full", "bbox")
Callback = Callable[[int, int, torch.Tensor], object]


@dataclass
class TryOnResult:
    """Dressed persons and the try-on masks used."""

    images: torch.Tensor  # (B,3,H,W) in [-1,1], the person's size
    masks: torch.Tensor  # (B,1,H,W) 1 = generated region


@dataclass
class TryOffResult:
    """Flat garments, the target-half masks used and the SRM-predicted garment mask."""

    images: torch.Tensor  # (B,3,H,W) in [-1,1], the person's size
    masks: torch.Tensor  # (B,1,H,W) the mask the garment was generated in (full, bbox or given)
    garment_masks: torch.Tensor | None  # (B,1,H,W) sigmoid(TFQ_0), None for profiles without an SRM


@dataclass
class RoundTripResult:
    """A's garment taken off (`garments`) and B dressed in it (`dressed`)."""

    garments: TryOffResult
    dressed: TryOnResult

    @property
    def images(self) -> torch.Tensor:
        """The dressed persons (B,3,H,W)."""
        return self.dressed.images


@dataclass
class _Run:
    """Sampler settings shared by every task."""

    seeds: list[int]
    steps: int
    guidance: float
    scheduler: str
    callback: Callback | None
    cancel: object
    cfg_batched: bool


# Defaults of the speed options (see TWGTMPipeline.configure).
SPEED_DEFAULTS = dict(attention="sdpa", cfg_batched=True, kv_cache=True, skip_null_rows=True, encoder_cache=True,
                      vae_slicing=False, vae_tiling=False, channels_last=False, compile_unet=False)


def _batch(x: torch.Tensor, b: int, name: str, channels: int) -> torch.Tensor:
    """Check (B,C,H,W) and broadcast a batch of 1 to `b`."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{name} must be a B×{channels}×H×W tensor, got {shape}")
    if x.shape[0] == b:
        return x
    if x.shape[0] == 1:
        return x.expand(b, -1, -1, -1)
    raise InputError(f"{name} has batch {x.shape[0]} but the person batch is {b}; give 1 or {b} items")


def _check_person(person) -> int:
    """The batch size of a person tensor (B,3,H,W), or a clear error."""
    if not isinstance(person, torch.Tensor) or person.ndim != 4 or person.shape[1] != 3 or person.shape[0] < 1:
        raise InputError(f"person must be a B×3×H×W tensor in [-1,1], got {getattr(person, 'shape', type(person).__name__)}")
    return person.shape[0]


def _per_item(value, b: int, name: str) -> list:
    """One value for every item, or a list of exactly `b` values."""
    if isinstance(value, (list, tuple)):
        if len(value) != b:
            raise InputError(f"{name} has {len(value)} entries for a batch of {b}; give one or {b}")
        return list(value)
    return [value] * b


def _seeds(seed, b: int) -> list[int]:
    """An int gives seed, seed+1, ...; a list gives one seed per item."""
    if isinstance(seed, (list, tuple)):
        return [int(s) for s in _per_item(seed, b, "seed")]
    return [int(seed) + i for i in range(b)]


def _cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel() if callable(cancel) else cancel)


class TWGTMPipeline:
    """Try-on, try-off and round trip with one TWGTM model (or a CatVTON / TryOffAnyone profile)."""

    def __init__(self, model: TWGTM, device=None, dtype: torch.dtype | None = None, **options):
        if device is not None or dtype is not None:
            model = model.to(device=device, dtype=dtype)
        first = next(model.parameters())
        self.model = model.eval()
        self.device, self.dtype = first.device, first.dtype
        self.config = model.config
        self.use_encoders = bool(self.config.extra.get("reference_encoders", True))
        self.tryoff_target = self.config.extra.get("tryoff_target", "blank")
        model.set_extended_attention(True)  # inference runs the SRM branch (stage-2 behaviour)
        unet = model.unet
        self.options: dict = dict(  # the model's current state; only options given here are applied
            SPEED_DEFAULTS, attention=model.attention_backend, kv_cache=model.context.cache_enabled,
            skip_null_rows=model.context.skip_null_rows, vae_slicing=bool(getattr(model.vae, "use_slicing", False)),
            vae_tiling=bool(getattr(model.vae, "use_tiling", False)),
            channels_last=unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
            and not unet.conv_in.weight.is_contiguous(),
            compile_unet=getattr(unet, "_compiled_call_impl", None) is not None,
        )
        self.configure(**options)

    # ----- speed and memory options ------------------------------------------------------------------
    def configure(self, **options) -> "TWGTMPipeline":
        """Set speed / memory options; each is independent and none changes the result beyond rounding.

        attention: "sdpa" (fused scaled_dot_product_attention) or "classic" (explicit softmax).
        cfg_batched: run the CFG branches as one UNet batch (default) or one after the other
            (half the activation memory); a call's own `cfg_batched` overrides it.
        kv_cache: compute K'/V' once per call (default) or at every step.
        skip_null_rows: skip the extended branch for the unconditional CFG rows (default on).
        encoder_cache: reuse SAM/SRM outputs across calls with the same reference image, prompt
            and mode (an LRU on the model, see twgtm.sampling.encoder_cache); an int sets its size.
        vae_slicing / vae_tiling: decode / encode one item / one tile at a time (big canvases).
        channels_last: UNet and VAE in channels-last memory format (faster convolutions on GPUs).
        compile_unet: `torch.compile` the UNet in place (first call compiles; off by default).
        """
        unknown = sorted(set(options) - set(SPEED_DEFAULTS))
        if unknown:
            raise ConfigError(f"unknown pipeline option(s) {unknown}; expected some of {sorted(SPEED_DEFAULTS)}")
        model = self.model
        for name, value in options.items():
            if name == "attention":
                model.set_attention_backend(value)
            elif name == "kv_cache":
                model.context.cache_enabled = bool(value)
            elif name == "skip_null_rows":
                model.context.skip_null_rows = bool(value)
            elif name == "encoder_cache":
                cache = shared_cache(model)
                if not isinstance(value, bool):
                    cache.maxsize = int(value)
                    value = int(value) > 0
                elif value and cache.maxsize <= 0:
                    cache.maxsize = 4
            elif name in ("vae_slicing", "vae_tiling"):
                part = name.removeprefix("vae_")
                getattr(model.vae, f"{'enable' if value else 'disable'}_{part}")()
            elif name == "channels_last":
                fmt = torch.channels_last if value else torch.contiguous_format
                model.unet.to(memory_format=fmt)
                model.vae.to(memory_format=fmt)
            elif name == "compile_unet":
                if value and getattr(model.unet, "_compiled_call_impl", None) is None:
                    model.unet.compile()
                elif not value:
                    model.unet._compiled_call_impl = None
            self.options[name] = value if isinstance(value, (bool, int, str)) else bool(value)
        return self

    @property
    def encoder_cache(self):
        """The model's encoder-output cache (used when the `encoder_cache` option is on)."""
        return shared_cache(self.model)

    # ----- sizes -----------------------------------------------------------------------------------
    def working_size(self, size=None) -> tuple[int, int] | None:
        """The working box (H,W) of the person half: `size`, else the model's default, else None (input size)."""
        if size is None:
            size = self.config.extra.get("working_size", DEFAULT_WORKING_SIZE.get(self.config.name))
        if size is None:
            return None
        if isinstance(size, int):
            size = (size, size)
        if len(size) != 2 or min(int(s) for s in size) < 1:
            raise InputError(f"size must be (height, width) with positive sides, got {size!r}")
        return int(size[0]), int(size[1])

    def _plan(self, person: torch.Tensor, size) -> Letterbox:
        return plan_letterbox(tuple(person.shape[-2:]), self.working_size(size), self.config.pixel_multiple)

    # ----- reference encoders ----------------------------------------------------------------------
    def encode_reference(self, image: torch.Tensor, prompts: list[str], mode: str = "") -> ReferenceFeatures:
        """SAM + SRM on the reference half (B,3,H,W), once per call; null tokens for profiles without them.

        With the `encoder_cache` option, a call with the same image, prompts and `mode` (the
        task and its mask mode) on unchanged weights returns the stored features.
        """
        model = self.model
        b = image.shape[0]
        if not self.use_encoders:
            tokens = torch.zeros(b, 1 + self.config.num_query_tokens, self.config.cross_attention_dim,
                                 device=self.device, dtype=self.dtype)
            return ReferenceFeatures(tokens, None, None, [])
        key = cache = None
        if self.options.get("encoder_cache"):
            cache = shared_cache(model)
            with_srm = model.extended_attention_enabled and len(model.extended_attention) > 0
            key = cache.key(model, image, prompts, mode, with_srm)
            hit = cache.get(key)
            if hit is not None:
                return hit
        ids, attn = model.tokenize(prompts, device=self.device)
        with torch.no_grad():
            feats = model.encode_reference(image.to(self.device, self.dtype), ids, attn)
        if cache is not None:
            cache.put(key, feats)
        return feats

    # ----- the denoising loop ----------------------------------------------------------------------
    def _sample(self, canvas: cv.Canvas, feats: ReferenceFeatures, run: _Run) -> torch.Tensor:
        """Denoise one canvas batch; returns the decoded target half (B,3,H,W) float32 in [-1,1]."""
        model, axis = self.model, canvas.axis
        if not 1 <= int(run.steps) <= MAX_STEPS:
            raise ConfigError(f"steps must be between 1 and {MAX_STEPS}, got {run.steps}")
        with torch.no_grad():
            masked = model.encode(canvas.masked.to(self.device, self.dtype)).float()  # (B,4,h,w2)
            mask = cv.latent_mask(canvas.mask.to(self.device).float(), masked.shape[-2:])  # (B,1,h,w2)
            b = masked.shape[0]
            noise = torch.cat([torch.randn((1, *masked.shape[1:]), generator=torch.Generator("cpu").manual_seed(s))
                               for s in run.seeds]).to(self.device)  # (B,4,h,w2), per-item seeds on CPU
            scheduler = make_scheduler(run.scheduler)
            scheduler.set_timesteps(int(run.steps), device=self.device)
            latents = noise * scheduler.init_noise_sigma
            sam = feats.sam_tokens
            cfg = float(run.guidance) != 1.0
            if cfg:
                null_masked, null_sam = cv.null_reference(masked, axis), model.null_sam_tokens(sam)
                zeros, ones = torch.zeros(b, device=self.device), torch.ones(b, device=self.device)
            if cfg and run.cfg_batched:  # one UNet batch: [unconditional (B) | conditional (B)]
                batch_masked, batch_mask = torch.cat([null_masked, masked]), torch.cat([mask, mask])
                batch_sam = torch.cat([null_sam, sam])
                model.set_reference(feats.srm_tokens, torch.cat([zeros, ones]))  # K'/V' once, on B tokens
            else:
                model.set_reference(feats.srm_tokens)
            timesteps = scheduler.timesteps
            try:
                for i, t in enumerate(timesteps):
                    if _cancelled(run.cancel):
                        raise SamplingCancelled(f"sampling cancelled before step {i + 1} of {len(timesteps)}")
                    if not cfg:
                        x = scheduler.scale_model_input(latents, t)
                        eps = self._unet(cv.unet_input(x, mask, masked), t, sam)
                    elif run.cfg_batched:
                        x = scheduler.scale_model_input(torch.cat([latents, latents]), t)
                        eps_uncond, eps_cond = self._unet(cv.unet_input(x, batch_mask, batch_masked), t, batch_sam).chunk(2)
                        eps = eps_uncond + run.guidance * (eps_cond - eps_uncond)
                    else:  # sequential branches (for comparison): same numbers, two UNet calls
                        x = scheduler.scale_model_input(latents, t)
                        model.context.set_weight(zeros)
                        eps_uncond = self._unet(cv.unet_input(x, mask, null_masked), t, null_sam)
                        model.context.set_weight(None)
                        eps_cond = self._unet(cv.unet_input(x, mask, masked), t, sam)
                        eps = eps_uncond + run.guidance * (eps_cond - eps_uncond)
                    latents = scheduler.step(eps, t, latents).prev_sample
                    if run.callback is not None and run.callback(i + 1, len(timesteps), latents) is False:
                        raise SamplingCancelled(f"sampling stopped by the callback after step {i + 1} of {len(timesteps)}")
            finally:
                model.context.clear()
            # Decode the whole canvas, then keep the target half: the VAE saw whole canvases in training,
            # and its GroupNorm statistics shift when it decodes one half alone.
            return cv.split(model.decode(latents).float(), axis)[0]  # (B,3,H,W)

    def _unet(self, x: torch.Tensor, t: torch.Tensor, sam: torch.Tensor) -> torch.Tensor:
        steps = t.reshape(1).expand(x.shape[0]).to(self.device)
        return self.model.unet_step(x, steps, sam).float()

    def _run(self, seed, b, steps, guidance, scheduler, callback, cancel, cfg_batched) -> _Run:
        if cfg_batched is None:
            cfg_batched = self.options.get("cfg_batched", True)
        return _Run(_seeds(seed, b), int(steps), float(guidance), scheduler, callback, cancel, bool(cfg_batched))

    # ----- tasks -----------------------------------------------------------------------------------
    def tryon(self, person: torch.Tensor, garment: torch.Tensor, mask: torch.Tensor, *, prompt="upper",
              seed=0, steps: int = 30, guidance: float = 2.5, scheduler: str = "ddim", size=None,
              repaint: bool = False, repaint_blur: int | None = None, callback: Callback | None = None,
              cancel=None, cfg_batched: bool | None = None) -> TryOnResult:
        """Dress `person` (B,3,H,W) in `garment` (1|B,3,h,w) inside `mask` (1|B,1,H,W); output (B,3,H,W).

        `prompt`: a category ('upper', 'lower', 'dress') or free text, one or per item. `repaint`
        pastes the person back outside the mask through a blurred edge (radius `repaint_blur`, default
        1/64 of the image height): pixels outside the mask are then exactly the input's.
        """
        b = _check_person(person)
        garment = _batch(garment, b, "garment", 3)
        mask = _batch(mask, b, "mask", 1).float()
        if mask.shape[-2:] != person.shape[-2:]:
            raise InputError(f"the try-on mask is {tuple(mask.shape[-2:])} but the person is {tuple(person.shape[-2:])}; "
                             "resize the mask to the person image's size")
        mask = (mask >= 0.5).float()
        empty = [i for i in range(b) if not mask[i].any()]
        if empty:
            raise InputError(f"the try-on mask of item(s) {empty} is empty (all 0): nothing would change; "
                             "paint the garment region white (1) or give an automatic mask")
        prompts = _per_item(prompt, b, "prompt")
        run = self._run(seed, b, steps, guidance, scheduler, callback, cancel, cfg_batched)
        plan = self._plan(person, size)
        person_w = letterbox(person.float(), plan, fill=1.0)  # (B,3,Hc,Wc), white padding
        mask_w = letterbox(mask, plan, fill=0.0, mask=True)  # padding is kept, never generated
        if not all(mask_w[i].any() for i in range(b)):
            raise InputError(f"the try-on mask vanished at the working size {plan.canvas}; draw a larger mask")
        garment_w = fit_into(garment.float(), plan.canvas, fill=1.0)  # (B,3,Hc,Wc), aspect kept
        canvas = cv.tryon_canvas(person_w, garment_w, mask_w, self.config.concat_axis)
        feats = self.encode_reference(garment_w, prompts, mode="tryon")
        out = unletterbox(self._sample(canvas, feats, run), plan).to(person.device)  # (B,3,H,W)
        if repaint:
            radius = max(1, person.shape[-2] // 64) if repaint_blur is None else int(repaint_blur)
            weight = blur_mask(mask, radius).to(out.device) * mask.to(out.device)  # 0 outside the mask, soft inside
            out = person.float() * (1.0 - weight) + out * weight
        return TryOnResult(images=out.clamp(-1, 1), masks=mask)

    def tryoff(self, person: torch.Tensor, *, prompt="upper", mask_mode: str = "bbox", mask: torch.Tensor | None = None,
               seed=0, steps: int = 30, guidance: float = 2.5, scheduler: str = "ddim", size=None,
               callback: Callback | None = None, cancel=None, cfg_batched: bool | None = None) -> TryOffResult:
        """Take the garment off `person` (B,3,H,W): a flat garment image (B,3,H,W) at the person's size.

        The garment is generated inside: `mask` when given (1|B,1,H,W, on the target half), else
        `mask_mode` 'full' (the whole half) or 'bbox' (the box of the SRM-predicted garment mask).
        Profiles whose try-off canvas is the erased person (TryOffAnyone) take `mask` as the garment
        region on the person.
        """
        b = _check_person(person)
        if mask is None and mask_mode not in MASK_MODES:
            raise ConfigError(f"mask_mode must be one of {MASK_MODES} (or give a mask), got {mask_mode!r}")
        if mask is None and mask_mode == "bbox" and not self.use_encoders:
            raise ConfigError(f"mask_mode 'bbox' needs the SRM garment mask, which profile {self.config.profile!r} lacks; "
                              "use mask_mode='full' or give a mask")
        prompts = _per_item(prompt, b, "prompt")
        run = self._run(seed, b, steps, guidance, scheduler, callback, cancel, cfg_batched)
        plan = self._plan(person, size)
        person_w = letterbox(person.float(), plan, fill=1.0)  # (B,3,Hc,Wc)
        feats = self.encode_reference(person_w, prompts, mode=f"tryoff:{'mask' if mask is not None else mask_mode}")
        probs = None
        if feats.garment_mask_logits is not None:
            probs = resize(torch.sigmoid(feats.garment_mask_logits.float()).cpu(), plan.canvas)  # (B,1,Hc,Wc)
        if mask is not None:
            mask = _batch(mask, b, "mask", 1).float()
            if mask.shape[-2:] != person.shape[-2:]:
                raise InputError(f"the try-off mask is {tuple(mask.shape[-2:])} but the person is "
                                 f"{tuple(person.shape[-2:])}; resize the mask to the person image's size")
            target_mask = letterbox((mask >= 0.5).float(), plan, fill=0.0, mask=True)
        elif mask_mode == "full":
            target_mask = torch.ones(b, 1, *plan.canvas)
        else:
            target_mask = mask_to_bbox((probs >= 0.5).float())  # Mask2BBox of the predicted flat-garment mask
            for i in range(b):
                if not target_mask[i].any():
                    log.warning("item %d: the predicted garment mask is empty; using the full half instead", i)
                    target_mask[i] = 1
        target = person_w if self.tryoff_target == "erased_person" else None
        canvas = cv.tryoff_canvas(person_w, target_mask, self.config.concat_axis, garment=target)
        out = unletterbox(self._sample(canvas, feats, run), plan).to(person.device)  # (B,3,H,W)
        used = unletterbox(target_mask, plan, mask=True)
        garment_masks = None if probs is None else unletterbox(probs, plan)
        return TryOffResult(images=out.clamp(-1, 1), masks=used, garment_masks=garment_masks)

    def roundtrip(self, person_a: torch.Tensor, person_b: torch.Tensor | None = None, *, mask_b: torch.Tensor | None = None,
                  mask_a: torch.Tensor | None = None, mask_mode: str = "bbox", prompt="upper", seed=0, steps: int = 30,
                  guidance: float = 2.5, scheduler: str = "ddim", size=None, repaint: bool = False,
                  callback: Callback | None = None, cancel=None) -> RoundTripResult:
        """Take A's garment off as a flat image, then dress B in it (B = A when not given: a consistency check).

        B's try-on mask is `mask_b` when given; otherwise the body-region box of the garment category
        (upper / lower / dress; free-text prompts use the upper box) — give `mask_b` for real use.
        """
        off = self.tryoff(person_a, prompt=prompt, mask_mode=mask_mode, mask=mask_a, seed=seed, steps=steps,
                          guidance=guidance, scheduler=scheduler, size=size, callback=callback, cancel=cancel)
        b = off.images.shape[0]
        person_b = person_a if person_b is None else _batch(person_b, b, "person_b", 3)
        if mask_b is None:
            categories = [p if str(p).strip().lower() in CATEGORY_PROMPTS else "upper" for p in _per_item(prompt, b, "prompt")]
            mask_b = torch.cat([category_box(c, tuple(person_b.shape[-2:])) for c in categories]).to(person_b.device)
            log.info("round trip: no mask_b given; using the %s body box(es) on person B", sorted(set(categories)))
        on = self.tryon(person_b, off.images, mask_b, prompt=prompt, seed=seed, steps=steps, guidance=guidance,
                        scheduler=scheduler, size=size, repaint=repaint, callback=callback, cancel=cancel)
        return RoundTripResult(garments=off, dressed=on)
