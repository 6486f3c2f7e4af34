"""Toy-wardrobe checkpoint evaluation: scores and baselines of a tiny checkpoint on a tiny wardrobe."""
import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from twgtm.weights.checkpoint import save_checkpoint
from twgtm.data.toy import generate_toy_wardrobe
from twgtm.eval.baselines import garment_mean_colour, masked_person, mean_colour_fill, mean_image
from twgtm.eval.region_scores import colour_error, mask_iou, summarize
from twgtm.eval.toy import main as toy_main
from twgtm.metrics.ssim import ssim
from twgtm.model.network import build_model

SIZE = (48, 32)
N_TEST = 4


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, one_thread):
    """A 4-train / 4-test wardrobe, a random tiny checkpoint, and one CLI run: (data, stdout, report, json file)."""
    root = tmp_path_factory.mktemp("toy_eval")
    data = root / "wardrobe"
    generate_toy_wardrobe(data, n=2 * N_TEST, seed=3, size=SIZE, test_fraction=0.5)
    torch.manual_seed(0)
    checkpoint = save_checkpoint(build_model("tiny"), root / "tiny.safetensors")
    json_path = root / "report.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = toy_main(["--checkpoint", str(checkpoint), "--data", str(data), "--steps", "2",
                           "--batch-size", "4", "--json", str(json_path), "--no-progress"])
    assert status == 0
    text = out.getvalue()
    table, _, payload = text.partition("\n{")
    return data, table, json.loads("{" + payload), json_path


def _rgb(path: Path) -> torch.Tensor:
    """A PNG read by hand as (1,3,H,W) in [-1, 1]."""
    array = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return torch.from_numpy(array).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def _mask(path: Path) -> torch.Tensor:
    """A mask PNG read by hand as (1,1,H,W) in {0, 1}."""
    array = np.asarray(Image.open(path).convert("L"), dtype=np.float64) / 255.0
    return torch.from_numpy(array >= 0.5)[None, None].float()


def _test_items(data: Path):
    """(person, garment, cloth mask, inpaint mask) of every test pair, read straight from the files."""
    names = [line.split()[0] for line in (data / "test_pairs.txt").read_text().splitlines() if line.strip()]
    for name in names:
        stem = Path(name).stem
        yield (_rgb(data / "test" / "image" / name), _rgb(data / "test" / "cloth" / name),
               _mask(data / "test" / "cloth-mask" / name), _mask(data / "test" / "agnostic-mask" / f"{stem}_mask.png"))


def test_prints_table_and_json_with_every_score(toy_run):
    data, table, report, json_path = toy_run
    assert json.loads(json_path.read_text()) == report
    for label in ("VTON SSIM vs true person", "VTON colour error in mask", "VTOFF SSIM vs true garment",
                  "VTOFF garment-mask IoU", "copy input", "mean baseline"):
        assert label in table
    assert report["n"] == N_TEST and report["size"] == list(SIZE) and report["mode"] == "paired"
    assert report["repaint"] is True and "VTON repaint on" in table  # the baselines keep the outside too
    ranges = {"ssim": (-1.0, 1.0), "colour_error": (0.0, 255.0), "mask_iou": (0.0, 1.0)}
    for task, metrics in (("tryon", ("ssim", "colour_error")), ("tryoff", ("ssim", "mask_iou"))):
        for metric in metrics:
            entry = report[task][metric]
            lo, hi = ranges[metric]
            names = ("model", "copy_input", "mean") if metric != "mask_iou" else ("model", "mean")
            for name in names:
                assert entry[name]["status"] == "ok", (task, metric, name)
                assert lo <= entry[name]["value"] <= hi and entry[name]["n"] == N_TEST
                assert math.isfinite(entry[name]["std"])
    assert report["tryoff"]["mask_iou"]["copy_input"]["status"] == "skipped"


def test_baselines_equal_direct_computation(toy_run):
    data, _, report, _ = toy_run
    items = list(_test_items(data))
    # VTOFF copy: the person scored as the garment.
    copy_off = [float(ssim(person, garment)) for person, garment, _, _ in items]
    assert report["tryoff"]["ssim"]["copy_input"]["value"] == pytest.approx(np.mean(copy_off), abs=1e-5)
    # VTON copy: the person with the inpaint region mid grey.
    copy_on = [float(ssim(person * (1 - inpaint), person)) for person, _, _, inpaint in items]
    assert report["tryon"]["ssim"]["copy_input"]["value"] == pytest.approx(np.mean(copy_on), abs=1e-5)
    # VTON mean colour: by hand with numpy loops, per pair.
    errors = []
    for person, garment, cloth, inpaint in items:
        p = (person[0].numpy().transpose(1, 2, 0) + 1) * 127.5  # (H,W,3) in 0..255
        g = (garment[0].numpy().transpose(1, 2, 0) + 1) * 127.5
        colour = g[cloth[0, 0].numpy() > 0.5].mean(axis=0)  # (3,)
        inside = inpaint[0, 0].numpy() > 0.5
        errors.append(np.abs(p[inside] - colour[None, :]).mean())
    assert report["tryon"]["colour_error"]["mean"]["value"] == pytest.approx(np.mean(errors), rel=1e-4)
    # VTOFF mean garment and mean mask, from the train files.
    train = sorted((data / "train" / "cloth").glob("*.png"))
    mean_garment = torch.stack([_rgb(p)[0] for p in train]).mean(0, keepdim=True)
    mean_cloth = torch.stack([_mask(data / "train" / "cloth-mask" / p.name)[0] for p in train]).mean(0, keepdim=True)
    mean_ssim = [float(ssim(mean_garment, garment)) for _, garment, _, _ in items]
    assert report["tryoff"]["ssim"]["mean"]["value"] == pytest.approx(np.mean(mean_ssim), abs=1e-5)
    ious = []
    for _, _, cloth, _ in items:
        pred, true = mean_cloth[0, 0].numpy() >= 0.5, cloth[0, 0].numpy() > 0.5
        ious.append((pred & true).sum() / (pred | true).sum())
    assert report["tryoff"]["mask_iou"]["mean"]["value"] == pytest.approx(np.mean(ious), abs=1e-6)


def test_region_scores_known_values():
    pred = torch.zeros(2, 3, 4, 4)
    target = torch.zeros(2, 3, 4, 4)
    target[0, 0] = 1.0  # red channel off by 1.0 = 127.5 units; mean over RGB = 42.5
    mask = torch.zeros(2, 1, 4, 4)
    mask[0, :, :2] = 1
    errors = colour_error(pred, target, mask)
    assert errors[0] == pytest.approx(42.5) and torch.isnan(errors[1])
    assert summarize(errors) == {"status": "ok", "value": pytest.approx(42.5), "std": 0.0, "n": 1}
    a = torch.zeros(2, 1, 4, 4)
    b = torch.zeros(2, 1, 4, 4)
    a[0, :, :2] = 0.7  # 8 pixels above the threshold
    b[0, :, 1:3] = 1  # 8 pixels, 4 shared -> IoU 4/12
    assert mask_iou(a, b).tolist() == pytest.approx([1 / 3, 1.0])  # both empty: 1


def test_baseline_images():
    person = torch.rand(1, 3, 8, 6) * 2 - 1
    garment = torch.full((1, 3, 8, 6), 1.0)
    garment[:, :, 2:6, 1:5] = torch.tensor([0.2, -0.4, 0.6]).view(1, 3, 1, 1)
    cloth = torch.zeros(1, 1, 8, 6)
    cloth[:, :, 2:6, 1:5] = 1
    inpaint = torch.zeros(1, 1, 8, 6)
    inpaint[:, :, 3:] = 1
    assert torch.allclose(garment_mean_colour(garment, cloth).flatten(), torch.tensor([0.2, -0.4, 0.6]))
    filled = mean_colour_fill(person, inpaint, garment, cloth)
    assert torch.equal(filled[:, :, :3], person[:, :, :3])
    assert torch.allclose(filled[0, :, 5, 2], torch.tensor([0.2, -0.4, 0.6]))
    grey = masked_person(person, inpaint)
    assert torch.equal(grey[:, :, :3], person[:, :, :3]) and grey[:, :, 3:].abs().max() == 0
    assert torch.allclose(mean_image([torch.zeros(3, 2, 2), torch.ones(2, 3, 2, 2)]), torch.full((1, 3, 2, 2), 2 / 3))


def test_model_scores_do_not_depend_on_batch_size(toy_run, one_thread):
    from twgtm.eval.toy import evaluate_toy

    data, _, report, _ = toy_run
    again = evaluate_toy(report["checkpoint"], data, steps=2, batch_size=3)
    for task, metric in (("tryon", "ssim"), ("tryon", "colour_error"), ("tryoff", "ssim"), ("tryoff", "mask_iou")):
        assert again[task][metric]["model"]["value"] == pytest.approx(report[task][metric]["model"]["value"], abs=1e-3)
