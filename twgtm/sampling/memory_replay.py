"""The meta-device replay: a try-on's peak memory estimated without memory or compute.

The model is built on the meta device in the target dtype (no memory, no compute) and one try-on is
replayed phase by phase -- VAE encoding of the masked canvas, one denoising step with the CFG batch
and the K'/V' cache, VAE decoding of the whole canvas (the pipeline keeps its target half) -- under
`LiveBytes`, a dispatch mode that adds the bytes of every new storage an operator returns and
subtracts them when the storage is freed (a weak reference per storage). The peak live bytes plus
the parameter and buffer bytes is the estimate. Two assumptions, both those of PyTorch on a recent
NVIDIA GPU in bf16/fp16: attention uses a fused kernel (flash or memory-efficient) that never holds
the L x S score matrix, which the replay models by replacing `scaled_dot_product_attention` with a
stand-in that only allocates its output; and kernel workspaces (cuDNN convolution, the fused
attention's log-sum-exp) are left out. The reference encoders run at their fixed input size (224 px
for sd15) and cannot run on the meta device (their masks are data-dependent), so their activation
peak is measured with the same `LiveBytes` on the real model and rescaled to the target dtype (by
the caller); they run before the VAE and the UNet, so the estimate takes the larger of the phases.

`memory_plan` fits its activation formula to two replays; `twgtm.bench` reports a replay at a chosen
size and checks the formula against measured peaks (`twgtm.bench.memory.check_formula`); the
replay's accuracy against a real try-on's accounting is checked by tests/tools/test_bench.py.
"""
from __future__ import annotations

import contextlib
import itertools

import torch
import torch.nn.functional as F
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = ["LiveBytes", "fused_attention_standin", "tensor_bytes", "measure_live_peak", "estimate_tryon_peak"]

_CONVOLUTIONS = {torch.ops.aten.convolution, torch.ops.aten._convolution, torch.ops.aten.mkldnn_convolution}


class LiveBytes(TorchDispatchMode):
    """Track the bytes of storages created by operators while active; `peak` is the most live at once.

    Inputs created before the mode (parameters, tensors passed in) are not counted, nor are views or
    in-place results (their storage is an input's). `phase(name)` starts a named phase whose own
    peak is kept in `phases`. `conv_input_copies`: count, for the duration of each convolution, one
    more buffer the size of its input (what PyTorch's CPU convolutions, oneDNN, allocate: a padded /
    blocked-layout copy of the input; measured on the CPU, see the module docstring).
    """

    def __init__(self, conv_input_copies: bool = False):
        super().__init__()
        self.conv_input_copies = bool(conv_input_copies)
        self._live: dict[int, tuple[StorageWeakRef, int]] = {}
        self._current = 0
        self.peak = 0
        self.phases: dict[str, int] = {}
        self._phase: str | None = None

    @property
    def current(self) -> int:
        """Bytes live now."""
        self._purge()
        return self._current

    def phase(self, name: str) -> None:
        """Begin phase `name`: its peak starts at the bytes live now."""
        self._purge()
        self._phase = name
        self.phases[name] = self._current

    def _purge(self) -> None:
        for key, (ref, nbytes) in list(self._live.items()):
            if ref.expired():
                del self._live[key]
                self._current -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage()._cdata for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        self._purge()
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key = storage._cdata
            if key in inputs or key in self._live:
                continue
            nbytes = storage.nbytes()
            self._live[key] = (StorageWeakRef(storage), nbytes)
            self._current += nbytes
        transient = 0
        if self.conv_input_copies and func.overloadpacket in _CONVOLUTIONS and isinstance(args[0], torch.Tensor):
            transient = args[0].numel() * args[0].element_size()  # the input copy, alive while the op ran
        self.peak = max(self.peak, self._current + transient)
        if self._phase is not None:
            self.phases[self._phase] = max(self.phases[self._phase], self._current + transient)
        return out


def _fused_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """Stand-in for a fused attention kernel: allocates only the output (B,h,L,Ev)."""
    return query.new_empty(*query.shape[:-1], value.shape[-1])


@contextlib.contextmanager
def fused_attention_standin(enabled: bool = True):
    """Within the block, `F.scaled_dot_product_attention` allocates like a fused (flash) kernel."""
    if not enabled:
        yield
        return
    original = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = _fused_sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


def tensor_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in itertools.chain(module.parameters(), module.buffers()))


def measure_live_peak(fn) -> int:
    """Peak bytes of storages created while running `fn()` (on any device), by `LiveBytes`."""
    tracker = LiveBytes()
    with torch.no_grad(), tracker:
        fn()
    return tracker.peak


def estimate_tryon_peak(config, *, height: int = 1024, width: int = 768, batch: int = 1,
                        dtype: torch.dtype = torch.bfloat16, cfg: bool = True, cfg_batched: bool = True,
                        vae_tiling: bool = False, encoder_activation_bytes: int = 0, device_type: str = "cuda") -> dict:
    """Estimated peak bytes of one try-on of a `height` x `width` person (see the module docstring).

    `vae_tiling`: the VAE encodes and decodes tile by tile (the pipeline's `vae_tiling` option).
    `encoder_activation_bytes`: the reference encoders' own activation peak in `dtype` (measured
    on a real model by the caller). `device_type`: "cuda" (fused attention, no convolution copies)
    or "cpu" (convolutions also hold a copy of their input). Returns the parts and the total in bytes.
    """
    from ..model.network import build_model

    model = build_model(config, device="meta", dtype=dtype).eval()
    if vae_tiling:
        model.vae.enable_tiling()
    model.set_attention_backend("sdpa")
    model.set_extended_attention(True)
    params = tensor_bytes(model)
    f = config.vae_scale_factor
    canvas = (height, 2 * width) if config.concat_axis == "width" else (2 * height, width)
    h, w = canvas[0] // f, canvas[1] // f
    meta = dict(device="meta")
    tracker = LiveBytes(conv_input_copies=device_type == "cpu")
    srm_tokens = config.taskformer["num_queries"] + (config.srm_image_size[0] // 16) * (config.srm_image_size[1] // 16)
    with torch.no_grad(), fused_attention_standin(), tracker:
        tracker.phase("held_features")
        sam = torch.empty(batch, 1 + config.num_query_tokens, config.cross_attention_dim, dtype=dtype, **meta)
        srm = torch.empty(batch, srm_tokens, config.srm_dim, dtype=dtype, **meta)
        tracker.phase("vae_encode")
        masked_pixels = torch.empty(batch, 3, *canvas, dtype=dtype, **meta)
        masked = model.encode(masked_pixels).float()  # (B,4,h,w) float32, as the pipeline keeps it
        del masked_pixels
        tracker.phase("denoise_step")
        rows = 2 * batch if cfg and cfg_batched else batch
        mask = torch.empty(batch, 1, h, w, **meta)
        latents = torch.empty(batch, 4, h, w, **meta)
        batch_masked = torch.cat([masked, masked]) if rows > batch else masked
        batch_mask = torch.cat([mask, mask]) if rows > batch else mask
        batch_sam = torch.cat([sam, sam]) if rows > batch else sam
        weight = torch.cat([torch.zeros(batch), torch.ones(batch)]) if rows > batch else None  # CPU: no sync on meta
        model.set_reference(srm, weight)
        x = torch.cat([torch.cat([latents] * (rows // batch)), batch_mask, batch_masked], dim=1)  # (rows,9,h,w)
        eps = model.unet_step(x, torch.zeros(rows, **meta), batch_sam).float()
        latents = latents - eps[:batch]  # the guidance combination and scheduler step, roughly
        del x, eps, batch_masked, batch_mask, batch_sam
        model.context.clear()
        tracker.phase("vae_decode")
        image = model.decode(latents).float()  # the whole canvas, as the pipeline decodes it
        half = image.shape[-1] // 2 if config.concat_axis == "width" else image.shape[-2] // 2
        target = image[..., :half] if config.concat_axis == "width" else image[..., :half, :]
        del image, target
    phases = dict(tracker.phases)
    phases["encoders"] = phases.get("held_features", 0) + int(encoder_activation_bytes)
    activations = max(tracker.peak, phases["encoders"])
    return {
        "person": [height, width], "canvas": list(canvas), "latent": [h, w], "batch": batch,
        "dtype": str(dtype).removeprefix("torch."),
        "unet_batch": rows, "vae_tiling": vae_tiling, "device_type": device_type, "parameters_bytes": params, "activation_peak_bytes": activations,
        "phases_bytes": phases, "total_bytes": params + activations,
        "method": "meta-device replay with live-storage accounting, fused attention assumed (twgtm/sampling/memory_replay.py)",
    }
