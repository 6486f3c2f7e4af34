"""twgtm.sampling.letterbox: plans, padding, the way back, garments fitted with their aspect kept."""
import pytest
import torch

from twgtm.errors import InputError
from twgtm.sampling.letterbox import Letterbox, fit_into, letterbox, plan_letterbox, resize_bilinear, round_up, unletterbox


def test_round_up_and_plans():
    assert [round_up(n, 8) for n in (1, 8, 9, 16)] == [8, 8, 16, 16]
    same = plan_letterbox((48, 32), None, 8)  # no working box: the input's size, already a multiple
    assert same == Letterbox((48, 32), (48, 32), 0, 0, 48, 32)
    odd = plan_letterbox((301, 217), None, 8)  # rounded up, content centred
    assert odd.canvas == (304, 224) and (odd.height, odd.width) == (301, 217) and (odd.top, odd.left) == (1, 3)
    wide = plan_letterbox((100, 200), (128, 96), 8)  # landscape into a portrait box: width-bound
    assert wide.canvas == (128, 96) and (wide.height, wide.width) == (48, 96) and wide.top == 40 and wide.left == 0
    with pytest.raises(InputError, match="positive"):
        plan_letterbox((0, 5), None, 8)
    with pytest.raises(InputError, match="working size"):
        plan_letterbox((5, 5), (0, 4), 8)


def test_letterbox_pads_and_unletterbox_returns_the_input():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 301, 217, generator=g) * 2 - 1
    plan = plan_letterbox((301, 217), None, 8)
    boxed = letterbox(image, plan, fill=1.0)  # (2,3,304,224)
    assert boxed.shape == (2, 3, 304, 224)
    assert boxed[:, :, 0].eq(1).all() and boxed[:, :, :, :3].eq(1).all()  # white padding
    assert torch.equal(unletterbox(boxed, plan), image)  # no resize at the native size: exact
    mask = (torch.rand(1, 1, 301, 217, generator=g) > 0.5).float()
    boxed_mask = letterbox(mask, plan, fill=0.0, mask=True)
    assert boxed_mask[:, :, 0].eq(0).all() and torch.equal(unletterbox(boxed_mask, plan, mask=True), mask)


def test_resized_masks_stay_binary_and_images_keep_their_range():
    g = torch.Generator().manual_seed(1)
    mask = (torch.rand(1, 1, 157, 83, generator=g) > 0.3).float()
    plan = plan_letterbox((157, 83), (64, 48), 8)
    small = letterbox(mask, plan, fill=0.0, mask=True)
    assert small.shape == (1, 1, 64, 48) and set(small.unique().tolist()) <= {0.0, 1.0}
    back = unletterbox(small, plan, mask=True)
    assert back.shape == (1, 1, 157, 83) and set(back.unique().tolist()) <= {0.0, 1.0}
    image = torch.rand(1, 3, 157, 83, generator=g) * 2 - 1
    out = resize_bilinear(image, (64, 31))
    assert out.shape == (1, 3, 64, 31) and out.min() >= -1 and out.max() <= 1
    assert resize_bilinear(image, (157, 83)) is image


def test_fit_into_keeps_the_aspect_and_fills_the_rest():
    garment = -torch.ones(1, 3, 90, 160)  # a black landscape garment
    fitted = fit_into(garment, (64, 48), fill=1.0)  # (1,3,64,48)
    assert fitted.shape == (1, 3, 64, 48)
    dark_rows = (fitted[0, 0] < 0).any(dim=1).nonzero().flatten()
    assert 26 <= len(dark_rows) <= 28 and dark_rows[0] > 0  # 48 * 90 / 160 = 27 rows, centred
    assert fitted[0, :, 0].eq(1).all() and fitted[0, :, -1].eq(1).all()
