"""Data set mode of `python -m twgtm.eval`: a tiny checkpoint sampled over a toy VITON-HD-layout tree."""
import contextlib
import io
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from twgtm.weights.checkpoint import save_checkpoint
from twgtm.data.toy import generate_toy_wardrobe
from twgtm.errors import ConfigError
from twgtm.eval import evaluate_folders
from twgtm.eval.__main__ import main as eval_main
from twgtm.eval.dataset import evaluate_dataset
from twgtm.metrics.suite import DEFAULT_METRICS, METRICS
from twgtm.model.network import build_model

SIZE = (48, 32)
DISTRIBUTION = [name for name in DEFAULT_METRICS if METRICS[name].features is not None]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A toy tree with 4 test pairs and a random tiny checkpoint; one intra-op thread while it lasts."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on shared cores: avoids OpenMP spin contention
    root = tmp_path_factory.mktemp("dataset_eval")
    data = root / "vitonhd"
    generate_toy_wardrobe(data, n=6, seed=5, size=SIZE, test_fraction=0.67)
    torch.manual_seed(0)
    checkpoint = save_checkpoint(build_model("tiny"), root / "tiny.safetensors")
    yield root, data, checkpoint
    torch.set_num_threads(threads)


def _names(folder):
    return sorted(p.stem for p in folder.glob("*.png"))


def test_paired_tryoff_cli_writes_predictions_and_report(setup):
    root, data, checkpoint = setup
    out, json_path = root / "paired_tryoff", root / "paired.json"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = eval_main(["--checkpoint", str(checkpoint), "--dataset", "vitonhd", "--data-root", str(data),
                            "--out", str(out), "--task", "tryoff", "--mode", "paired", "--size", "48x32",
                            "--steps", "2", "--batch-size", "3", "--device", "cpu", "--json", str(json_path),
                            "--no-progress"])
    assert status == 0
    persons = sorted(line.split()[0][:-4] for line in (data / "test_pairs.txt").read_text().splitlines())
    assert len(persons) == 4
    assert _names(out / "pred") == _names(out / "gt") == _names(out / "pred_mask") == persons
    for name in persons:  # paired VTOFF truth: the person's own flat garment
        assert np.array_equal(np.asarray(Image.open(out / "gt" / f"{name}.png")),
                              np.asarray(Image.open(data / "test" / "cloth" / f"{name}.png")))
        assert Image.open(out / "pred" / f"{name}.png").size == (SIZE[1], SIZE[0])
    report = json.loads((out / "report.json").read_text())
    assert json.loads(json_path.read_text()) == report
    assert report["n_pairs"] == 4 and report["mode"] == "paired" and report["task"] == "tryoff"
    assert list(report["metrics"]) == list(DEFAULT_METRICS)
    assert report["metrics"]["ssim"]["status"] == "ok" and -1 <= report["metrics"]["ssim"]["value"] <= 1
    for name in ("lpips", "dists", "dino", "fid", "kid", "clip_fid"):  # need weights: none given
        assert report["metrics"][name]["status"] == "skipped" and report["metrics"][name]["reason"]
    for name in ("ms_ssim", "cw_ssim"):  # 48×32 is below their minimum size
        assert report["metrics"][name]["status"] == "skipped" and "small" in report["metrics"][name]["reason"]
    assert 0 <= report["garment_mask_iou"]["value"] <= 1 and report["garment_mask_iou"]["n"] == 4
    assert "| ssim |" in stdout.getvalue() and "garment-mask IoU" in stdout.getvalue()
    rescored = evaluate_folders(out / "pred", out / "gt", metrics="ssim")  # the PNGs reproduce the score
    assert rescored["metrics"]["ssim"]["value"] == pytest.approx(report["metrics"]["ssim"]["value"], abs=1e-6)


def test_unpaired_tryon_scores_distribution_metrics_only(setup):
    root, data, checkpoint = setup
    out = root / "unpaired_tryon"
    report = evaluate_dataset(checkpoint, "vitonhd", data, out, task="tryon", mode="unpaired", size=SIZE,
                              steps=1, batch_size=4)
    assert report["n_pairs"] == 4 and "real_dir" in report and "garment_mask_iou" not in report
    assert _names(out / "pred") == _names(out / "real") and len(_names(out / "pred")) == 4
    assert not (out / "gt").exists() and not (out / "pred_mask").exists()
    for name in _names(out / "real"):  # unpaired VTON reference set: the real test persons
        assert np.array_equal(np.asarray(Image.open(out / "real" / f"{name}.png")),
                              np.asarray(Image.open(data / "test" / "image" / f"{name}.png")))
    for name, entry in report["metrics"].items():
        assert entry["status"] == "skipped"
        if name in DISTRIBUTION:
            assert "weights" in entry["reason"] or "not found" in entry["reason"]
        else:
            assert "unpaired" in entry["reason"]


def test_dresscode_category(setup, tmp_path):
    """A DressCode-layout copy of the toy test pairs: --category picks that category's folder."""
    root, data, checkpoint = setup
    dc = tmp_path / "dresscode"
    folders = {"upper": "upper_body", "lower": "lower_body", "dress": "dresses"}
    categories = dict(line.split()[:2] for line in (data / "categories.txt").read_text().splitlines())
    wanted = categories[sorted(p.name for p in (data / "test" / "image").glob("*.png"))[0]]
    lines = []
    for i, image in enumerate(sorted((data / "test" / "image").glob("*.png"))):
        if categories[image.name] != wanted:
            continue
        folder = dc / folders[wanted]
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "agnostic_masks").mkdir(exist_ok=True)
        Image.open(image).convert("RGB").save(folder / "images" / f"{i:06d}_0.jpg", quality=95)
        Image.open(data / "test" / "cloth" / image.name).convert("RGB").save(folder / "images" / f"{i:06d}_1.jpg")
        shutil.copy(data / "test" / "agnostic-mask" / f"{image.stem}_mask.png", folder / "agnostic_masks" / f"{i:06d}_0.png")
        lines.append(f"{i:06d}_0.jpg {i:06d}_1.jpg")
    (dc / folders[wanted] / "test_pairs_paired.txt").write_text("\n".join(lines) + "\n")
    report = evaluate_dataset(checkpoint, "dresscode", dc, tmp_path / "out", task="tryon", mode="paired",
                              category=wanted, size=SIZE, steps=1, metrics="ssim", batch_size=2)
    assert report["category"] == wanted and report["n_pairs"] == len(lines) >= 1
    assert report["metrics"]["ssim"]["status"] == "ok"


def test_mode_errors_and_stale_output(setup, tmp_path, capsys):
    root, data, checkpoint = setup
    assert eval_main(["--pred", str(tmp_path), "--checkpoint", str(checkpoint)]) == 2
    assert "not both" in capsys.readouterr().err
    assert eval_main(["--checkpoint", str(checkpoint), "--dataset", "vitonhd"]) == 2
    assert "--data-root" in capsys.readouterr().err
    assert eval_main([]) == 2
    stale = tmp_path / "out" / "pred"
    stale.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(stale / "old.png")
    with pytest.raises(ConfigError, match="--overwrite"):
        evaluate_dataset(checkpoint, "vitonhd", data, tmp_path / "out", size=SIZE, steps=1)
