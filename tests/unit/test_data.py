"""Data loaders (VITON-HD, DressCode), mask helpers and the toy wardrobe, on tiny trees written here."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from twgtm.data import (SAMPLE_KEYS, DressCodeDataset, VitonHDDataset, build_dataset, dilate_by_radius,
                        garment_mask_from_background)
from twgtm.data.masks import DRESSCODE_LABELS, VITONHD_LABELS, vitonhd_garment_region
from twgtm.data.toy import generate_toy_wardrobe, render_sample
from twgtm.data.toy.__main__ import main as toy_main
from twgtm.errors import ConfigError, DataError

H, W = 64, 48  # size of the images written on disk
SIZE = (32, 24)  # size the loaders resize to


# --------------------------------------------------------------------------- tree writers
def _colour(index: int) -> tuple[int, int, int]:
    """A distinct, non-white colour per index, so a test can tell which file was loaded."""
    return (40 + 50 * (index % 4), 30 + 60 * ((index // 4) % 3), 200 - 40 * (index % 5))


def _person(path: Path, index: int, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (W, H), _colour(index)).convert(mode).save(path)


def _cloth(path: Path, index: int) -> None:
    """A garment: coloured rectangle on white, with a white stripe inside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.full((H, W, 3), 255, np.uint8)
    array[10:54, 8:40] = _colour(index)
    array[30:34, 8:40] = 255  # white stripe across the garment (touches its sides, not the border)
    array[30:34, 8:10] = _colour(index)  # keep the stripe enclosed
    array[30:34, 38:40] = _colour(index)
    Image.fromarray(array).save(path, **({"quality": 100} if path.suffix == ".jpg" else {}))


def _mask_file(path: Path, box: tuple[int, int, int, int]) -> None:
    """A white-on-black mask with one rectangle (top, bottom, left, right)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.zeros((H, W), np.uint8)
    top, bottom, left, right = box
    array[top:bottom, left:right] = 255
    Image.fromarray(array).save(path)


def _label_file(path: Path, regions: dict[int, tuple[int, int, int, int]]) -> None:
    """A palette PNG of label ids with rectangles (later ones on top)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = np.zeros((H, W), np.uint8)
    for label, (top, bottom, left, right) in regions.items():
        labels[top:bottom, left:right] = label
    image = Image.fromarray(labels, mode="L").convert("P")
    image.putpalette([v for i in range(256) for v in (i, (i * 7) % 256, (i * 13) % 256)])
    image.save(path)


VITON_PARSE = {VITONHD_LABELS["upper_clothes"]: (20, 44, 14, 34), VITONHD_LABELS["left_arm"]: (20, 40, 8, 14),
               VITONHD_LABELS["right_arm"]: (20, 40, 34, 40), VITONHD_LABELS["face"]: (2, 14, 18, 30),
               VITONHD_LABELS["pants"]: (44, 64, 14, 34)}
AGNOSTIC_BOX = (16, 48, 6, 42)
CLOTH_MASK_BOX = (12, 52, 10, 38)  # differs from the drawn garment on purpose


def write_vitonhd(root: Path, n_train: int = 3, n_test: int = 3, with_agnostic: bool = True) -> Path:
    """A VITON-HD tree with the real names; person/garment i have colour i."""
    for split, offset, n in (("train", 0, n_train), ("test", 100, n_test)):
        names = [f"{offset + i:06d}_00.jpg" for i in range(n)]
        for i, name in enumerate(names):
            stem = name[:-4]
            _person(root / split / "image" / name, offset + i)
            _cloth(root / split / "cloth" / name, offset + i)
            _mask_file(root / split / "cloth-mask" / name, CLOTH_MASK_BOX)
            if with_agnostic:
                _mask_file(root / split / "agnostic-mask" / f"{stem}_mask.png", AGNOSTIC_BOX)
            _label_file(root / split / "image-parse-v3" / f"{stem}.png", VITON_PARSE)
        column = names if split == "train" else names[1:] + names[:1]
        (root / f"{split}_pairs.txt").write_text("".join(f"{a} {b}\n" for a, b in zip(names, column)))
    return root


def _mean_colour(image: torch.Tensor, mask: torch.Tensor | None = None) -> np.ndarray:
    """Mean RGB in 0..255 of a [-1, 1] image (over `mask` if given)."""
    pixels = (image + 1) * 127.5
    if mask is not None:
        return (pixels * mask).sum(dim=(1, 2)).numpy() / float(mask.sum())
    return pixels.mean(dim=(1, 2)).numpy()


def _resized_box(box, size=SIZE) -> torch.Tensor:
    array = np.zeros((H, W), np.float32)
    top, bottom, left, right = box
    array[top:bottom, left:right] = 1
    resized = np.asarray(Image.fromarray(array).resize((size[1], size[0]), Image.BILINEAR))
    return torch.from_numpy((resized >= 0.5).astype(np.float32))[None]


def _check_sample(sample: dict, size=SIZE) -> None:
    assert tuple(sample) == SAMPLE_KEYS
    h, w = size
    assert sample["person"].shape == (3, h, w) and sample["garment"].shape == (3, h, w)
    assert sample["garment_mask"].shape == (1, h, w) and sample["inpaint_mask"].shape == (1, h, w)
    for key in ("person", "garment"):
        assert sample[key].dtype == torch.float32
        assert -1.0 <= float(sample[key].min()) and float(sample[key].max()) <= 1.0
    for key in ("garment_mask", "inpaint_mask"):
        assert set(torch.unique(sample[key]).tolist()) <= {0.0, 1.0}
    prompts = {"upper": "upper garment", "lower": "lower garment", "dress": "dress"}
    assert sample["prompt"] == prompts[sample["category"]]
    assert isinstance(sample["name"], str) and sample["name"]


# --------------------------------------------------------------------------- VITON-HD
def test_vitonhd_paired_train_reads_own_garment_and_mask_files(tmp_path):
    root = write_vitonhd(tmp_path / "vitonhd")
    data = VitonHDDataset(root, split="train", size=SIZE, mode="paired")
    assert len(data) == 3
    for index in range(3):
        sample = data[index]
        _check_sample(sample)
        assert sample["name"] == f"{index:06d}_00" and sample["category"] == "upper"
        np.testing.assert_allclose(_mean_colour(sample["person"]), _colour(index), atol=3)
        inside = _resized_box((12, 28, 10, 38))  # garment rows above the white stripe
        np.testing.assert_allclose(_mean_colour(sample["garment"], inside), _colour(index), atol=3)
        assert torch.equal(sample["garment_mask"], _resized_box(CLOTH_MASK_BOX))  # the file, not derived
        assert torch.equal(sample["inpaint_mask"], _resized_box(AGNOSTIC_BOX))


def test_vitonhd_unpaired_test_takes_second_column(tmp_path):
    root = write_vitonhd(tmp_path / "vitonhd")
    paired = VitonHDDataset(root, split="test", size=SIZE, mode="paired")
    unpaired = VitonHDDataset(root, split="test", size=SIZE, mode="unpaired")
    assert len(paired) == len(unpaired) == 3
    inside = _resized_box((12, 28, 10, 38))
    for index in range(3):
        person_colour = _colour(100 + index)
        garment_colour = _colour(100 + (index + 1) % 3)
        np.testing.assert_allclose(_mean_colour(unpaired[index]["person"]), person_colour, atol=3)
        np.testing.assert_allclose(_mean_colour(unpaired[index]["garment"], inside), garment_colour, atol=3)
        np.testing.assert_allclose(_mean_colour(paired[index]["garment"], inside), person_colour, atol=3)


def test_vitonhd_catvton_pairs_file_names(tmp_path):
    root = write_vitonhd(tmp_path / "vitonhd")
    (root / "test_pairs.txt").rename(root / "test_pairs_unpaired.txt")
    data = VitonHDDataset(root, split="test", size=SIZE, mode="unpaired")
    assert data.pairs_path.name == "test_pairs_unpaired.txt" and len(data) == 3


def test_vitonhd_without_agnostic_builds_mask_from_parse(tmp_path):
    root = write_vitonhd(tmp_path / "vitonhd", with_agnostic=False)
    sample = VitonHDDataset(root, split="train", size=(H, W), mode="paired")[0]
    mask = sample["inpaint_mask"][0].numpy() > 0.5
    upper = _resized_box(VITON_PARSE[VITONHD_LABELS["upper_clothes"]], (H, W))[0].numpy() > 0.5
    arms = (_resized_box(VITON_PARSE[14], (H, W)) + _resized_box(VITON_PARSE[15], (H, W)))[0].numpy() > 0.5
    face = _resized_box(VITON_PARSE[VITONHD_LABELS["face"]], (H, W))[0].numpy() > 0.5
    assert mask[upper].all() and mask[arms].all()  # garment and arms regenerated
    assert not mask[face].any()  # face kept
    assert mask.sum() > (upper | arms).sum()  # dilated: more generous than the parse
    assert not mask[60:, :].any()  # legs / pants far below stay


def test_vitonhd_missing_masks_and_parse_names_the_path(tmp_path):
    root = write_vitonhd(tmp_path / "vitonhd", with_agnostic=False)
    (root / "train" / "image-parse-v3" / "000000_00.png").unlink()
    data = VitonHDDataset(root, split="train", size=SIZE)
    with pytest.raises(DataError) as error:
        data[0]
    message = str(error.value)
    assert "agnostic-mask" in message and "000000_00" in message and "image-parse-v3" in message


def test_vitonhd_missing_folders_and_files_raise_data_error(tmp_path):
    root = write_vitonhd(tmp_path / "vitonhd")
    with pytest.raises(DataError, match="nowhere"):
        VitonHDDataset(tmp_path / "nowhere", split="train", size=SIZE)
    (root / "train_pairs.txt").unlink()
    with pytest.raises(DataError, match="train_pairs.txt"):
        VitonHDDataset(root, split="train", size=SIZE)
    for path in (root / "test" / "cloth").iterdir():
        path.unlink()
    (root / "test" / "cloth").rmdir()
    with pytest.raises(DataError, match=str(root / "test" / "cloth")):
        VitonHDDataset(root, split="test", size=SIZE)
    write_vitonhd(root)
    (root / "test" / "image" / "000101_00.jpg").unlink()
    data = VitonHDDataset(root, split="test", size=SIZE)
    with pytest.raises(DataError, match="000101_00.jpg"):
        data[1]


def test_vitonhd_bad_arguments(tmp_path):
    root = write_vitonhd(tmp_path / "vitonhd")
    with pytest.raises(ConfigError):
        VitonHDDataset(root, split="val", size=SIZE)
    with pytest.raises(ConfigError):
        VitonHDDataset(root, split="train", size=SIZE, mode="crossed")
    with pytest.raises(ConfigError):
        VitonHDDataset(root, split="train", size=(0, 24))


def test_grey_and_rgba_images_are_converted_to_rgb(tmp_path):
    root = write_vitonhd(tmp_path / "vitonhd")
    _person(root / "train" / "image" / "000000_00.jpg", 0, mode="L")
    rgba = np.zeros((H, W, 4), np.uint8)  # transparent background, opaque red garment
    rgba[10:54, 8:40] = (200, 0, 0, 255)
    Image.fromarray(rgba, mode="RGBA").save(root / "train" / "cloth" / "000001_00.png")
    (root / "train_pairs.txt").write_text("000000_00.jpg 000000_00.jpg\n000001_00.jpg 000001_00.png\n")
    data = VitonHDDataset(root, split="train", size=SIZE, mode="unpaired")
    grey = data[0]["person"]
    assert grey.shape[0] == 3 and torch.allclose(grey[0], grey[1]) and torch.allclose(grey[1], grey[2])
    garment = data[1]["garment"]
    assert garment.shape == (3, *SIZE)
    assert torch.allclose(garment[:, 0, 0], torch.ones(3))  # transparent → white, not black
    np.testing.assert_allclose(_mean_colour(garment, _resized_box((14, 50, 12, 36))), (200, 0, 0), atol=2)


# --------------------------------------------------------------------------- flat-garment mask
def test_garment_mask_from_background_keeps_white_inside_the_garment():
    image = np.full((40, 30, 3), 250, np.uint8)  # near-white, not pure white
    image[5:35, 6:24] = (30, 90, 160)
    image[15:18, 8:22] = 255  # white lettering inside the garment
    image[0, 0] = (246, 252, 249)  # a little background noise
    mask = garment_mask_from_background(image)
    expected = np.zeros((40, 30), bool)
    expected[5:35, 6:24] = True
    assert np.array_equal(mask, expected)
    float_mask = garment_mask_from_background(image.astype(np.float32) / 255.0)
    assert np.array_equal(float_mask, expected)
    assert not garment_mask_from_background(np.full((10, 8, 3), 255, np.uint8)).any()


def test_loader_derives_garment_mask_when_cloth_mask_is_missing(tmp_path):
    root = write_vitonhd(tmp_path / "vitonhd")
    for path in (root / "train" / "cloth-mask").iterdir():
        path.unlink()
    sample = VitonHDDataset(root, split="train", size=(H, W))[0]
    expected = np.zeros((H, W), np.float32)
    expected[10:54, 8:40] = 1
    overlap = (sample["garment_mask"][0].numpy() == expected).mean()
    assert overlap > 0.98  # bicubic resize at the same size may shift an edge pixel or two
    assert sample["garment_mask"][0, 31, 20] == 1  # the enclosed white stripe is garment


def test_dilate_grows_by_radius():
    mask = np.zeros((9, 9), bool)
    mask[4, 4] = True
    grown = dilate_by_radius(mask, 2)
    assert grown.sum() == 25 and grown[2:7, 2:7].all()
    assert np.array_equal(dilate_by_radius(mask, 0), mask)


# --------------------------------------------------------------------------- DressCode
DC_FOLDERS = {"upper": "upper_body", "lower": "lower_body", "dress": "dresses"}
DC_LABELS = {DRESSCODE_LABELS["head"]: (2, 12, 18, 30), DRESSCODE_LABELS["upper_clothes"]: (14, 32, 14, 34),
             DRESSCODE_LABELS["left_arm"]: (14, 30, 8, 14), DRESSCODE_LABELS["right_arm"]: (14, 30, 34, 40),
             DRESSCODE_LABELS["pants"]: (32, 50, 14, 34), DRESSCODE_LABELS["left_leg"]: (50, 62, 14, 22),
             DRESSCODE_LABELS["right_leg"]: (50, 62, 26, 34)}
DC_DRESS_LABELS = {DRESSCODE_LABELS["head"]: (2, 12, 18, 30), DRESSCODE_LABELS["dress"]: (14, 48, 14, 34),
                   DRESSCODE_LABELS["left_arm"]: (14, 30, 8, 14), DRESSCODE_LABELS["right_arm"]: (14, 30, 34, 40),
                   DRESSCODE_LABELS["left_leg"]: (48, 62, 14, 22), DRESSCODE_LABELS["right_leg"]: (48, 62, 26, 34)}
DC_IDS = {"upper": [10, 11], "lower": [20, 21], "dress": [30, 31]}


def write_dresscode(root: Path) -> Path:
    """A DressCode tree: two ids per category, per-category and root pairs files for every split."""
    root_rows = {"train_pairs.txt": [], "test_pairs_paired.txt": [], "test_pairs_unpaired.txt": []}
    code = {"upper": 0, "lower": 1, "dress": 2}
    for category, folder in DC_FOLDERS.items():
        base = root / folder
        ids = DC_IDS[category]
        for number in ids:
            _person(base / "images" / f"{number:06d}_0.jpg", number)
            _cloth(base / "images" / f"{number:06d}_1.jpg", number + 50)
            _label_file(base / "label_maps" / f"{number:06d}_4.png",
                        DC_DRESS_LABELS if category == "dress" else DC_LABELS)
        persons = [f"{n:06d}_0.jpg" for n in ids]
        garments = [f"{n:06d}_1.jpg" for n in ids]
        files = {"train_pairs.txt": list(zip(persons, garments)),
                 "test_pairs_paired.txt": list(zip(persons, garments)),
                 "test_pairs_unpaired.txt": list(zip(persons, garments[::-1]))}
        for name, rows in files.items():
            (base / name).write_text("".join(f"{a} {b}\n" for a, b in rows))
            root_rows[name] += [f"{a} {b} {code[category]}\n" for a, b in rows]
    for name, rows in root_rows.items():
        (root / name).write_text("".join(rows))
    return root


@pytest.fixture
def dresscode(tmp_path):
    return write_dresscode(tmp_path / "DressCode")


def test_dresscode_all_categories_paired(dresscode):
    data = DressCodeDataset(dresscode, split="train", size=SIZE, mode="paired")
    assert len(data) == 6
    seen = {}
    inside = _resized_box((12, 28, 10, 38))
    for index in range(len(data)):
        sample = data[index]
        _check_sample(sample)
        number = int(sample["name"].split("_")[0])
        category = next(c for c, ids in DC_IDS.items() if number in ids)
        assert sample["category"] == category
        seen[category] = sample["prompt"]
        np.testing.assert_allclose(_mean_colour(sample["person"]), _colour(number), atol=3)
        np.testing.assert_allclose(_mean_colour(sample["garment"], inside), _colour(number + 50), atol=3)
    assert seen == {"upper": "upper garment", "lower": "lower garment", "dress": "dress"}


def test_dresscode_unpaired_test_and_category_subset(dresscode):
    data = DressCodeDataset(dresscode, split="test", size=SIZE, mode="unpaired", categories=["lower_body"])
    assert len(data) == 2 and {data[i]["category"] for i in range(2)} == {"lower"}
    inside = _resized_box((12, 28, 10, 38))
    first = data[0]
    assert first["name"] == "000020_0"
    np.testing.assert_allclose(_mean_colour(first["garment"], inside), _colour(21 + 50), atol=3)


@pytest.mark.parametrize("third_column", [True, False])
def test_dresscode_root_pairs_files(dresscode, third_column):
    if not third_column:
        for name in ("train_pairs.txt", "test_pairs_paired.txt", "test_pairs_unpaired.txt"):
            rows = (dresscode / name).read_text().splitlines()
            (dresscode / name).write_text("".join(" ".join(row.split()[:2]) + "\n" for row in rows))
    data = DressCodeDataset(dresscode, split="test", size=SIZE, mode="paired", categories=("upper", "dress"),
                            pairs="root")
    assert len(data) == 4
    assert [data.records[i]["category"] for i in range(4)] == ["upper", "upper", "dress", "dress"]
    assert data[3]["category"] == "dress" and data[3]["name"] == "000031_0"
    # "auto" falls back to the root file when a category folder lacks its own pairs file.
    (dresscode / "upper_body" / "test_pairs_paired.txt").unlink()
    auto = DressCodeDataset(dresscode, split="test", size=SIZE, mode="paired", categories=("upper", "dress"))
    assert [r["person"] for r in auto.records] == [r["person"] for r in data.records]


def test_dresscode_label_map_masks_per_category(dresscode):
    data = DressCodeDataset(dresscode, split="train", size=(H, W), mode="paired")
    masks = {data[i]["category"]: data[i]["inpaint_mask"][0].numpy() > 0.5 for i in (0, 2, 4)}

    def region(labels, name):
        return _resized_box(labels[DRESSCODE_LABELS[name]], (H, W))[0].numpy() > 0.5
    head = region(DC_LABELS, "head")
    upper, lower = masks["upper"], masks["lower"]
    assert upper[region(DC_LABELS, "upper_clothes")].all() and upper[region(DC_LABELS, "left_arm")].all()
    assert not upper[region(DC_LABELS, "pants")].any() and not upper[head].any()
    assert lower[region(DC_LABELS, "pants")].all() and lower[region(DC_LABELS, "right_leg")].all()
    assert not lower[region(DC_LABELS, "upper_clothes")].any() and not lower[head].any()
    dress = masks["dress"]
    assert dress[region(DC_DRESS_LABELS, "dress")].all() and dress[region(DC_DRESS_LABELS, "left_leg")].all()
    assert not dress[head].any()
    assert dress.sum() > region(DC_DRESS_LABELS, "dress").sum()


def test_dresscode_agnostic_mask_file_is_preferred(dresscode):
    _mask_file(dresscode / "upper_body" / "agnostic_masks" / "000010_0.png", AGNOSTIC_BOX)
    data = DressCodeDataset(dresscode, split="train", size=SIZE, categories=["upper"])
    assert torch.equal(data[0]["inpaint_mask"], _resized_box(AGNOSTIC_BOX))
    assert not torch.equal(data[1]["inpaint_mask"], _resized_box(AGNOSTIC_BOX))  # built from its label map


def test_dresscode_missing_paths_raise_data_error(dresscode, tmp_path):
    (dresscode / "dresses" / "label_maps" / "000030_4.png").unlink()
    data = DressCodeDataset(dresscode, split="train", size=SIZE, categories=["dress"])
    with pytest.raises(DataError, match="000030_4.png"):
        data[0]
    for path in (dresscode / "lower_body" / "images").iterdir():
        path.unlink()
    (dresscode / "lower_body" / "images").rmdir()
    with pytest.raises(DataError, match="lower_body"):
        DressCodeDataset(dresscode, split="train", size=SIZE)
    with pytest.raises(DataError, match="no_such_root"):
        DressCodeDataset(tmp_path / "no_such_root", split="test", size=SIZE)
    empty = tmp_path / "bare"
    (empty / "upper_body" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match="test_pairs_unpaired.txt"):
        DressCodeDataset(empty, split="test", mode="unpaired", size=SIZE, categories=["upper"])


def test_build_dataset_factory(tmp_path, dresscode):
    viton = build_dataset("vitonhd", write_vitonhd(tmp_path / "v"), split="train", size=SIZE)
    assert isinstance(viton, VitonHDDataset)
    dc = build_dataset("dresscode", dresscode, split="train", size=SIZE, categories=["dress"])
    assert isinstance(dc, DressCodeDataset) and len(dc) == 2
    with pytest.raises(ConfigError, match="vitonhd"):
        build_dataset("deepfashion", dresscode)


# --------------------------------------------------------------------------- toy wardrobe
def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy") / "wardrobe"
    summary = generate_toy_wardrobe(root, n=24, seed=3, size=(128, 96), test_fraction=0.25)
    return root, summary


def test_toy_is_deterministic_and_seed_dependent(toy, tmp_path):
    root, _ = toy
    again = tmp_path / "again"
    generate_toy_wardrobe(again, n=24, seed=3, size=(128, 96), test_fraction=0.25)
    assert _digest(root) == _digest(again)  # byte-identical
    other = tmp_path / "other"
    generate_toy_wardrobe(other, n=24, seed=4, size=(128, 96), test_fraction=0.25)
    first, second = _digest(root), _digest(other)
    assert first.keys() == second.keys()
    images = [key for key in first if key.endswith(".png")]
    assert sum(first[k] != second[k] for k in images) > 0.9 * len(images)


def test_toy_writes_the_vitonhd_layout(toy):
    root, summary = toy
    assert summary["train"] == 18 and summary["test"] == 6
    for split in ("train", "test"):
        names = [line.split()[0] for line in (root / f"{split}_pairs.txt").read_text().splitlines()]
        assert len(names) == summary[split]
        for name in names:
            for folder in ("image", "cloth", "cloth-mask", "image-parse-v3"):
                assert (root / split / folder / name).is_file()
            assert (root / split / "agnostic-mask" / name.replace(".png", "_mask.png")).is_file()
    categories = dict(line.split()[:2] for line in (root / "categories.txt").read_text().splitlines())
    assert len(categories) == 24 and set(categories.values()) <= {"upper", "lower", "dress"}


def test_toy_reads_back_with_the_vitonhd_loader(toy):
    root, _ = toy
    categories = dict(line.split()[:2] for line in (root / "categories.txt").read_text().splitlines())
    for split, mode in (("train", "paired"), ("test", "paired"), ("test", "unpaired")):
        data = build_dataset("toy", root, split=split, size=(64, 48), mode=mode)
        pairs = [line.split() for line in (root / f"{split}_pairs.txt").read_text().splitlines()]
        assert len(data) == len(pairs)
        for index in range(len(data)):
            sample = data[index]
            _check_sample(sample, (64, 48))
            garment = pairs[index][0] if mode == "paired" else pairs[index][1]
            assert sample["category"] == categories[garment]
            assert 0.05 < float(sample["garment_mask"].mean()) < 0.8
            assert 0.03 < float(sample["inpaint_mask"].mean()) < 0.8
            if mode == "unpaired":  # unpaired partners share a category
                assert categories[pairs[index][0]] == categories[pairs[index][1]]


def test_toy_garments_and_bodies_vary(toy):
    root, _ = toy
    data = VitonHDDataset(root, split="train", size=(128, 96))
    samples = [data[i] for i in range(len(data))]
    colours = np.stack([_mean_colour(s["garment"], s["garment_mask"]) for s in samples])
    assert colours.std(axis=0).mean() > 25  # garment colours differ
    masks = torch.stack([s["garment_mask"] for s in samples]).flatten(1)
    inter = masks @ masks.T
    union = masks.sum(1)[:, None] + masks.sum(1)[None] - inter
    iou = (inter / union)[~torch.eye(len(samples), dtype=torch.bool)]
    assert float(iou.mean()) < 0.8  # garment shapes differ
    persons = torch.stack([s["person"] for s in samples])
    assert float((persons - persons.mean(0)).abs().mean()) > 0.15  # bodies / backgrounds differ
    assert len({s["category"] for s in samples}) == 3
    # The flat garment differs from the worn one: the person is not a copy of the product photo.
    assert all(float((s["person"] - s["garment"]).abs().mean()) > 0.1 for s in samples)
    # The agnostic mask covers the garment on the person: masked pixels differ most from the background.
    for s in samples:
        assert float(s["inpaint_mask"].sum()) > 0.5 * float(s["garment_mask"].sum()) / (1.7 ** 2)


def test_toy_parse_map_says_what_each_pixel_shows(toy):
    root, _ = toy
    categories = {name: line.split() for line in (root / "categories.txt").read_text().splitlines()
                  for name in line.split()[:1]}
    garment_label = {"tee": 5, "long_sleeve": 5, "tank": 5, "dress": 6, "skirt": 12, "trousers": 9}
    columns = np.arange(96)[None].repeat(128, axis=0)
    closer = 0
    names = sorted(p.name for p in (root / "train" / "image").iterdir())
    for name in names:
        labels = np.asarray(Image.open(root / "train" / "image-parse-v3" / name))
        assert labels.shape == (128, 96) and set(np.unique(labels)) <= set(VITONHD_LABELS.values())
        _, category, template = categories[name]
        worn = labels == garment_label[template]
        agnostic = np.asarray(Image.open(root / "train" / "agnostic-mask" / name.replace(".png", "_mask.png"))) > 127
        assert worn.sum() > 20 and (worn & ~agnostic).sum() <= 0.01 * worn.sum()  # the garment lies in the mask
        for part in ("face", "hair", "left_arm", "right_arm", "background"):
            assert (labels == VITONHD_LABELS[part]).any(), (name, part)
        # The person faces the camera: their left arm is on the image's right.
        assert columns[labels == VITONHD_LABELS["left_arm"]].mean() > columns[labels == VITONHD_LABELS["right_arm"]].mean()
        # The worn region shows the flat garment's colours; the rest of the inpaint mask (skin, background) does not.
        person = np.asarray(Image.open(root / "train" / "image" / name).convert("RGB")).astype(np.float64)
        cloth = np.asarray(Image.open(root / "train" / "cloth" / name).convert("RGB")).astype(np.float64)
        cloth_colour = cloth[np.asarray(Image.open(root / "train" / "cloth-mask" / name)) > 127].mean(axis=0)
        closer += (np.abs(person[worn].mean(axis=0) - cloth_colour).mean()
                   < np.abs(person[agnostic & ~worn].mean(axis=0) - cloth_colour).mean())
    assert closer >= 0.75 * len(names)


def test_loader_gives_the_garment_region_from_the_parse_map(tmp_path, toy):
    root = write_vitonhd(tmp_path / "vitonhd")
    plain = VitonHDDataset(root, split="train", size=SIZE)[0]
    _check_sample(plain)  # not asked for: the sample keys stay as they were
    sample = VitonHDDataset(root, split="train", size=SIZE, garment_region=True)[0]
    assert tuple(sample) == SAMPLE_KEYS + ("garment_region",)
    assert torch.equal(sample["garment_region"], _resized_box(VITON_PARSE[VITONHD_LABELS["upper_clothes"]]))
    labels = np.zeros((4, 4), np.uint8)
    labels[0, :2] = VITONHD_LABELS["pants"]
    labels[1, :2] = VITONHD_LABELS["skirt"]
    labels[2] = VITONHD_LABELS["upper_clothes"]
    labels[3] = VITONHD_LABELS["dress"]
    assert vitonhd_garment_region(labels, "lower").sum() == 4 and vitonhd_garment_region(labels, "dress").sum() == 4
    assert vitonhd_garment_region(labels, "upper").sum() == 8  # upper clothes and dress, as HR-VITON groups them
    (root / "train" / "image-parse-v3" / "000001_00.png").unlink()
    with pytest.raises(DataError, match="000001_00.png") as error:
        VitonHDDataset(root, split="train", size=SIZE, garment_region=True)[1]
    assert "image-parse-v3" in str(error.value)
    # The toy wardrobe through the factory: the region read back is the parse map's garment label.
    toy_root, _ = toy
    data = build_dataset("toy", toy_root, split="test", size=(128, 96), garment_region=True)
    categories = {line.split()[0]: line.split()[2] for line in (toy_root / "categories.txt").read_text().splitlines()}
    garment_label = {"tee": 5, "long_sleeve": 5, "tank": 5, "dress": 6, "skirt": 12, "trousers": 9}
    for index in range(len(data)):
        item = data[index]
        labels = np.asarray(Image.open(toy_root / "test" / "image-parse-v3" / f"{item['name']}.png"))
        expected = torch.from_numpy(labels == garment_label[categories[f"{item['name']}.png"]]).float()[None]
        assert torch.equal(item["garment_region"], expected)


def test_toy_cloth_mask_is_the_true_mask(toy):
    root, _ = toy
    name = sorted((root / "train" / "cloth").iterdir())[0].name
    cloth = np.asarray(Image.open(root / "train" / "cloth" / name).convert("RGB")).astype(np.int32)
    mask = np.asarray(Image.open(root / "train" / "cloth-mask" / name)) > 127
    assert mask.any() and not mask.all()
    outside = ~dilate_by_radius(mask, 1)  # skip the anti-aliased edge
    assert (cloth[outside] >= 240).all()  # near-white background outside
    assert (np.abs(cloth[mask] - cloth[~mask].mean(0)).max(axis=1) > 30).mean() > 0.7


def test_toy_other_sizes_and_cli(tmp_path, capsys):
    big = render_sample(7, 0, (256, 192))
    assert big["person"].shape == (256, 192, 3) and big["cloth"].shape == (256, 192, 3)
    assert big["cloth_mask"].shape == (256, 192) and big["agnostic_mask"].shape == (256, 192)
    assert toy_main(["--out", str(tmp_path / "cli"), "--n", "4", "--seed", "1", "--size", "64x48",
                     "--test-fraction", "0.25"]) == 0
    assert '"train": 3' in capsys.readouterr().out
    sample = VitonHDDataset(tmp_path / "cli", split="test", size=(64, 48))[0]
    assert sample["person"].shape == (3, 64, 48)
    with pytest.raises(ConfigError):
        generate_toy_wardrobe(tmp_path / "bad", n=0)
