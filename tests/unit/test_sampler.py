"""Sampler: any size, batch = singles, repaint, encoder/K'V' counts, CFG batching, callback, schedulers, masks."""
import threading

import pytest
import torch

from twgtm import errors
from twgtm.errors import ConfigError, InputError
from twgtm.masks import garment_mask_from_probability, mask_to_bbox
from twgtm.model.network import build_model
from twgtm.sampling.pipeline import SamplingCancelled, TWGTMPipeline

FAST = dict(steps=2, guidance=2.0)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    model = build_model("tiny")
    with torch.no_grad():  # make the SRM branch matter (ZLL starts at zero)
        for n, p in model.named_parameters():
            if ".zll." in n:
                p.normal_(0, 0.2)
    return TWGTMPipeline(model)


def _images(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g) * 2 - 1


def _mask(b, h, w):
    m = torch.zeros(b, 1, h, w)
    m[:, :, h // 5: h * 3 // 4, w // 6: w * 5 // 6] = 1
    return m


def test_odd_sizes_and_mixed_aspect(pipe):
    person, garment = _images(1, 301, 217), _images(1, 90, 160, seed=1)  # landscape garment, portrait person
    on = pipe.tryon(person, garment, _mask(1, 301, 217), steps=1)
    assert on.images.shape == (1, 3, 301, 217) and on.masks.shape == (1, 1, 301, 217)
    off = pipe.tryoff(person, steps=1)
    assert off.images.shape == (1, 3, 301, 217) and off.garment_masks.shape == (1, 1, 301, 217)
    # a working size: processed at 64x48, returned at the input's size
    big = _images(2, 157, 83)
    out = pipe.tryon(big, _images(1, 40, 40), _mask(1, 157, 83), size=(64, 48), steps=1)
    assert out.images.shape == (2, 3, 157, 83)
    assert pipe.working_size((64, 48)) == (64, 48) and pipe.working_size() is None  # tiny: native size
    rt = pipe.roundtrip(_images(1, 75, 51), _images(1, 99, 45), steps=1)
    assert rt.images.shape == (1, 3, 99, 45) and rt.garments.images.shape == (1, 3, 75, 51)
    assert torch.isfinite(rt.images).all() and rt.images.abs().max() <= 1


def test_batch_equals_single_calls(pipe):
    person, garment, mask = _images(3, 48, 32), _images(3, 40, 30, seed=1), _mask(3, 48, 32)
    prompts = ["upper", "dress", "red stripes"]
    batch = pipe.tryon(person, garment, mask, prompt=prompts, seed=[5, 6, 7], **FAST).images
    singles = torch.cat([pipe.tryon(person[i:i + 1], garment[i:i + 1], mask[i:i + 1], prompt=prompts[i],
                                    seed=5 + i, **FAST).images for i in range(3)])
    assert torch.allclose(batch, singles, atol=1e-4), (batch - singles).abs().max()
    assert torch.equal(pipe.tryon(person, garment, mask, prompt=prompts, seed=5, **FAST).images, batch)  # int -> seed+i
    assert not torch.allclose(batch[0], pipe.tryon(person[:1], garment[:1], mask[:1], prompt="upper", seed=9, **FAST).images[0])
    off_b = pipe.tryoff(person, seed=[1, 2, 3], mask_mode="full", **FAST).images
    off_s = torch.cat([pipe.tryoff(person[i:i + 1], seed=1 + i, mask_mode="full", **FAST).images for i in range(3)])
    assert torch.allclose(off_b, off_s, atol=1e-4)
    # one garment and one mask broadcast to the batch
    assert pipe.tryon(person, garment[:1], mask[:1], **FAST).images.shape == (3, 3, 48, 32)


def test_repaint_keeps_pixels_outside_mask(pipe):
    person = _images(2, 53, 37)
    mask = _mask(2, 53, 37)
    out = pipe.tryon(person, _images(1, 30, 30), mask, repaint=True, repaint_blur=3, **FAST).images
    keep = mask == 0
    assert torch.equal(out.expand_as(person)[keep.expand_as(person)], person[keep.expand_as(person)])
    assert not torch.equal(out, person)


@pytest.mark.parametrize("steps", [1, 4])
def test_encoders_and_kv_once_per_call(pipe, steps, encoder_calls):
    model = pipe.model
    calls = encoder_calls(model)
    blocks = len(model.extended_attention)
    assert blocks > 0
    for task in ("tryon", "tryoff"):
        calls.update(sam=0, srm=0)
        model.context.kv_computations = 0
        pipe.encoder_cache.clear()  # the same images as the other parametrisation: count real encoder runs
        if task == "tryon":
            pipe.tryon(_images(2, 32, 32), _images(1, 32, 32), _mask(2, 32, 32), steps=steps, guidance=2.0)
        else:
            pipe.tryoff(_images(2, 32, 32), steps=steps, guidance=2.0)
        assert calls == {"sam": 1, "srm": 1}, (task, calls)
        assert model.context.kv_computations == blocks, (task, model.context.kv_computations)


def _unet_batches(pipe):
    sizes = []
    handle = pipe.model.unet.register_forward_pre_hook(lambda mod, args: sizes.append(args[0].shape[0]))
    return sizes, handle


def test_cfg_batched_equals_sequential_and_scale_one_is_one_branch(pipe):
    person, garment, mask = _images(2, 48, 32), _images(2, 48, 32, seed=3), _mask(2, 48, 32)
    sizes, handle = _unet_batches(pipe)
    try:
        batched = pipe.tryon(person, garment, mask, steps=3, guidance=3.0).images
        assert sizes == [4, 4, 4]
        sizes.clear()
        sequential = pipe.tryon(person, garment, mask, steps=3, guidance=3.0, cfg_batched=False).images
        assert sizes == [2] * 6
        sizes.clear()
        pipe.tryon(person, garment, mask, steps=3, guidance=1.0)
        assert sizes == [2, 2, 2]
    finally:
        handle.remove()
    assert torch.allclose(batched, sequential, atol=1e-5), (batched - sequential).abs().max()
    guided = pipe.tryoff(person, steps=2, guidance=1.0, mask_mode="full").images
    assert not torch.allclose(guided, pipe.tryoff(person, steps=2, guidance=4.0, mask_mode="full").images)


def test_callback_progress_and_cancel(pipe):
    args = (_images(1, 32, 32), _images(1, 32, 32), _mask(1, 32, 32))
    seen = []
    pipe.tryon(*args, steps=3, callback=lambda i, n, lat: seen.append((i, n, tuple(lat.shape))))
    assert [s[:2] for s in seen] == [(1, 3), (2, 3), (3, 3)] and seen[0][2][1] == 4
    with pytest.raises(SamplingCancelled):
        pipe.tryon(*args, steps=3, callback=lambda i, n, lat: i < 2)
    flag = threading.Event()
    flag.set()
    with pytest.raises(SamplingCancelled):
        pipe.tryon(*args, steps=3, cancel=flag)

    class Interrupted(Exception):
        pass

    def boom(i, n, lat):
        raise Interrupted()
    with pytest.raises(Interrupted):
        pipe.tryoff(args[0], steps=3, callback=boom)
    assert pipe.model.context.tokens is None  # cleared after an interrupted run


@pytest.mark.parametrize("name", ["ddim", "dpm++", "euler", "unipc"])
def test_schedulers(pipe, name):
    out = pipe.tryon(_images(1, 32, 32), _images(1, 32, 32), _mask(1, 32, 32), steps=2, scheduler=name).images
    assert torch.isfinite(out).all()


def test_tryoff_mask_modes(pipe):
    person = _images(2, 48, 32)
    full = pipe.tryoff(person, mask_mode="full", steps=1)
    assert full.masks.min() == 1
    box = pipe.tryoff(person, mask_mode="bbox", steps=1)
    assert torch.equal(box.masks, mask_to_bbox(box.masks))  # a filled rectangle (or the full fallback)
    given = _mask(1, 48, 32)
    used = pipe.tryoff(person, mask=given, steps=1).masks
    assert torch.equal(used, given.expand(2, -1, -1, -1))
    with pytest.raises(ConfigError):
        pipe.tryoff(person, mask_mode="circle", steps=1)


def test_garment_mask_of_the_encoder_is_the_one_tryoff_uses(pipe):
    """encode_image (the SAM Encode node) and try-off's bbox mode share one probability and one Mask2BBox."""
    person = _images(2, 48, 32, seed=4)  # a multiple of the pixel stride: the working canvas is the image
    encoded = pipe.encode_image(person, "upper")
    assert encoded.plan.canvas == (48, 32) and encoded.prompts == ["upper", "upper"]
    off = pipe.tryoff(person, mask_mode="bbox", steps=1)
    probability = encoded.garment_probability  # (B,1,H,W)
    assert probability.shape == (2, 1, 48, 32) and torch.equal(probability, off.garment_masks)
    boxes = garment_mask_from_probability(probability, 0.5, bbox=True)
    for i in range(2):  # an empty predicted mask falls back to the full half
        assert torch.equal(off.masks[i], boxes[i] if boxes[i].any() else torch.ones_like(boxes[i]))
    on_cpu = encoded.cpu()
    assert on_cpu.features.sam_tokens.device.type == "cpu" and torch.equal(on_cpu.garment_probability, probability)


def test_input_errors(pipe):
    person = _images(1, 32, 32)
    with pytest.raises(InputError, match="empty"):
        pipe.tryon(person, person, torch.zeros(1, 1, 32, 32), steps=1)
    with pytest.raises(InputError, match="resize the mask"):
        pipe.tryon(person, person, _mask(1, 16, 16), steps=1)
    with pytest.raises(InputError, match="batch"):
        pipe.tryon(_images(3, 32, 32), _images(2, 32, 32), _mask(1, 32, 32), steps=1)
    with pytest.raises(ConfigError, match="scheduler"):
        pipe.tryon(person, person, _mask(1, 32, 32), steps=1, scheduler="plms9")
    with pytest.raises(InputError, match="resize the mask"):
        pipe.tryoff(person, mask=_mask(1, 16, 16), steps=1)
    with pytest.raises(InputError, match="seed has 2 entries"):
        pipe.tryon(person, person, _mask(1, 32, 32), steps=1, seed=[1, 2])
    assert SamplingCancelled is errors.SamplingCancelled  # the pipeline module re-exports the error


def test_bf16_runs():
    torch.manual_seed(0)
    pipe16 = TWGTMPipeline(build_model("tiny"), device="cpu", dtype=torch.bfloat16)
    out = pipe16.tryon(_images(1, 32, 32), _images(1, 32, 32), _mask(1, 32, 32), steps=1).images
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert pipe16.dtype == torch.bfloat16 and pipe16.device.type == "cpu"


def test_steps_out_of_range_is_a_clear_error():
    from twgtm.sampling.schedulers import MAX_STEPS

    torch.manual_seed(0)
    pipe = TWGTMPipeline(build_model("tiny").eval())
    person = torch.zeros(1, 3, 32, 32)
    mask = torch.ones(1, 1, 32, 32)
    for steps in (0, MAX_STEPS + 1):
        with pytest.raises(ConfigError, match="steps must be between 1 and 999"):
            pipe.tryon(person, person, mask, steps=steps)
