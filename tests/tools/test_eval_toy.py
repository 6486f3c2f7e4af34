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

from twgtm.weights.checkpoint import load_checkpoint, save_checkpoint
from twgtm.data.toy import generate_toy_wardrobe
from twgtm.errors import DataError, InputError
from twgtm.eval.baselines import garment_mean_colour, masked_person, mean_colour_fill, mean_image
from twgtm.eval.region_scores import colour_error, mask_iou, mean_colour_error, region_mean_colour, region_ssim, summarize
from twgtm.eval.sensitivity import (SOLID_COLOURS, colour_slope, colour_table, probe_person, probe_tryoff, recognised,
                                    solid_garments)
from twgtm.eval.toy import evaluate_toy
from twgtm.eval.toy import main as toy_main
from twgtm.metrics.ssim import ssim
from twgtm.model.network import build_model

SIZE = (48, 32)
N_TEST = 4
PROBE_PERSONS = 2
GARMENT_LABELS = {"upper": (5, 6, 7), "dress": (6,), "lower": (9, 12)}  # VITON-HD parse ids of a worn garment


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
        status = toy_main(["--checkpoint", str(checkpoint), "--data", str(data), "--steps", "2", "--batch-size", "4",
                           "--sensitivity-persons", str(PROBE_PERSONS), "--json", str(json_path), "--no-progress"])
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


def _region(data: Path, name: str) -> torch.Tensor:
    """The garment region (1,1,H,W) of test person `name`, read by hand from its parse map and category."""
    categories = dict(line.split()[:2] for line in (data / "categories.txt").read_text().splitlines())
    labels = np.asarray(Image.open(data / "test" / "image-parse-v3" / name))
    return torch.from_numpy(np.isin(labels, GARMENT_LABELS[categories[name]]))[None, None].float()


def _test_items(data: Path):
    """(person, garment, cloth mask, inpaint mask, garment region) of every test pair, read straight from the files."""
    names = [line.split()[0] for line in (data / "test_pairs.txt").read_text().splitlines() if line.strip()]
    for name in names:
        stem = Path(name).stem
        yield (_rgb(data / "test" / "image" / name), _rgb(data / "test" / "cloth" / name),
               _mask(data / "test" / "cloth-mask" / name), _mask(data / "test" / "agnostic-mask" / f"{stem}_mask.png"),
               _region(data, name))


def test_prints_table_and_json_with_every_score(toy_run):
    data, table, report, json_path = toy_run
    assert json.loads(json_path.read_text()) == report
    assert "| score | model | copy input | mean baseline | VAE round trip | |" in table
    for label in ("VTON SSIM vs true person", "VTON colour error in mask", "VTON SSIM in garment region",
                  "VTON colour error in garment region", "VTON garment sensitivity: slope", "VTON solid colours recognised",
                  "VTOFF SSIM vs true garment", "VTOFF garment mean-colour error", "VTOFF garment-mask IoU",
                  "copy input", "mean baseline"):
        assert label in table
    assert report["n"] == N_TEST and report["size"] == list(SIZE) and report["mode"] == "paired"
    assert report["repaint"] is True and "VTON repaint on" in table  # the baselines keep the outside too
    ranges = {"ssim": (-1.0, 1.0), "colour_error": (0.0, 255.0), "garment_ssim": (-1.0, 1.0),
              "garment_colour_error": (0.0, 255.0), "sensitivity_slope": (-5.0, 5.0), "colours_recognised": (0.0, 1.0),
              "mean_colour_error": (0.0, 255.0), "mask_iou": (0.0, 1.0)}
    for task, metrics in (("tryon", ("ssim", "colour_error", "garment_ssim", "garment_colour_error",
                                     "sensitivity_slope", "colours_recognised")),
                          ("tryoff", ("ssim", "mean_colour_error", "mask_iou"))):
        for metric in metrics:
            entry = report[task][metric]
            lo, hi = ranges[metric]
            count = PROBE_PERSONS if metric in ("sensitivity_slope", "colours_recognised") else N_TEST
            names = ("model", "copy_input", "mean", "vae_round_trip") if metric != "mask_iou" else ("model", "mean")
            for name in names:
                assert entry[name]["status"] == "ok", (task, metric, name)
                assert lo <= entry[name]["value"] <= hi and entry[name]["n"] == count
                assert math.isfinite(entry[name]["std"])
    assert report["tryoff"]["mask_iou"]["copy_input"]["status"] == "skipped"
    assert report["tryoff"]["mask_iou"]["vae_round_trip"]["status"] == "skipped"
    probe = report["sensitivity"]
    assert probe["persons"] == PROBE_PERSONS and list(probe["colours"]) == list(SOLID_COLOURS)
    assert len(probe["mean_colours"]) == PROBE_PERSONS
    assert all(set(colours) == set(SOLID_COLOURS) for colours in probe["mean_colours"].values())


def test_baselines_equal_direct_computation(toy_run):
    data, _, report, _ = toy_run
    items = list(_test_items(data))
    # VTOFF copy: the person scored as the garment.
    copy_off = [float(ssim(person, garment)) for person, garment, _, _, _ in items]
    assert report["tryoff"]["ssim"]["copy_input"]["value"] == pytest.approx(np.mean(copy_off), abs=1e-5)
    # VTON copy: the person with the inpaint region mid grey.
    copy_on = [float(ssim(person * (1 - inpaint), person)) for person, _, _, inpaint, _ in items]
    assert report["tryon"]["ssim"]["copy_input"]["value"] == pytest.approx(np.mean(copy_on), abs=1e-5)
    # VTON mean colour, in the whole mask and in the garment region: by hand with numpy, per pair.
    errors, garment_errors, grey_errors = [], [], []
    for person, garment, cloth, inpaint, region in items:
        p = (person[0].numpy().transpose(1, 2, 0) + 1) * 127.5  # (H,W,3) in 0..255
        g = (garment[0].numpy().transpose(1, 2, 0) + 1) * 127.5
        colour = g[cloth[0, 0].numpy() > 0.5].mean(axis=0)  # (3,)
        inside, worn = inpaint[0, 0].numpy() > 0.5, region[0, 0].numpy() > 0.5
        assert worn.any() and not (worn & ~inside).any()  # the garment shows only where the model paints
        errors.append(np.abs(p[inside] - colour[None, :]).mean())
        garment_errors.append(np.abs(p[worn] - colour[None, :]).mean())
        grey_errors.append(np.abs(p[worn] - 127.5).mean())  # the copy baseline is mid grey there
    assert report["tryon"]["colour_error"]["mean"]["value"] == pytest.approx(np.mean(errors), rel=1e-4)
    assert report["tryon"]["garment_colour_error"]["mean"]["value"] == pytest.approx(np.mean(garment_errors), rel=1e-4)
    assert report["tryon"]["garment_colour_error"]["copy_input"]["value"] == pytest.approx(np.mean(grey_errors), rel=1e-4)
    # VTOFF mean garment and mean mask, from the train files.
    train = sorted((data / "train" / "cloth").glob("*.png"))
    mean_garment = torch.stack([_rgb(p)[0] for p in train]).mean(0, keepdim=True)
    mean_cloth = torch.stack([_mask(data / "train" / "cloth-mask" / p.name)[0] for p in train]).mean(0, keepdim=True)
    mean_ssim = [float(ssim(mean_garment, garment)) for _, garment, _, _, _ in items]
    assert report["tryoff"]["ssim"]["mean"]["value"] == pytest.approx(np.mean(mean_ssim), abs=1e-5)
    # VTOFF mean-colour error of the mean garment: its mean colour over each true cloth mask against the garment's.
    colour_errors = []
    for _, garment, cloth, _, _ in items:
        inside = cloth[0, 0].numpy() > 0.5
        truth = ((garment[0].numpy().transpose(1, 2, 0) + 1) * 127.5)[inside].mean(axis=0)
        guess = ((mean_garment[0].numpy().transpose(1, 2, 0) + 1) * 127.5)[inside].mean(axis=0)
        colour_errors.append(np.abs(truth - guess).mean())
    assert report["tryoff"]["mean_colour_error"]["mean"]["value"] == pytest.approx(np.mean(colour_errors), rel=1e-4)
    ious = []
    for _, _, cloth, _, _ in items:
        pred, true = mean_cloth[0, 0].numpy() >= 0.5, cloth[0, 0].numpy() > 0.5
        ious.append((pred & true).sum() / (pred | true).sum())
    assert report["tryoff"]["mask_iou"]["mean"]["value"] == pytest.approx(np.mean(ious), abs=1e-6)


def test_vae_round_trip_column_is_the_truth_through_the_checkpoints_vae(toy_run):
    data, _, report, _ = toy_run
    model = load_checkpoint(data.parent / "tiny.safetensors").eval()
    on, off, on_ssim = [], [], []
    for person, garment, _, inpaint, region in _test_items(data):
        with torch.no_grad():  # by hand: the whole [target | reference] canvas, its left half
            decoded = model.decode(model.encode(torch.cat([person, garment], dim=-1)))[..., :person.shape[-1]]
            flat = model.decode(model.encode(torch.cat([garment, person], dim=-1)))[..., :garment.shape[-1]]
        dressed = decoded * inpaint + person * (1 - inpaint)  # repaint keeps the truth outside the mask
        on.append(float(colour_error(dressed, person, region)))
        on_ssim.append(float(ssim(dressed, person)))
        off.append(float(ssim(flat, garment)))
    vae = "vae_round_trip"
    assert report["tryon"]["garment_colour_error"][vae]["value"] == pytest.approx(np.mean(on), rel=1e-4)
    assert report["tryon"]["ssim"][vae]["value"] == pytest.approx(np.mean(on_ssim), abs=1e-5)
    assert report["tryoff"]["ssim"][vae]["value"] == pytest.approx(np.mean(off), abs=1e-5)


def test_sensitivity_baselines_span_ignored_to_worn(toy_run):
    _, _, report, _ = toy_run
    slope, recognised_share = report["tryon"]["sensitivity_slope"], report["tryon"]["colours_recognised"]
    # The masked person paints every colour the same mid grey: the garment is ignored.
    assert slope["copy_input"]["value"] == pytest.approx(0.0, abs=1e-9) and slope["copy_input"]["std"] == 0.0
    assert recognised_share["copy_input"]["value"] <= 1 / len(SOLID_COLOURS) + 1e-6  # one colour at most
    # Filling the region with the reference's own colour wears it exactly.
    assert slope["mean"]["value"] == pytest.approx(1.0, abs=1e-4) and recognised_share["mean"]["value"] == 1.0
    # Try-off: the mean garment is the same whatever the person wears; the flat garment in the worn
    # colour through the VAE takes it off (up to the tiny random VAE's blur, so only its sign is known).
    off_slope, off_share = report["tryoff"]["sensitivity_slope"], report["tryoff"]["colours_recognised"]
    assert off_slope["mean"]["value"] == pytest.approx(0.0, abs=1e-9) and off_slope["mean"]["std"] == 0.0
    assert off_share["mean"]["value"] <= 1 / len(SOLID_COLOURS) + 1e-6
    assert off_slope["model"]["status"] == "ok" and off_slope["copy_input"]["status"] == "ok"
    assert len(report["sensitivity"]["tryoff_mean_colours"]) == report["sensitivity"]["persons"]


def test_tryoff_probe_with_perfect_and_blind_undressers():
    """The try-off probe: returning the true flat garment in the worn colour scores 1; a fixed output scores 0."""
    names, colours = colour_table(None)
    person = torch.zeros(1, 3, 16, 12)
    region = torch.zeros(1, 1, 16, 12)
    region[..., 4:10, 3:9] = 1
    cloth = torch.zeros(1, 1, 16, 12)
    cloth[..., 2:14, 2:10] = 1
    garment = torch.ones(1, 3, 16, 12)
    perfect = probe_tryoff(lambda persons: solid_garments(garment, cloth, colours), person, region, cloth, colours)
    assert perfect["slope"] == pytest.approx(1.0) and bool(perfect["recognised"].all())
    blind = probe_tryoff(lambda persons: garment.expand(len(names), -1, -1, -1), person, region, cloth, colours)
    assert blind["slope"] == pytest.approx(0.0) and int(blind["recognised"].sum()) <= 1


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
    # Mean colour in a region and its error: rows 1-2 of a white-over-black image average to 127.5.
    image = torch.full((1, 3, 4, 4), -1.0)
    image[:, :, :2] = 1.0
    rows = torch.zeros(1, 1, 4, 4)
    rows[..., 1:3, :] = 1
    assert region_mean_colour(image, rows)[0].tolist() == [127.5] * 3
    assert torch.isnan(region_mean_colour(image, torch.zeros_like(rows))).all()
    assert mean_colour_error(image, torch.full_like(image, -1.0), rows).tolist() == [127.5]
    # SSIM read out in a region: 1 where the 11-pixel window sees identical images, the plain SSIM over all pixels.
    torch.manual_seed(0)
    target = torch.rand(2, 3, 16, 16) * 2 - 1
    pred = target.clone()
    pred[..., 8:] = torch.rand(2, 3, 16, 8) * 2 - 1  # the right half differs
    left = torch.zeros(2, 1, 16, 16)
    left[..., :3] = 1  # columns 0-2: more than the window radius (5) from the change
    assert region_ssim(pred, target, left).tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    assert region_ssim(pred, target, torch.ones_like(left)).tolist() == pytest.approx(ssim(pred, target).tolist(), abs=1e-6)
    right = torch.zeros_like(left)
    right[..., 10:] = 1
    assert (region_ssim(pred, target, right) < 0.5).all()


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
    data, _, report, _ = toy_run
    again = evaluate_toy(report["checkpoint"], data, steps=2, batch_size=3, sensitivity_persons=0)
    for task, metric in (("tryon", "ssim"), ("tryon", "colour_error"), ("tryon", "garment_ssim"),
                         ("tryon", "garment_colour_error"), ("tryoff", "ssim"), ("tryoff", "mean_colour_error"),
                         ("tryoff", "mask_iou")):
        assert again[task][metric]["model"]["value"] == pytest.approx(report[task][metric]["model"]["value"], abs=1e-3)
    assert again["tryon"]["sensitivity_slope"]["model"]["status"] == "skipped"  # --sensitivity-persons 0


def test_wardrobe_without_parse_maps_is_an_error_that_says_so(toy_run, tmp_path):
    import shutil

    data, _, report, _ = toy_run
    old = tmp_path / "old_wardrobe"
    shutil.copytree(data, old)
    shutil.rmtree(old / "test" / "image-parse-v3")
    with pytest.raises(DataError, match="image-parse-v3") as error:
        evaluate_toy(report["checkpoint"], old, steps=1, n=1)
    assert "python -m twgtm.data.toy" in str(error.value)


def test_colour_slope_and_recognition_on_hand_made_colours():
    names, references = colour_table()  # (K,3) in 0..255
    assert names == list(SOLID_COLOURS) and references.shape == (6, 3)
    assert colour_slope(references, references) == pytest.approx(1.0)  # worn exactly
    assert recognised(references, references).all()
    constant = torch.full_like(references, 128.0)
    assert colour_slope(references, constant) == pytest.approx(0.0)  # reference ignored
    assert recognised(references, constant).sum() <= 1  # at most the one colour nearest to grey
    # Half the contrast around any offset: slope 0.5. By hand for two colours on one channel pair:
    two = torch.tensor([[0.0, 0.0, 0.0], [100.0, 200.0, 0.0]])
    halved = torch.tensor([[10.0, 20.0, 30.0], [60.0, 120.0, 30.0]])
    # x centred: ±(50, 100, 0); y centred: ±(25, 50, 0); slope = (2·(50·25 + 100·50)) / (2·(50² + 100²)) = 0.5
    assert colour_slope(two, halved) == pytest.approx(0.5)
    assert colour_slope(references, 0.5 * references + 40.0) == pytest.approx(0.5)
    # Swapped outputs: red drawn for green and green for red -> neither is recognised, the rest are.
    swapped = references.clone()
    swapped[[0, 1]] = references[[1, 0]]
    assert recognised(references, swapped).tolist() == [False, False, True, True, True, True]
    with pytest.raises(InputError):
        colour_slope(torch.ones(3, 3), torch.ones(3, 3))  # no spread of reference colours
    with pytest.raises(InputError):
        colour_table(["red", "mauve"])


def test_probe_person_with_perfect_and_blind_dressers():
    garment = torch.ones(1, 3, 12, 10)  # a white page ...
    cloth = torch.zeros(1, 1, 12, 10)
    cloth[..., 2:9, 3:8] = 1  # ... with a 7×5 garment silhouette
    _, colours = colour_table(["red", "blue", "white"])
    garments = solid_garments(garment, cloth, colours)
    assert garments.shape == (3, 3, 12, 10)
    assert torch.allclose(garments[0, :, 5, 5], torch.tensor([220, 40, 40]) / 127.5 - 1)  # inside: the colour
    assert torch.equal(garments[:, :, 0, 0], torch.ones(3, 3))  # outside: the page is kept
    region = torch.zeros(1, 1, 12, 10)
    region[..., 4:10, 2:6] = 1  # where the garment shows on the "person"
    person = torch.zeros(3, 3, 12, 10)

    def perfect(worn):  # paints each garment's own colour into the region
        fill = (region_mean_colour(worn, cloth.expand(3, -1, -1, -1)) / 127.5 - 1).view(3, 3, 1, 1)
        return person * (1 - region) + fill * region

    good = probe_person(perfect, garment, cloth, region, colours)
    assert good["slope"] == pytest.approx(1.0) and good["recognised"].all()
    assert torch.allclose(good["mean_colours"], colours, atol=1e-3)
    blind = probe_person(lambda worn: person, garment, cloth, region, colours)  # mid grey whatever it is given
    assert blind["slope"] == pytest.approx(0.0) and blind["mean_colours"][0].tolist() == [127.5] * 3
    with pytest.raises(InputError):
        probe_person(perfect, garment, cloth, torch.zeros(1, 1, 12, 10), colours)  # empty region
