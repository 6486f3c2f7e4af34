"""Property-based tests (hypothesis) of the pure geometry: the invariants hold for any size and aspect ratio.

Letterboxing (twgtm.sampling.letterbox), mask resize / grow / feather (twgtm.masks, twgtm.mask_edit), the
two-image canvas (twgtm.canvas), Any2AnyTryon's panel layout and position ids (twgtm.families.a2a).
Examples are few and derandomized, so the suite stays fast and every run tries the same sizes.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from twgtm.canvas import build_canvas, latent_mask, split
from twgtm.errors import InputError
from twgtm.families.a2a.layout import MAX_SIDE, MIN_SIDE, TOKEN_PX, default_size, plan_panels
from twgtm.families.a2a.position_ids import canvas_ids, grids_from_index_ids, part_ids, rewrite_index_ids
from twgtm.families.a2a.tasks import TASKS
from twgtm.mask_edit import adjust_mask, feather_mask, fit_mask, grow_mask, is_binary
from twgtm.masks import resize_mask
from twgtm.sampling.letterbox import letterbox, plan_letterbox, unletterbox

FEW = settings(max_examples=25, deadline=None, derandomize=True, database=None)
side = st.integers(1, 4096)
small_side = st.integers(1, 96)


@FEW
@given(source=st.tuples(side, side), box=st.none() | st.tuples(side, side), multiple=st.sampled_from([1, 8, 16, 64]))
def test_a_letterbox_plan_fits_keeps_the_aspect_and_centres(source, box, multiple):
    plan = plan_letterbox(source, box, multiple)
    h, w = source
    bound = source if box is None else box
    assert all(c % multiple == 0 and b <= c < b + multiple for c, b in zip(plan.canvas, bound))
    assert 1 <= plan.height <= plan.canvas[0] and 1 <= plan.width <= plan.canvas[1]
    assert plan.top == (plan.canvas[0] - plan.height) // 2 and plan.left == (plan.canvas[1] - plan.width) // 2
    scale = 1.0 if box is None else min(box[0] / h, box[1] / w)
    for got, exact in ((plan.height, h * scale), (plan.width, w * scale)):
        assert abs(got - exact) <= 0.5 + 1e-6 or (got == 1 and exact < 1)  # each side rounded, never stretched
    if box is not None:
        assert plan.height <= box[0] and plan.width <= box[1]
        assert plan.height == box[0] or plan.width == box[1]  # the content fills the box along one side


@FEW
@given(source=st.tuples(small_side, small_side), box=st.none() | st.tuples(small_side, small_side),
       multiple=st.sampled_from([1, 8, 16]), seed=st.integers(0, 2**16))
def test_letterbox_and_back_keep_sizes_padding_and_binary_masks(source, box, multiple, seed):
    g = torch.Generator().manual_seed(seed)
    plan = plan_letterbox(source, box, multiple)
    image = torch.rand(1, 3, *source, generator=g) * 2 - 1
    mask = (torch.rand(1, 1, *source, generator=g) > 0.5).float()
    boxed = letterbox(image, plan, fill=1.0)  # (1,3,H,W)
    boxed_mask = letterbox(mask, plan, fill=0.0, mask=True)
    assert boxed.shape[-2:] == plan.canvas and boxed_mask.shape[-2:] == plan.canvas
    outside = torch.ones(plan.canvas, dtype=torch.bool)
    outside[plan.top:plan.top + plan.height, plan.left:plan.left + plan.width] = False
    assert boxed[..., outside].eq(1).all() and boxed_mask[..., outside].eq(0).all()
    back, back_mask = unletterbox(boxed, plan), unletterbox(boxed_mask, plan, mask=True)
    assert back.shape == image.shape and back_mask.shape == mask.shape and is_binary(back_mask)
    assert back.min() >= -1 - 1e-5 and back.max() <= 1 + 1e-5
    if box is None:  # no resize: the round trip is exact
        assert torch.equal(back, image) and torch.equal(back_mask, mask)


masks = st.builds(lambda h, w, seed, soft: _mask(h, w, seed, soft), small_side, small_side, st.integers(0, 2**16),
                  st.booleans())


def _mask(h: int, w: int, seed: int, soft: bool) -> torch.Tensor:
    values = torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(seed))
    return values if soft else (values > 0.6).float()


@FEW
@given(mask=masks, size=st.tuples(small_side, small_side))
def test_mask_resizing_gives_the_size_asked_and_keeps_binary_masks_binary(mask, size):
    fitted, resized = fit_mask(mask, size), resize_mask(mask, size)
    assert fitted.shape[-2:] == size and resized.shape[-2:] == size and is_binary(resized)
    assert fitted.min() >= 0 and fitted.max() <= 1
    if is_binary(mask):
        assert is_binary(fitted) and set(fitted.unique().tolist()) <= set(mask.unique().tolist())
    for constant in (torch.zeros_like(mask), torch.ones_like(mask)):  # empty and full stay so at any size
        assert torch.equal(fit_mask(constant, size), constant.new_full((1, 1, *size), float(constant.flatten()[0])))


@FEW
@given(mask=masks, a=st.integers(-6, 6), b=st.integers(-6, 6))
def test_growing_is_monotonic_and_zero_is_the_identity(mask, a, b):
    low, high = sorted((a, b))
    assert torch.equal(grow_mask(mask, 0), mask)
    grown_low, grown_high = grow_mask(mask, low), grow_mask(mask, high)
    assert grown_low.shape == mask.shape and (grown_low <= grown_high).all()
    assert (grow_mask(mask, -abs(a)) <= mask).all() and (mask <= grow_mask(mask, abs(a))).all()
    assert grown_low.min() >= mask.min() and grown_high.max() <= mask.max()  # max / min filters: no new values


@FEW
@given(mask=masks, radius=st.integers(0, 12))
def test_feathering_stays_in_range_and_keeps_constant_masks(mask, radius):
    soft = feather_mask(mask, radius)
    assert soft.shape == mask.shape and soft.min() >= mask.min() - 1e-5 and soft.max() <= mask.max() + 1e-5
    if radius == 0:
        assert torch.equal(soft, mask)
    for constant in (torch.zeros_like(mask), torch.ones_like(mask)):
        assert torch.allclose(feather_mask(constant, radius), constant)


@FEW
@given(mask=masks, size=st.tuples(small_side, small_side), grow=st.integers(-4, 4), feather=st.integers(0, 4))
def test_adjusted_masks_have_the_image_size_and_values_in_0_1(mask, size, grow, feather):
    out = adjust_mask(mask, size, grow=grow, feather=feather)
    assert out.shape[-2:] == size and out.min() >= 0 and out.max() <= 1
    if size != tuple(mask.shape[-2:]):
        with pytest.raises(InputError, match="mask_resize"):
            adjust_mask(mask, size, resize=False)


@FEW
@given(h=small_side, w=small_side, batch=st.integers(1, 3), axis=st.sampled_from(["width", "height"]),
       seed=st.integers(0, 2**16))
def test_the_canvas_doubles_one_axis_and_splits_back(h, w, batch, axis, seed):
    g = torch.Generator().manual_seed(seed)
    target, reference = (torch.rand(batch, 3, h, w, generator=g) * 2 - 1 for _ in range(2))
    mask = (torch.rand(batch, 1, h, w, generator=g) > 0.5).float()
    canvas = build_canvas(target, reference, mask, axis)
    grown = (batch, 3, h, 2 * w) if axis == "width" else (batch, 3, 2 * h, w)
    assert canvas.image.shape == grown and canvas.mask.shape == (batch, 1, *grown[2:])
    first, second = split(canvas.image, axis)
    assert torch.equal(first, target) and torch.equal(second, reference)
    mask_target, mask_reference = split(canvas.mask, axis)
    assert torch.equal(mask_target, mask) and mask_reference.eq(0).all()  # the reference half is never redrawn
    assert torch.equal(canvas.masked, canvas.image * (1 - canvas.mask))
    latent = latent_mask(canvas.mask, (max(1, grown[2] // 8), max(1, grown[3] // 8)))
    assert is_binary(latent)


@FEW
@given(task=st.sampled_from(sorted(TASKS)), model=st.tuples(st.integers(16, 600), st.integers(16, 600)),
       garment=st.tuples(st.integers(16, 600), st.integers(16, 600)),
       size=st.none() | st.tuples(st.integers(MIN_SIDE, 640), st.integers(MIN_SIDE, 640)))
def test_any2any_panels_share_the_target_height_in_whole_tokens(task, model, garment, size):
    task = TASKS[task]
    given_images = {"model": torch.zeros(1, 3, *model), "garment": torch.zeros(1, 3, *garment)}
    inputs = {part: given_images[part] for part in task.conditions}
    try:
        canvas = plan_panels(task, size=size, **inputs)
    except InputError as err:  # refused only: a size outside the LoRAs' range, or a panel under one token wide
        assert "is outside 256..2048 px per side" in str(err) or "under one 16 px token" in str(err), str(err)
        return
    height, width = canvas.target_size
    assert height % TOKEN_PX == 0 and width % TOKEN_PX == 0 and MIN_SIDE <= min(height, width)
    assert max(height, width) <= MAX_SIDE
    if size is None:
        first = inputs[task.conditions[0]].shape[-2:]
        assert (height, width) == default_size(*first)
    for part, panel in zip(task.conditions, canvas.conditions):
        assert panel.shape[-2] == height and panel.shape[-1] % TOKEN_PX == 0
        source_h, source_w = inputs[part].shape[-2:]
        if part == "model" and task.aligned:
            assert panel.shape[-1] == width  # letterboxed: pixel-aligned with the target
            assert canvas.crop_back(torch.zeros(1, 3, height, width)).shape[-2:] == (source_h, source_w)
        else:  # resized to the height with the aspect kept, then at most 15 px cropped off the width
            natural = int(source_w * height / source_h)
            assert natural - TOKEN_PX < panel.shape[-1] <= natural
    assert canvas.token_count() == sum(r * c for r, c in canvas.grids())


grids = st.tuples(st.integers(1, 12), st.integers(1, 12))


@FEW
@given(task=st.sampled_from(sorted(TASKS)), target=grids, garment=grids, model=grids)
def test_position_ids_are_unique_and_aligned_as_the_task_says(task, target, garment, model):
    task = TASKS[task]
    conditions = [target if (part == "model" and task.aligned) else (garment if part == "garment" else model)
                  for part in task.conditions]
    ids = canvas_ids(task, target, conditions)
    sizes = [r * c for r, c in [target, *conditions]]
    assert ids.shape == (sum(sizes), 3)
    assert len({tuple(row) for row in ids.tolist()}) == ids.shape[0]  # no two tokens share a position
    parts = torch.split(ids, sizes)
    assert torch.equal(parts[0], part_ids(0, target))
    for k, (part, (rows, cols), ids_k) in enumerate(zip(task.conditions, conditions, parts[1:]), start=1):
        assert ids_k[:, 1].min() == 0 and ids_k[:, 1].max() == rows - 1
        x_start = ids_k[:, 2].min().item()
        if part == "model" and task.aligned:
            assert ids_k[:, 0].eq(1).all() and torch.equal(ids_k[:, 1:], parts[0][:, 1:])  # same (y, x) as target
        else:
            assert x_start == target[1]  # continues right of the target
            assert ids_k[:, 0].eq(k).all()
    index_ids = torch.cat([part_ids(k, g) for k, g in enumerate([target, *conditions])])[None]  # ComfyUI's "index"
    assert grids_from_index_ids(index_ids[0])[0] == [target, *conditions]
    assert torch.equal(rewrite_index_ids(index_ids, task)[0], ids)
