"""Image files as users have them, written here by Pillow: phone photos with an EXIF orientation, CMYK,
16-bit and decompression-bomb files, through the pixel reader, the data loaders and the command line."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from twgtm.cli import main
from twgtm.data import VitonHDDataset
from twgtm.errors import DataError, InputError
from twgtm.model.network import build_model
from twgtm.pixels import EXIF_ORIENTATION, load_image, load_mask, to_uint8
from twgtm.weights.checkpoint import save_checkpoint

from .test_data import H as DATA_H, W as DATA_W, write_vitonhd

# Stored pixels of a photo whose EXIF orientation says how to show them: numpy's view of each
# orientation (EXIF 2.3, tag 0x0112) applied backwards to the upright picture.
STORED = {
    2: lambda up: up[:, ::-1],
    3: lambda up: np.rot90(up, 2),
    4: lambda up: up[::-1],
    5: lambda up: np.swapaxes(up, 0, 1),
    6: lambda up: np.rot90(up, 1),  # the phone was held upright: shown turned 90° clockwise
    7: lambda up: np.rot90(up, 2).swapaxes(0, 1),
    8: lambda up: np.rot90(up, -1),
}


def upright_picture(height: int = 40, width: int = 24) -> np.ndarray:
    """A portrait picture no turn or mirror leaves unchanged: red top-left, green top-right, blue bottom."""
    picture = np.zeros((height, width, 3), np.uint8)
    picture[: height // 2, : width // 2] = (220, 30, 30)
    picture[: height // 2, width // 2:] = (30, 200, 40)
    picture[height // 2:] = (40, 50, 210)
    return picture


def phone_photo(path: Path, upright: np.ndarray, orientation: int = 6, **save) -> Path:
    """Write `upright` as a camera does: pixels stored turned, with the EXIF tag that turns them back."""
    stored = np.ascontiguousarray(STORED[orientation](upright))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    Image.fromarray(stored).save(path, exif=exif, **save)
    return path


def as_uint8(pixels: torch.Tensor) -> np.ndarray:
    """(1,3,H,W) in [-1, 1] -> H×W×3 uint8."""
    return to_uint8(pixels)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_every_exif_orientation_comes_out_upright(tmp_path, orientation, caplog):
    upright = upright_picture()
    path = phone_photo(tmp_path / "photo.png", upright, orientation)
    assert Image.open(path).size != (upright.shape[1], upright.shape[0]) or orientation in (2, 3, 4)
    with caplog.at_level("INFO", logger="twgtm"):
        assert np.array_equal(as_uint8(load_image(path, "person")), upright)
    assert f"EXIF orientation {orientation}: turned upright to 24x40" in caplog.text
    grey = np.array(Image.fromarray(upright).convert("L"))
    mask_path = phone_photo(tmp_path / "mask.png", np.stack([grey] * 3, -1), orientation)
    assert torch.equal(load_mask(mask_path, binarize=False)[0, 0], torch.from_numpy(grey).float() / 255)


def test_a_phone_jpeg_is_read_upright(tmp_path):
    upright = upright_picture(64, 48)
    path = phone_photo(tmp_path / "IMG_0001.jpg", upright, 6, quality=95)
    assert Image.open(path).size == (64, 48)  # stored landscape, as the camera wrote it
    read = as_uint8(load_image(path)).astype(int)
    assert read.shape == (64, 48, 3) and np.abs(read - upright).mean() < 4


def test_cmyk_and_16_bit_files_keep_working(tmp_path):
    upright = upright_picture()
    rgb = Image.fromarray(upright)
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    rgb.convert("CMYK").save(tmp_path / "cmyk.tif")
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    assert np.abs(as_uint8(load_image(tmp_path / "cmyk.jpg")).astype(int) - upright).mean() < 3
    assert np.array_equal(as_uint8(load_image(tmp_path / "cmyk.tif")), np.asarray(rgb.convert("CMYK").convert("RGB")))
    grey16 = (np.arange(40 * 24, dtype=np.uint32).reshape(40, 24) * 68).astype(np.uint16)  # 0 .. 65212
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    Image.fromarray(grey16).save(tmp_path / "grey16.tif")
    expected = np.round(grey16 / 257.0).astype(np.uint8)
    for name in ("grey16.png", "grey16.tif"):
        assert Image.open(tmp_path / name).mode.startswith("I;16")
        assert np.array_equal(as_uint8(load_image(tmp_path / name))[..., 0], expected), name
    assert np.array_equal(load_mask(tmp_path / "grey16.png")[0, 0].numpy(), (expected >= 128).astype(np.float32))
    colour16 = upright.astype(np.uint16) * 257  # 48-bit RGB, as raw converters and scanners write
    write_png16(tmp_path / "rgb16.png", colour16)
    assert np.array_equal(as_uint8(load_image(tmp_path / "rgb16.png")), upright)


def write_png16(path: Path, array: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG (Pillow writes 16 bits for grey only): the chunks by hand."""
    height, width, _ = array.shape
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)  # 16 bits, colour type 2 = RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12_000, 8_000)).save(bomb)  # 96 M pixels in a file of a few kB
    assert bomb.stat().st_size < 100_000
    with pytest.raises(InputError) as caught:
        load_image(bomb, "person")
    message = str(caught.value)
    assert "12000×8000 = 96,000,000 pixels" in message and "89,478,485" in message and "decompression bomb" in message
    with pytest.raises(DataError, match="decompression bomb"):
        load_mask(bomb, error=DataError)


def test_the_data_loader_reads_a_phone_photo_upright(tmp_path):
    root = write_vitonhd(tmp_path / "vitonhd", n_train=1, n_test=1)
    upright = upright_picture(DATA_H, DATA_W)
    phone_photo(root / "train" / "image" / "000000_00.jpg", upright, 6, quality=100)
    person = VitonHDDataset(root, split="train", size=(DATA_H, DATA_W), mode="paired")[0]["person"]
    assert np.abs(as_uint8(person[None]).astype(int) - upright).mean() < 3


@pytest.mark.usefixtures("one_thread")
def test_the_command_line_reads_a_phone_photo_upright(tmp_path, caplog):
    torch.manual_seed(0)
    checkpoint = save_checkpoint(build_model("tiny"), tmp_path / "tiny.safetensors")
    person = phone_photo(tmp_path / "person.jpg", upright_picture(56, 40), 6, quality=95)  # stored 56 wide, 40 tall
    mask = np.zeros((56, 40), np.uint8)
    mask[10:40, 6:34] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")  # drawn on the upright photo
    Image.fromarray(upright_picture(30, 20)).convert("CMYK").save(tmp_path / "garment.jpg")
    with caplog.at_level("INFO", logger="twgtm"):
        rc = main(["tryon", "--person", str(person), "--garment", str(tmp_path / "garment.jpg"), "--mask",
                   str(tmp_path / "mask.png"), "--checkpoint", str(checkpoint), "--steps", "1", "--out",
                   str(tmp_path / "on.png")])
    assert rc == 0
    assert Image.open(tmp_path / "on.png").size == (40, 56)  # portrait in, portrait out
    assert "resized to the person's size" not in caplog.text  # the upright mask fits the upright person
    assert "EXIF orientation 6" in caplog.text and "mode CMYK: converted to RGB" in caplog.text
