"""twgtm.pixels: the value scalings, PIL/array <-> tensor, and image/mask files (grey, RGBA, masks)."""
import numpy as np
import torch
from PIL import Image

from twgtm.pixels import (array_to_mask, array_to_pixels, from_uint8, from_unit, load_image, load_mask,
                          mask_from_uint8, mask_to_uint8, pil_to_mask, pil_to_pixels, pixels_to_pil, save_image,
                          to_uint8, to_unit)

LEVELS = torch.arange(256, dtype=torch.uint8)


def test_scalings_are_inverse_and_exact_on_uint8_levels():
    pixels = from_uint8(LEVELS)
    assert pixels[0] == -1 and pixels[-1] == 1 and pixels.dtype == torch.float32
    assert torch.equal(to_uint8(pixels), LEVELS)
    assert to_uint8(torch.tensor([-5.0, 5.0])).tolist() == [0, 255]  # clamped
    assert torch.equal(mask_to_uint8(mask_from_uint8(LEVELS)), LEVELS)
    unit = torch.linspace(0, 1, 11)
    assert torch.allclose(to_unit(from_unit(unit)), unit) and to_unit(torch.tensor([-3.0, 3.0])).tolist() == [0, 1]


def test_pil_and_array_conversions(tmp_path):
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    pixels = array_to_pixels(array)  # (1,3,5,7)
    assert pixels.shape == (1, 3, 5, 7) and torch.equal(pixels, pil_to_pixels(Image.fromarray(array)))
    assert np.array_equal(np.asarray(pixels_to_pil(pixels)), array)
    assert pil_to_pixels(Image.fromarray(array), size=(10, 14)).shape == (1, 3, 10, 14)
    mask = np.zeros((5, 7), bool)
    mask[1:3, 2:5] = True
    assert torch.equal(array_to_mask(mask)[0, 0], torch.from_numpy(mask).float())
    assert torch.equal(array_to_mask(mask.astype(np.uint8) * 255), array_to_mask(mask))
    grey = Image.fromarray(mask.astype(np.uint8) * 255, "L")
    assert torch.equal(pil_to_mask(grey), array_to_mask(mask))


def test_files_grey_rgba_and_masks(tmp_path, caplog):
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :3, 3] = 255  # left half opaque red, right half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.full((4, 6), 51, np.uint8), "L").save(tmp_path / "grey.png")
    with caplog.at_level("INFO", logger="twgtm"):
        image = load_image(tmp_path / "rgba.png", "garment")
        grey = load_image(tmp_path / "grey.png", "person")
    assert "composited on white" in caplog.text and "greyscale: converted to RGB" in caplog.text
    assert torch.equal(image[0, :, :, 3:], torch.ones(3, 4, 3))  # transparent = white
    assert torch.equal(image[0, 0, :, :3], from_uint8(torch.full((4, 3), 200, dtype=torch.uint8)))
    assert torch.equal(grey, from_uint8(torch.full((1, 3, 4, 6), 51, dtype=torch.uint8)))
    mask = load_mask(tmp_path / "grey.png")
    assert mask.shape == (1, 1, 4, 6) and mask.sum() == 0  # 51/255 < 0.5
    assert torch.allclose(load_mask(tmp_path / "grey.png", binarize=False), torch.full((1, 1, 4, 6), 0.2))


def test_save_image_round_trips(tmp_path):
    pixels = from_uint8(torch.randint(0, 256, (1, 3, 6, 5), generator=torch.Generator().manual_seed(0)).byte())
    assert torch.equal(load_image(save_image(pixels, tmp_path / "sub" / "x.png")), pixels)
    mask = (torch.rand(1, 6, 5, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    assert torch.equal(load_mask(save_image(mask, tmp_path / "m.png"))[0], mask)
    assert Image.open(save_image(pixels_to_pil(pixels), tmp_path / "p.png")).size == (5, 6)


def test_wide_grey_files_are_scaled_not_clipped(tmp_path):
    Image.fromarray(np.array([[0, 25700, 65535]], np.uint16)).save(tmp_path / "deep.png")  # 16-bit grey
    Image.fromarray(np.array([[0.0, 0.4, 1.0]], np.float32), "F").save(tmp_path / "float.tiff")
    assert to_uint8(load_image(tmp_path / "deep.png"))[0, 0, 0].tolist() == [0, 100, 255]
    assert to_uint8(load_image(tmp_path / "float.tiff"))[0, 1, 0].tolist() == [0, 102, 255]
    assert load_mask(tmp_path / "deep.png")[0, 0, 0].tolist() == [0, 0, 1]
