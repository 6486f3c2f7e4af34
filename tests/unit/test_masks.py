"""twgtm.masks: binarize, resize, Mask2BBox, square masks, blurred masks, garment masks and body boxes."""
import pytest
import torch

from twgtm.errors import InputError
from twgtm.masks import (binarize, blur_mask, category_box, dilate, erode, garment_mask_from_probability, grown_bbox,
                         mask_to_bbox, resize_mask, square_mask)


def _blob(height=32, width=24, box=(5, 12, 4, 10)):
    """A (1, 1, H, W) mask that is 1 on rows box[0]..box[1] and columns box[2]..box[3] (inclusive)."""
    mask = torch.zeros(1, 1, height, width)
    top, bottom, left, right = box
    mask[..., top : bottom + 1, left : right + 1] = 1.0
    return mask


def test_binarize_threshold_and_dtype():
    mask = torch.tensor([0.0, 0.49, 0.5, 0.9], dtype=torch.float64).view(1, 1, 2, 2)
    out = binarize(mask)
    assert out.dtype == torch.float64
    assert out.flatten().tolist() == [0.0, 0.0, 1.0, 1.0]
    assert binarize(mask, threshold=0.95).sum() == 0


@pytest.mark.parametrize(
    "bad, words",
    [
        (torch.zeros(8, 8), "(B, 1, H, W)"),
        (torch.zeros(1, 3, 8, 8), "(B, 1, H, W)"),
        (torch.zeros(1, 1, 8, 8, dtype=torch.uint8), "floating-point"),
        ([[0, 1]], "torch.Tensor"),
    ],
)
def test_bad_masks_raise_input_error(bad, words):
    with pytest.raises(InputError, match=None) as info:
        binarize(bad)
    assert words in str(info.value)


def test_resize_mask_is_binary_and_sized():
    mask = _blob()
    out = resize_mask(mask, (64, 48))
    assert out.shape == (1, 1, 64, 48)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert out.sum().item() == pytest.approx(mask.sum().item() * 4, rel=0.2)
    down = resize_mask(mask, 16)
    assert down.shape == (1, 1, 16, 16)
    with pytest.raises(InputError, match="size"):
        resize_mask(mask, (0, 4))


def test_mask_to_bbox_fills_box_per_item_and_keeps_empty():
    first = torch.zeros(1, 1, 20, 30)
    first[0, 0, 3, 4] = 1.0  # an L shape: its box is rows 3..9, columns 4..12
    first[0, 0, 9, 4:13] = 1.0
    empty = torch.zeros(1, 1, 20, 30)
    out = mask_to_bbox(torch.cat([first, empty]))
    expected = torch.zeros(1, 1, 20, 30)
    expected[..., 3:10, 4:13] = 1.0
    assert torch.equal(out[0:1], expected)
    assert out[1].sum() == 0


def test_mask_to_bbox_margin_pixels_fraction_and_clipping():
    mask = _blob(box=(5, 14, 4, 13))  # a 10 x 10 box
    assert mask_to_bbox(mask, margin=2).sum() == 14 * 14
    assert mask_to_bbox(mask, margin=0.1).sum() == 12 * 12  # 10 % of 10 pixels per side
    assert torch.equal(mask_to_bbox(mask, margin=100), torch.ones_like(mask))
    with pytest.raises(InputError, match="margin"):
        mask_to_bbox(mask, margin=-1)
    with pytest.raises(InputError, match="margin"):
        mask_to_bbox(mask, margin="2")


def test_mask_to_bbox_binarizes_soft_input():
    mask = _blob() * 0.4
    mask[..., 20, 20] = 0.6
    out = mask_to_bbox(mask)
    assert out.sum() == 1 and out[0, 0, 20, 20] == 1


def test_dilate_and_erode_square_kernels():
    dot = torch.zeros(1, 1, 9, 9)
    dot[..., 4, 4] = 1
    assert dilate(dot, 3).sum() == 9
    assert erode(dilate(dot, 3), 3).sum() == 1
    with pytest.raises(InputError, match="odd"):
        dilate(dot, 4)


def test_square_mask_closes_gaps_then_boxes():
    mask = torch.zeros(2, 1, 24, 24)
    mask[0, 0, 4:10, 4:8] = 1  # two pieces with a gap: one box covers both
    mask[0, 0, 4:10, 10:14] = 1
    out = square_mask(mask, kernel=5)
    expected = torch.zeros(1, 1, 24, 24)
    expected[..., 4:10, 4:14] = 1
    assert torch.equal(out[0:1], expected)
    assert out[1].sum() == 0
    grown = square_mask(mask[0:1], kernel=7, erode_kernel=3)
    assert grown.sum() == (6 + 4) * (10 + 4)  # 2 more pixels per side


def test_blur_mask_is_soft_bounded_and_preserves_mass():
    mask = _blob()
    soft = blur_mask(mask, 3)
    assert soft.shape == mask.shape
    assert 0 <= soft.min() and soft.max() <= 1
    assert ((soft > 0) & (soft < 1)).any()
    assert soft.sum() == pytest.approx(mask.sum().item(), rel=1e-4)  # blob away from the border
    assert torch.equal(blur_mask(mask, 0), mask)
    with pytest.raises(InputError, match="radius"):
        blur_mask(mask, -1)


def test_grown_bbox_adds_the_fraction_then_the_pixels():
    mask = _blob(40, 40, box=(10, 19, 10, 19))  # a 10x10 box
    assert torch.equal(grown_bbox(mask), mask_to_bbox(mask))
    assert grown_bbox(mask, margin=2).sum() == 14 * 14
    assert grown_bbox(mask, margin_fraction=0.1).sum() == 12 * 12  # 1 pixel per side
    assert grown_bbox(mask, margin=2, margin_fraction=0.1).sum() == 16 * 16  # 12x12, then 2 more per side
    assert grown_bbox(torch.zeros(1, 1, 8, 8), margin=3).sum() == 0


def test_garment_mask_from_probability_threshold_soft_and_box():
    probability = torch.zeros(2, 1, 16, 12)
    probability[0, :, 3:6, 2:4] = 0.8
    probability[0, :, 10, 9] = 0.6
    probability[1, :, 4, 4] = 0.3
    hard = garment_mask_from_probability(probability)
    assert hard.sum() == 3 * 2 + 1 and set(hard.unique().tolist()) == {0.0, 1.0}
    assert garment_mask_from_probability(probability, threshold=0.7).sum() == 3 * 2
    assert torch.equal(garment_mask_from_probability(probability, threshold=0), probability)  # soft
    box = garment_mask_from_probability(probability, bbox=True)
    assert box[0].sum() == (10 - 3 + 1) * (9 - 2 + 1) and box[1].sum() == 0  # item 1 is below 0.5 everywhere
    assert garment_mask_from_probability(probability, bbox=True, margin=1)[0].sum() == 10 * 10
    with pytest.raises(InputError, match="garment probability"):
        garment_mask_from_probability(torch.zeros(16, 12))


def test_category_box_regions():
    upper, lower, dress = (category_box(c, (100, 80)) for c in ("upper", "lower", "dress"))
    assert upper.shape == (1, 1, 100, 80) and upper[0, 0, 12:62, 8:72].min() == 1 and upper.sum() == 50 * 64
    assert lower[0, 0, 45:97].sum() == lower.sum() and lower[0, 0, 44].sum() == 0
    assert dress.sum() > upper.sum() and torch.equal(dress * upper, upper)  # a dress covers the upper box
    assert torch.equal(category_box("a red shirt", (100, 80)), upper)  # free text: the upper box
    assert category_box(" Lower ", (100, 80), batch=3).shape == (3, 1, 100, 80)
