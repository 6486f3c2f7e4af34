"""Each project's Pillow pre-processing (twgtm/families/preprocess.py) and the way back to the person's frame."""
import numpy as np
import torch
from PIL import Image

from twgtm.families import preprocess as pp


def _gradient(w, h):
    yy, xx = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([xx * 255 // max(1, w - 1), yy * 255 // max(1, h - 1), (xx ^ yy) & 255], -1).astype(np.uint8))


def test_catvton_crops_the_person_to_the_working_aspect_and_pads_the_garment_with_white():
    assert pp.aspect_crop_box(300, 900, (1024, 768)) == (0, 250, 300, 650)  # tall: rows cropped, centred
    assert pp.aspect_crop_box(900, 300, (1024, 768)) == (337, 0, 562, 300)  # wide: columns cropped (225 wide)
    person = _gradient(300, 900)
    cropped = pp.crop_resize(person, (128, 96))
    assert cropped.size == (96, 128)
    expected = person.crop((0, 250, 300, 650)).resize((96, 128), Image.LANCZOS)
    assert np.array_equal(np.array(cropped), np.array(expected))
    garment = pp.fit_on_white(_gradient(200, 100), (128, 96))  # wide garment: fitted to the width, centred in height
    page = np.array(garment)
    assert garment.size == (96, 128) and (page[:40] == 255).all() and (page[88:] == 255).all()
    assert not (page[45:83] == 255).all()


def test_catvton_mask_blur_rounds_the_corners_before_binarizing():
    mask = Image.fromarray(np.pad(np.full((60, 40), 255, np.uint8), 30), "L")
    hard = pp.binary_mask(mask)
    soft = pp.binary_mask(pp.soften(mask))
    assert hard[0, 30, 30] == 1 and soft[0, 30, 30] == 0  # the corner is cut
    assert soft[0, 60, 50] == 1 and soft.sum() < hard.sum()
    assert torch.equal(pp.binary_mask(pp.soften(mask, 0)), hard)


def test_pixel_scalings_are_each_projects():
    image = Image.fromarray(np.array([[[0, 128, 255]]], np.uint8))
    cat = pp.catvton_pixels(image)[:, 0, 0]
    proc = pp.processor_pixels(image)[:, 0, 0]
    assert torch.equal(cat, torch.tensor([0, 128, 255]).float() / 127.5 - 1.0)
    assert torch.equal(proc, 2.0 * (torch.from_numpy(np.array([0, 128, 255], np.float32) / 255.0)) - 1.0)
    grey = Image.fromarray(np.array([[127, 128]], np.uint8), "L")
    assert pp.binary_mask(grey).tolist() == [[[0.0, 1.0]]]  # 127/255 < 0.5 <= 128/255


def test_tryoffanyone_resizes_plainly_with_pillows_default():
    person = _gradient(150, 210)
    assert np.array_equal(np.array(pp.plain_resize(person, (64, 48))), np.array(person.resize((48, 64), Image.BICUBIC)))
    mask = Image.fromarray(np.pad(np.full((100, 60), 255, np.uint8), 20), "L")
    assert np.array_equal(np.array(pp.processor_mask_resize(mask, (70, 50))), np.array(mask.resize((50, 70), Image.LANCZOS)))


def test_results_go_back_into_the_crop_box():
    person = _gradient(80, 200)
    place = pp.CropPlacement(pp.aspect_crop_box(80, 200, (128, 64)), person)
    result = Image.new("RGB", (64, 128), (10, 20, 30))
    back = np.array(place.image(result))
    left, top, right, bottom = place.box
    assert back.shape == (200, 80, 3) and (back[top:bottom] == [10, 20, 30]).all()
    assert np.array_equal(back[:top], np.array(person)[:top]) and np.array_equal(back[bottom:], np.array(person)[bottom:])
    mask = np.array(place.mask(Image.new("L", (64, 128), 255)))
    assert (mask[top:bottom] == 255).all() and not mask[:top].any()


def test_catvton_repaint_blends_through_a_blur_of_h_over_50():
    person = Image.new("RGB", (64, 200), (200, 0, 0))
    result = Image.new("RGB", (64, 200), (0, 0, 200))
    mask = Image.fromarray(np.pad(np.full((100, 64), 255, np.uint8), ((50, 50), (0, 0))), "L")
    out = np.array(pp.catvton_repaint(person, mask, result))
    assert (out[:30] == [200, 0, 0]).all() and (out[70:130] == [0, 0, 200]).all()  # radius 200 // 50 = 4 -> 5
    assert 0 < out[50, 0, 2] < 200  # the soft edge
