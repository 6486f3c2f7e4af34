"""A small LRU of reference-encoder outputs (SAM + SRM), so repeated calls with one reference skip them.

The key is everything the features depend on: a hash of the reference image's bytes (shape and
dtype included), the prompts, a mode tag given by the caller (the task and its mask mode), the
device and dtype, whether F_SRM tokens were asked for, and a fingerprint of the encoders'
weights. The fingerprint pairs every SAM/SRM parameter and buffer with its in-place version
counter, so loading new weights, an optimizer step or replacing a module all miss the cache
instead of returning stale features.

One cache belongs to one pipeline (`TWGTMPipeline.encoder_cache`); the pipeline is built once per
loaded model (the ComfyUI model loader builds it with the model) and reused by every call.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import torch


def tensor_digest(t: torch.Tensor) -> str:
    """A content hash of a tensor: shape, dtype and the raw bytes (copied to the CPU if needed)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((tuple(t.shape), str(t.dtype))).encode())
    data = t.detach().contiguous()
    if data.device.type != "cpu":
        data = data.cpu()
    h.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def weights_fingerprint(*modules: torch.nn.Module) -> int:
    """Changes whenever a parameter or buffer of `modules` is modified in place or replaced."""
    state = []
    for module in modules:
        for t in (*module.parameters(), *module.buffers()):
            try:
                version = t._version
            except RuntimeError:  # inference tensors carry no version counter
                version = -1
            state.append((id(t), version, t.data_ptr() if t.device.type != "meta" else 0))
    return hash(tuple(state))


class EncoderCache:
    """LRU map from (image, prompts, mode, model state) to `ReferenceFeatures`; `maxsize` 0 disables it."""

    def __init__(self, maxsize: int = 4, store_device=None):
        self.maxsize = int(maxsize)
        self.store_device = None if store_device is None else torch.device(store_device)  # None: where computed
        self._items: OrderedDict = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def key(self, model, image: torch.Tensor, prompts, mode: str = "", with_srm_tokens: bool = True,
            device=None) -> tuple:
        """The cache key of one encoder call of `model` on `image` (B,3,H,W) with `prompts` on `device`
        (default: where the model's weights are)."""
        first = next(model.parameters())
        return (tensor_digest(image), tuple(str(p) for p in prompts), str(mode), str(device or first.device),
                str(first.dtype), bool(with_srm_tokens), weights_fingerprint(model.sam, model.srm))

    def nbytes(self) -> int:
        """Bytes of the tensors held (so a host can count them)."""
        def size(x) -> int:
            if isinstance(x, torch.Tensor):
                return x.numel() * x.element_size()
            if isinstance(x, (list, tuple)):
                return sum(size(v) for v in x)
            if hasattr(x, "__dataclass_fields__"):
                return sum(size(getattr(x, name)) for name in x.__dataclass_fields__)
            return 0
        return sum(size(v) for v in self._items.values())

    def get(self, key: tuple):
        """The cached features for `key` (marked most recent), or None."""
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]
        self.misses += 1
        return None

    def put(self, key: tuple, value) -> None:
        """Store `value`, evicting the least recently used entry beyond `maxsize`."""
        if self.maxsize <= 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry (the hit/miss counters stay)."""
        self._items.clear()
