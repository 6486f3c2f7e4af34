"""`python -m twgtm batch` (in process) on every model family: the CatVTON / TryOffAnyone profiles with mask auto
and as a round-trip pair, Any2AnyTryon's four tasks, TWGTM from folders; an item equals the CLI's image of the
same seed; one model load per process; a batch that raises goes on item by item."""
import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from twgtm.batch import job as batch_job
from twgtm.batch.manifest import id_seed
from twgtm.cli import main
from twgtm.errors import InputError
from twgtm.model.network import build_model
from twgtm.weights.checkpoint import save_checkpoint

from ..support.a2a_tiny import write_flux_folder
from ..support.profile_files import (random_modules, write_base_file, write_catvton_file, write_tiny_parser,
                                     write_tryoffanyone_file)

H, W = 150, 70  # the narrow profile models sample it at 128x64
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    d = tmp_path_factory.mktemp("batch_families")
    unet, vae = random_modules(2)
    write_base_file(d / "sd15-inpainting.safetensors", unet, vae)
    write_catvton_file(d / "catvton.safetensors")
    write_tryoffanyone_file(d / "tryoffanyone.safetensors")
    write_tiny_parser(d / "parser", "Upper-clothes")
    torch.manual_seed(0)
    save_checkpoint(build_model("tiny"), d / "tiny.safetensors")
    rng = np.random.default_rng(1)
    for folder in ("persons", "garments"):
        (d / folder).mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(d / "persons" / f"p{i}.png")
        Image.fromarray(rng.integers(0, 255, (60, 50, 3), dtype=np.uint8)).save(d / "garments" / f"g{i}.png")
    mask = np.zeros((H, W), np.uint8)
    mask[40:110, 15:55] = 255
    (d / "masks").mkdir()
    Image.fromarray(mask).save(d / "masks" / "p0_mask.png")
    return d


def _manifest(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, sorted({k for row in rows for k in row}))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _failures(out):
    with open(out / "failures.csv") as handle:
        return {row["id"]: row["reason"] for row in csv.DictReader(handle)}


def _batch(*argv) -> int:
    return main(["batch", *map(str, argv), "--no-progress"])


def test_profiles_mask_auto_wrong_task_the_pair_and_the_cli_image(d, capsys):
    rows = [dict(id="on-auto", task="tryon", person="persons/p0.png", garment="garments/g0.png", mask="auto"),
            dict(id="on-file", task="tryon", person="persons/p1.png", garment="garments/g1.png",
                 mask="masks/p0_mask.png", seed="3"),
            dict(id="off-auto", task="tryoff", person="persons/p0.png", mask="auto"),
            dict(id="trip", task="roundtrip", person="persons/p0.png", target="persons/p1.png",
                 person_mask="masks/p0_mask.png", target_mask="auto", category="upper")]
    manifest = _manifest(d / "profiles.csv", rows)
    base = ["--base", d / "sd15-inpainting.safetensors", "--parser", d / "parser", "--steps", 1]
    out = d / "catvton"
    assert _batch(manifest, "--out", out, "--profile", "catvton", "--weights", d / "catvton.safetensors", *base) == 1
    failures = _failures(out)
    assert set(failures) == {"off-auto", "trip"} and "not one profile catvton does (it does tryon)" in failures["trip"]
    assert Image.open(out / "on-auto.png").size == (W, H)
    assert main(["tryon", "--person", str(d / "persons" / "p1.png"), "--garment", str(d / "garments" / "g1.png"),
                 "--mask", str(d / "masks" / "p0_mask.png"), "--profile", "catvton", "--weights",
                 str(d / "catvton.safetensors"), "--base", str(d / "sd15-inpainting.safetensors"), "--steps", "1",
                 "--seed", "3", "--out", str(d / "cli.png")]) == 0
    assert (out / "on-file.png").read_bytes() == (d / "cli.png").read_bytes()  # the CLI's image, byte for byte
    pair = ["--tryoff-profile", "tryoffanyone", "--tryoff-weights", d / "tryoffanyone.safetensors",
            "--tryon-profile", "catvton", "--tryon-weights", d / "catvton.safetensors"]
    out = d / "pair"
    assert _batch(manifest, "--out", out, *pair, *base, "--batch-size", 2) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["off-auto.png", "off-auto_mask.png", "on-auto.png",
                                                        "on-file.png", "trip.png", "trip_garment.png"]
    assert np.array(Image.open(out / "off-auto_mask.png")).min() == 255  # the parser's garment: every pixel
    sidecar = json.loads((out / "trip.json").read_text())
    assert sidecar["auto_masks"] == ["target_mask"] and set(sidecar["model"]["files"]) == {
        "base", "parser", "tryoff_weights", "tryon_weights"}
    assert "done" in capsys.readouterr().out


def test_any2anytryon_tasks_one_item_per_call_as_the_cli(d, caplog):
    flux = write_flux_folder(d / "flux")
    rows = [dict(id="on", task="tryon", person="persons/p0.png", garment="garments/g0.png", seed="5"),
            dict(id="layer", task="layered", person="persons/p1.png", garment="garments/g1.png"),
            dict(id="free", task="modelfree", garment="garments/g0.png", prompt="a woman smiling"),
            dict(id="flat", task="reconstruct", person="persons/p1.png"),
            dict(id="wrong", task="tryoff", person="persons/p1.png")]
    manifest = d / "a2a.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = d / "a2a"
    common = ["--flux", flux, "--size", 256, 256, "--steps", 1, "--dtype", "fp32"]
    with caplog.at_level("INFO", logger="twgtm"):
        assert _batch(manifest, "--out", out, "--family", "a2a", "--batch-size", 4, *common) == 1
    assert "runs one item per call" in caplog.text
    assert "tryoff" in _failures(out)["wrong"] and "tryon, modelfree, reconstruct, layered" in _failures(out)["wrong"]
    assert {p.name for p in out.glob("*.png")} == {"on.png", "layer.png", "free.png", "flat.png"}
    assert Image.open(out / "on.png").size == (W, H) and Image.open(out / "free.png").size == (256, 256)
    assert json.loads((out / "free.json").read_text())["prompt"] == "a woman smiling"
    assert main(["a2a", "tryon", "--model", str(d / "persons" / "p0.png"), "--garment", str(d / "garments" / "g0.png"),
                 *map(str, common), "--seed", "5", "--out", str(d / "a2a_cli.png")]) == 0
    assert (out / "on.png").read_bytes() == (d / "a2a_cli.png").read_bytes()


def test_folders_one_load_per_process_and_a_batch_that_raises(d, monkeypatch, caplog):
    loads, real_load, real_run = [], batch_job.load_for_job, batch_job.run_items

    def counted_load(*args, **kwargs):
        loads.append(args)
        return real_load(*args, **kwargs)

    def poisoned(model, task, settings, batch, callback=None):  # one item that breaks any batch it is in
        if any(one.item.id == "p1__g1" for one in batch):
            raise InputError("this item cannot be sampled")
        return real_run(model, task, settings, batch, callback)

    monkeypatch.setattr(batch_job, "load_for_job", counted_load)
    monkeypatch.setattr(batch_job, "run_items", poisoned)
    out = d / "folders"
    folders = ["--task", "tryon", "--persons", d / "persons", "--garments", d / "garments", "--masks", d / "masks",
               "--checkpoint", d / "tiny.safetensors", "--steps", 2, "--out", out]
    with caplog.at_level("WARNING", logger="twgtm"):
        assert _batch(*folders, "--batch-size", 2) == 1
    assert len(loads) == 1  # two batches, one model load
    assert "running its items one by one" in caplog.text
    assert _failures(out) == {"p1__g1": "this item cannot be sampled"}
    assert sorted(p.stem for p in out.glob("*.png")) == ["p0__g0", "p0__g1", "p1__g0"]
    assert json.loads((out / "p0__g0.json").read_text())["inputs"]["mask"]  # the mask found in --masks
    monkeypatch.setattr(batch_job, "run_items", real_run)
    single = d / "single"
    assert _batch(*folders[:-1], single, "--pairs", "zip") == 0
    assert main(["tryon", "--person", str(d / "persons" / "p1.png"), "--garment", str(d / "garments" / "g1.png"),
                 "--checkpoint", str(d / "tiny.safetensors"), "--steps", "2", "--seed", str(id_seed("p1__g1")),
                 "--out", str(d / "tiny_cli.png")]) == 0
    assert (single / "p1__g1.png").read_bytes() == (d / "tiny_cli.png").read_bytes()


def test_a_job_that_cannot_start_exits_2_with_one_message(d, capsys):
    tiny = ["--checkpoint", d / "tiny.safetensors"]
    job = _manifest(d / "one.csv", [dict(id="a", task="tryoff", person="persons/p0.png")])
    cases = [
        (["--out", d / "e"], "give a manifest (JOB) or folders"),
        ([d / "nothing.csv", "--out", d / "e", *tiny], "JOB " + str(d / "nothing.csv") + ": manifest file not found"),
        ([job, "--persons", d / "persons", "--out", d / "e", *tiny], "not both or neither"),
        ([job, "--out", d / "e", "--batch-size", 0, *tiny], "--batch-size must be between 1"),
        (["--persons", d / "persons", "--garments", d / "garments", "--out", d / "e", *tiny], "needs --task"),
        ([job, "--out", d / "e", "--checkpoint", d / "gone.safetensors"], "gone.safetensors' not found"),
        ([job, "--out", d / "e", "--preset", "tiny"], "random weights, different in every process"),
        ([job, "--out", d / "e", *tiny, "--scheduler", "fast"], "scheduler 'fast'"),
    ]
    (d / "typo.csv").write_text("id,task,person,stpes\na,tryoff,persons/p0.png,3\n")
    cases.append(([d / "typo.csv", "--out", d / "e", *tiny], "unknown column(s) 'stpes'"))
    for argv, message in cases:
        assert _batch(*argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert not (d / "e" / "summary.json").exists()
