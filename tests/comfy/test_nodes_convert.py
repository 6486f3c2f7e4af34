"""nodes/convert.py: ComfyUI IMAGE/MASK <-> TWGTM tensors (pure torch, no ComfyUI)."""
import pytest
import torch

from .comfy_env import import_pack

convert = import_pack("nodes.convert")
InputError = import_pack("twgtm.errors").InputError


def test_image_round_trip_and_ranges():
    image = torch.rand(2, 5, 7, 3)
    pixels = convert.image_to_pixels(image)
    assert pixels.shape == (2, 3, 5, 7)
    assert pixels.min() >= -1 and pixels.max() <= 1
    assert torch.allclose(pixels[:, 0], image[..., 0] * 2 - 1)
    assert torch.allclose(convert.pixels_to_image(pixels), image, atol=1e-6)


def test_image_rgba_grey_and_single_image():
    rgba = torch.rand(1, 4, 4, 4)
    assert torch.allclose(convert.image_to_pixels(rgba), convert.image_to_pixels(rgba[..., :3]))
    grey = torch.rand(1, 4, 4, 1)
    pixels = convert.image_to_pixels(grey)
    assert pixels.shape == (1, 3, 4, 4) and torch.equal(pixels[:, 0], pixels[:, 2])
    grey_alpha = torch.cat([grey, torch.rand(1, 4, 4, 1)], -1)  # 'LA': the alpha is dropped, as RGBA's
    assert torch.equal(convert.image_to_pixels(grey_alpha), pixels)
    assert convert.image_to_pixels(torch.rand(4, 6, 3)).shape == (1, 3, 4, 6)


def test_pixels_to_image_clamps_and_is_float32():
    image = convert.pixels_to_image(torch.full((1, 3, 2, 2), 3.0, dtype=torch.float64))
    assert image.dtype == torch.float32 and image.shape == (1, 2, 2, 3) and image.max() == 1


def test_image_batch_broadcast():
    assert convert.image_to_pixels(torch.rand(1, 4, 4, 3), batch_size=3).shape == (3, 3, 4, 4)
    with pytest.raises(InputError, match="batch of 2 but 3"):
        convert.image_to_pixels(torch.rand(2, 4, 4, 3), batch_size=3)


@pytest.mark.parametrize("bad", [torch.rand(1, 4, 4, 5), torch.rand(4, 4), torch.zeros(1, 4, 4, 3, dtype=torch.uint8)])
def test_bad_images_raise_input_error(bad):
    with pytest.raises(InputError, match="image"):
        convert.image_to_pixels(bad)


def test_mask_shapes_and_round_trip():
    single = torch.rand(5, 7)
    assert convert.mask_to_tensor(single).shape == (1, 1, 5, 7)
    batch = torch.rand(3, 5, 7)
    mask = convert.mask_to_tensor(batch)
    assert mask.shape == (3, 1, 5, 7)
    assert torch.equal(convert.tensor_to_mask(mask), batch)
    assert convert.mask_to_tensor(mask).shape == (3, 1, 5, 7)  # already ours: unchanged


def test_single_mask_broadcasts_to_batch():
    mask = convert.mask_to_tensor(torch.ones(5, 7), batch_size=4)
    assert mask.shape == (4, 1, 5, 7)
    with pytest.raises(InputError, match="batch of 2 but 4"):
        convert.mask_to_tensor(torch.ones(2, 5, 7), batch_size=4)


def test_bad_masks_raise_input_error():
    with pytest.raises(InputError, match="MASK"):
        convert.mask_to_tensor(torch.rand(2, 3, 5, 7))
    with pytest.raises(InputError, match="torch.Tensor"):
        convert.mask_to_tensor([[0.0]])
    with pytest.raises(InputError, match=r"\(B, 1, H, W\)"):
        convert.tensor_to_mask(torch.rand(2, 5, 7))
