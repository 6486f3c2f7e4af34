"""Memory: the activation formula against the replay, the out-of-memory ladder, part placement, the cache device."""
import logging

import pytest
import torch

from twgtm.sampling.memory_replay import estimate_tryon_peak
from twgtm.errors import InputError, OutOfMemory
from twgtm.model.config import get_preset
from twgtm.model.network import build_model
from twgtm.sampling.memory_plan import estimate_run, largest_fitting
from twgtm.sampling.oom import MemoryHooks, RunPlan, rungs_after
from twgtm.sampling.pipeline import TWGTMPipeline
from twgtm.sampling.placement import SequentialPlacement

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = dict(steps=2, guidance=2.5)


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    with torch.no_grad():  # make the SRM branch matter (ZLL starts at zero)
        for n, p in model.named_parameters():
            if ".zll." in n:
                p.normal_(0, 0.2)
    return TWGTMPipeline(model)


def _inputs(b=2, h=48, w=32):
    g = torch.Generator().manual_seed(0)
    person, garment = torch.rand(b, 3, h, w, generator=g) * 2 - 1, torch.rand(b, 3, h, w, generator=g) * 2 - 1
    mask = torch.zeros(b, 1, h, w)
    mask[:, :, h // 5: h * 3 // 4, w // 6: w * 5 // 6] = 1
    return person, garment, mask


class OutOfMemoryAbove:
    """Wraps a module's forward: raises the real torch.cuda.OutOfMemoryError when its input batch exceeds `rows`."""

    def __init__(self, module, rows=None, unless=None):
        self.module, self.rows, self.unless = module, rows, unless
        self.original = module.forward
        self.raised = 0
        module.forward = self

    def __call__(self, x, *args, **kwargs):
        too_big = self.rows is not None and x.shape[0] > self.rows
        if self.unless is not None:
            too_big = not self.unless()
        if too_big:
            self.raised += 1
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate for {x.shape[0]} rows")
        return self.original(x, *args, **kwargs)

    def remove(self):
        self.module.forward = self.original


class RecordingHooks(MemoryHooks):
    """Hooks that record what the pipeline asks for and report a fixed number of free bytes."""

    def __init__(self, free=None):
        self.reserved, self.released, self.free = [], 0, free

    def reserve(self, nbytes, device):
        self.reserved.append(nbytes)

    def release(self, device):
        self.released += 1
        super().release(device)

    def free_bytes(self, device):
        return self.free


# ------------------------------------------------------------------------------------------- the formula
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("device_type", ["cuda", "cpu"])
def test_formula_matches_the_replay(dtype, device_type):
    config = get_preset("tiny")
    for (h, w), batch, batched in [((128, 96), 1, True), ((192, 144), 2, True), ((256, 192), 3, False)]:
        formula = estimate_run(config, (h, w), batch, dtype=dtype, cfg_batched=batched, device_type=device_type)
        replay = estimate_tryon_peak(config, height=h, width=w, batch=batch, dtype=dtype, cfg_batched=batched,
                                     device_type=device_type)
        for phase, value in formula["phases_bytes"].items():
            assert value == pytest.approx(replay["phases_bytes"][phase], rel=0.1), (phase, h, w, batch)
        assert formula["unet_rows"] == (2 if batched else 1) * batch


def test_formula_scales_and_inverts():
    config = get_preset("demo")
    run = dict(dtype=torch.bfloat16)
    one = estimate_run(config, (128, 96), 1, **run)["activation_bytes"]
    assert estimate_run(config, (128, 96), 4, **run)["activation_bytes"] == pytest.approx(4 * one, rel=0.01)
    assert estimate_run(config, (256, 192), 1, **run)["activation_bytes"] > 3.5 * one
    sequential = estimate_run(config, (128, 96), 1, cfg_batched=False, **run)["phases_bytes"]["denoise_step"]
    assert sequential < estimate_run(config, (128, 96), 1, **run)["phases_bytes"]["denoise_step"]
    fit = largest_fitting(config, (512, 384), 10 * one, **run)
    assert fit["batch"] == 0  # 512x384 needs ~16x the 128x96 activations
    h, w = fit["working_size"]
    assert estimate_run(config, (h, w), 1, **run)["activation_bytes"] <= 10 * one
    assert h % config.pixel_multiple == 0 and w % config.pixel_multiple == 0 and h > 128
    assert largest_fitting(config, (128, 96), 10 * one, **run)["batch"] == 10


# ------------------------------------------------------------------------------------------- the ladder
def test_rungs_in_order():
    labels = [label for label, _ in rungs_after(RunPlan(True, 4, False), 4)]
    assert labels == ["the CFG halves one after the other", "the batch in chunks of 2", "one item at a time", "VAE tiling"]
    last = rungs_after(RunPlan(True, 4, False), 4)[-1][1]
    assert last == RunPlan(False, 1, True)
    assert [label for label, _ in rungs_after(RunPlan(False, 1, True), 1)] == []


def test_each_rung_gives_the_normal_output(pipe, caplog):
    person, garment, mask = _inputs()
    normal = pipe.tryon(person, garment, mask, seed=3, **FAST).images
    hooks = RecordingHooks()
    pipe.set_memory(hooks)
    try:
        for rows, expected in [(2, ["CFG halves"]), (1, ["CFG halves", "one item at a time"])]:
            caplog.clear()
            hooks.reserved.clear()
            guard = OutOfMemoryAbove(pipe.model.unet, rows=rows)
            try:
                with caplog.at_level(logging.WARNING, logger="twgtm"):
                    out = pipe.tryon(person, garment, mask, seed=3, **FAST).images
            finally:
                guard.remove()
            assert guard.raised == len(expected)
            lines = [r.getMessage() for r in caplog.records if "out of memory" in r.getMessage()]
            assert len(lines) == len(expected) and all(w in line for w, line in zip(expected, lines)), lines
            assert torch.allclose(out, normal, atol=1e-5), (rows, (out - normal).abs().max())
            assert all(a >= b > 0 for a, b in zip(hooks.reserved, hooks.reserved[1:]))  # no rung asks for more
            if len(expected) > 1:
                assert hooks.reserved[-1] < hooks.reserved[0]  # one item at a time: less
        # the VAE decode fails until tiling is on: every rung is taken, tiling is switched off again after
        vae = pipe.model.vae
        guard = OutOfMemoryAbove(vae.decoder, unless=lambda: vae.use_tiling)
        caplog.clear()
        try:
            with caplog.at_level(logging.WARNING, logger="twgtm"):
                tiled = pipe.tryon(person, garment, mask, seed=3, **FAST).images
        finally:
            guard.remove()
        lines = [r.getMessage() for r in caplog.records if "out of memory" in r.getMessage()]
        assert [("VAE tiling" in line) for line in lines] == [False, False, True]
        assert not vae.use_tiling and not pipe.options["vae_tiling"]
        assert torch.allclose(tiled, normal, atol=1e-5), (tiled - normal).abs().max()
        off = pipe.tryoff(person, seed=4, mask_mode="full", **FAST).images
        guard = OutOfMemoryAbove(pipe.model.unet, rows=1)
        try:
            assert torch.allclose(pipe.tryoff(person, seed=4, mask_mode="full", **FAST).images, off, atol=1e-5)
        finally:
            guard.remove()
    finally:
        pipe.set_memory(None)


def test_last_rung_failing_says_what_fits(pipe):
    person, garment, mask = _inputs()
    need = estimate_run(pipe.config, (48, 32), 1, dtype=torch.float32, cfg_batched=False, vae_tiling=True,
                        device_type="cpu")["activation_bytes"]
    hooks = RecordingHooks(free=need // 3)
    pipe.set_memory(hooks)
    guard = OutOfMemoryAbove(pipe.model.unet, rows=0)
    try:
        with pytest.raises(OutOfMemory) as failure:
            pipe.tryon(person, garment, mask, **FAST)
    finally:
        guard.remove()
        pipe.set_memory(None)
    message = str(failure.value)
    assert "even after the CFG halves one after the other, one item at a time, VAE tiling" in message
    assert "MB are free on cpu" in message and "working size of about" in message and "size=(" in message, message
    assert guard.raised == 4 and hooks.released == 4


# ------------------------------------------------------------------------------------------- placement and cache
def test_sequential_placement_runs_each_phase_with_its_parts(pipe, encoder_calls):
    person, garment, mask = _inputs(1)
    normal = pipe.tryon(person, garment, mask, seed=1, **FAST).images
    pipe.encoder_cache.clear()
    arrived = []
    placement = SequentialPlacement(pipe.model, "cpu", "cpu", before_load=lambda n, d: arrived.append(n))
    pipe.set_memory(placement=placement)
    try:
        out = pipe.tryon(person, garment, mask, seed=1, **FAST).images
        assert placement.loads == ["encoders", "vae", "unet", "vae"] and placement.phase is None
        assert pipe.device == torch.device("cpu")
        assert torch.equal(out, normal)
        placement.loads.clear()
        pipe.tryon(person, garment, mask, seed=1, **FAST)  # the encoder cache hits: the encoders do not load
        assert placement.loads == ["vae", "unet", "vae"]
    finally:
        pipe.set_memory(None)


def test_encoder_cache_on_its_store_device(pipe):
    person, garment, mask = _inputs(1)
    pipe.encoder_cache.clear()
    pipe.encoder_cache.store_device = torch.device("cpu")
    try:
        first = pipe.tryon(person, garment, mask, seed=2, **FAST).images
        assert len(pipe.encoder_cache) == 1 and pipe.encoder_cache.nbytes() > 0
        hits = pipe.encoder_cache.hits
        assert torch.equal(pipe.tryon(person, garment, mask, seed=2, **FAST).images, first)
        assert pipe.encoder_cache.hits == hits + 1
    finally:
        pipe.encoder_cache.store_device = None


def test_encoded_reference_feeds_the_sampler(pipe, encoder_calls):
    person, garment, mask = _inputs(2)
    normal = pipe.tryon(person, garment, mask, prompt="dress", seed=5, **FAST).images
    reference = pipe.encode_image(garment, "dress", size=tuple(person.shape[-2:])).cpu()
    calls = encoder_calls(pipe.model)
    out = pipe.tryon(person, garment, mask, prompt="dress", seed=5, reference=reference, **FAST).images
    assert calls == {"sam": 0, "srm": 0} and torch.equal(out, normal)
    off = pipe.tryoff(person, prompt="upper", mask_mode="full", seed=1, **FAST).images
    ref_person = pipe.encode_image(person, "upper")
    assert torch.equal(pipe.tryoff(person, prompt="upper", mask_mode="full", seed=1, reference=ref_person, **FAST).images, off)
    with pytest.raises(InputError, match="prompt"):
        pipe.tryon(person, garment, mask, prompt="upper", reference=reference, **FAST)
    with pytest.raises(InputError, match="another image"):
        pipe.tryon(person, garment.flip(-1), mask, prompt="dress", reference=reference, **FAST)
    with pytest.raises(InputError, match="holds 2 image"):
        pipe.tryon(torch.cat([person] * 2), torch.cat([garment] * 2), torch.cat([mask] * 2), prompt="dress",
                   reference=reference, **FAST)


def test_seed_range_wraps_like_comfyui():
    from twgtm.sampling.denoise import SEED_RANGE, seeds_per_item

    assert SEED_RANGE == 2 ** 64
    assert seeds_per_item(2 ** 64 - 1, 3) == [2 ** 64 - 1, 0, 1]
    torch.Generator().manual_seed(seeds_per_item(2 ** 64 - 1, 1)[0])  # accepted by torch


# ------------------------------------------------------------------------------------------- profiles
@pytest.fixture(scope="module")
def catvton(tmp_path_factory):
    """A CatVTON profile pipeline on random weights with the real key layout (tests/support/profile_files.py)."""
    from twgtm import load_model

    from ..support.profile_files import random_modules, write_base_folder, write_catvton_file

    d = tmp_path_factory.mktemp("profile-memory")
    unet, vae = random_modules(3)
    write_base_folder(d / "base", unet, vae)
    write_catvton_file(d / "catvton.safetensors")
    return load_model(profile="catvton", weights=d / "catvton.safetensors", base=d / "base")


def _same_8bit(a, b):
    """The same 8-bit images: batched kernels round differently, so a value may move by one level, rarely."""
    levels = ((a - b).abs() * 127.5).round()
    assert levels.max() <= 1 and levels.mean() < 0.01, (levels.max(), levels.mean())


def test_profile_takes_the_batch_and_vae_rungs_with_the_normal_output(catvton, caplog):
    """A profile runs [uncond, cond] as one UNet batch, as its project does: its ladder is batch chunks, then VAE tiling."""
    g = torch.Generator().manual_seed(0)
    person = torch.rand(2, 3, 128, 64, generator=g) * 2 - 1
    mask = torch.zeros(2, 1, 128, 64)
    mask[:, :, 32:96, 16:48] = 1
    run = dict(seed=7, steps=2, guidance=2.5, size=(128, 64))
    normal = catvton.tryon(person, person.flip(-1), mask, **run).images
    hooks = RecordingHooks()
    catvton.set_memory(hooks)
    try:
        guard = OutOfMemoryAbove(catvton.model.unet, rows=2)  # 2 items x 2 CFG rows do not fit, 1 x 2 does
        try:
            with caplog.at_level(logging.WARNING, logger="twgtm"):
                chunked = catvton.tryon(person, person.flip(-1), mask, **run).images
        finally:
            guard.remove()
        lines = [r.getMessage() for r in caplog.records if "out of memory" in r.getMessage()]
        assert guard.raised == 1 and len(lines) == 1 and "one item at a time" in lines[0], lines
        _same_8bit(chunked, normal)
        assert len(hooks.reserved) == 2 and hooks.reserved[0] > hooks.reserved[1] > 0  # estimated per attempt
        vae = catvton.model.vae
        guard = OutOfMemoryAbove(vae.decoder, unless=lambda: vae.use_tiling)
        caplog.clear()
        try:
            with caplog.at_level(logging.WARNING, logger="twgtm"):
                tiled = catvton.tryon(person, person.flip(-1), mask, **run).images
        finally:
            guard.remove()
        lines = [r.getMessage() for r in caplog.records if "out of memory" in r.getMessage()]
        assert ["VAE tiling" in line for line in lines] == [False, True], lines
        assert not vae.use_tiling
        _same_8bit(tiled, normal)
    finally:
        catvton.set_memory(None)
