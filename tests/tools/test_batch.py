"""`python -m twgtm batch` as real processes on a tiny checkpoint: bad rows, 2 processes, SIGKILL and resume, reruns.

One 12-row manifest (try-on, try-off, round trip, two sizes, a per-row seed and steps, two bad rows) runs
once uninterrupted; the other tests compare their files with that run's, byte for byte.
"""
import csv
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from twgtm.batch.manifest import id_seed
from twgtm.model.network import build_model
from twgtm.weights.checkpoint import save_checkpoint

pytestmark = pytest.mark.slow  # every test runs the command line in processes of its own

ROOT = Path(__file__).resolve().parents[2]
STEPS = "12"  # enough for the kill test to find the job between its first and last batch
COLUMNS = ["task", "id", "garment", "person", "mask", "target", "seed", "steps", "category"]  # any order
GOOD = 10


def _rows():
    rows = [dict(task="tryon", id=f"on{i}", person=f"img/p{i}.png", garment=f"img/g{i}.png", mask="img/mask.png")
            for i in range(4)]
    rows.append(dict(task="tryon", id="on-small", person="img/small.png", garment="img/g0.png", seed="42"))
    rows += [dict(task="tryoff", id=f"off{i}", person=f"img/p{i}.png") for i in range(3)]
    rows.append(dict(task="tryoff", id="off-steps", person="img/p3.png", steps="6", category="dress"))
    rows.append(dict(task="roundtrip", id="trip", person="img/p0.png", target="img/p1.png"))
    rows.append(dict(task="tryon", id="bad-missing", person="img/nobody.png", garment="img/g0.png"))
    rows.append(dict(task="tryoff", id="bad-truncated", person="img/truncated.png"))
    return rows


def write_manifest(path: Path, rows) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    d = tmp_path_factory.mktemp("batch")
    torch.manual_seed(0)
    save_checkpoint(build_model("tiny"), d / "tiny.safetensors")
    img = d / "job" / "img"
    img.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (45, 33, 3), dtype=np.uint8)).save(img / f"p{i}.png")
        Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(img / f"g{i}.png")
    Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(img / "small.png")
    mask = np.zeros((45, 33), np.uint8)
    mask[10:35, 5:28] = 255
    Image.fromarray(mask).save(img / "mask.png")
    whole = (img / "p0.png").read_bytes()
    (img / "truncated.png").write_bytes(whole[: len(whole) // 2])  # the header reads, the pixels do not
    manifest = write_manifest(d / "job" / "job.csv", _rows())
    reference = d / "reference"
    done = batch(d, manifest, reference)
    return {"dir": d, "manifest": manifest, "reference": reference, "first": done}


def _env(d: Path) -> dict:
    """Offline, one thread per process, no accelerate config of this machine (HF_HOME)."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "HF_HOME": str(d / "hf")}


def command(d: Path, manifest: Path, out: Path, *extra) -> list[str]:
    return ["-m", "twgtm", "batch", str(manifest), "--out", str(out), "--checkpoint", str(d / "tiny.safetensors"),
            "--steps", STEPS, "--batch-size", "2", "--no-progress", *map(str, extra)]


def batch(d: Path, manifest: Path, out: Path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *command(d, manifest, out, *extra)], cwd=ROOT, env=_env(d),
                          capture_output=True, text=True, timeout=300)


def files(folder: Path) -> dict[str, bytes]:
    """Every file of an output folder (the temporary folder and the hash cache left out) by relative path."""
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not rel.startswith(".twgtm-batch/file-hashes"):
            found[rel] = path.read_bytes()
    return found


def images(folder: Path) -> dict[str, bytes]:
    return {name: data for name, data in files(folder).items() if name.endswith(".png")}


def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_twelve_rows_two_bad_ten_outputs_two_failures(job):
    done, out = job["first"], job["reference"]
    assert done.returncode == 1, done.stderr[-3000:]  # some items failed
    assert "failed" in done.stdout and "wrote 10 item(s)" in done.stdout
    counts = summary(out)
    assert (counts["items"], counts["done"], counts["skipped"], counts["failed"]) == (12, GOOD, 0, 2)
    sidecars = sorted(p.stem for p in out.glob("*.json") if p.name != "summary.json")
    assert len(sidecars) == GOOD and not any(s.startswith("bad") for s in sidecars)
    expected = {f"on{i}.png" for i in range(4)} | {"on-small.png", "trip.png", "trip_garment.png"}
    expected |= {f"{n}{s}.png" for n in ("off0", "off1", "off2", "off-steps") for s in ("", "_mask")}
    assert set(images(out)) == expected
    assert Image.open(out / "on-small.png").size == (30, 40) and Image.open(out / "on0.png").size == (33, 45)
    with open(out / "failures.csv") as handle:
        failures = {row["id"]: row for row in csv.DictReader(handle)}
    assert set(failures) == {"bad-missing", "bad-truncated"}
    assert "not found" in failures["bad-missing"]["reason"] and "nobody.png" in failures["bad-missing"]["reason"]
    assert "not a readable image" in failures["bad-truncated"]["reason"]  # found when its batch read the pixels
    assert failures["bad-missing"]["line"] == "12"  # the header is line 1
    assert not any((out / ".twgtm-batch" / "tmp").iterdir())
    # sidecars: settings, seed (the row's, or --seed 0 + a hash of the id), model file hash, duration
    model_hash = hashlib.sha256((job["dir"] / "tiny.safetensors").read_bytes()).hexdigest()
    on0, small, steps = (json.loads((out / f"{n}.json").read_text()) for n in ("on0", "on-small", "off-steps"))
    assert on0["seed"] == id_seed("on0", 0) and small["seed"] == 42
    assert on0["model"]["files"]["checkpoint"] == model_hash
    assert on0["settings"]["steps"] == 12 and steps["settings"]["steps"] == 6 and steps["category"] == "dress"
    assert on0["duration_s"] > 0 and len(on0["fingerprint"]) == 64
    assert on0["output_sha256"]["on0.png"] == hashlib.sha256((out / "on0.png").read_bytes()).hexdigest()
    assert on0["inputs"]["person"] == hashlib.sha256((job["manifest"].parent / "img/p0.png").read_bytes()).hexdigest()


def test_two_processes_write_byte_identical_files(job):
    d = job["dir"]
    out = d / "two"
    env = {**_env(d), "ACCELERATE_USE_CPU": "1"}
    run = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), *command(d, job["manifest"], out)]
    done = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "wrote 10 item(s)" in done.stdout, done.stdout[-2000:] + done.stderr[-3000:]
    counts = summary(out)
    assert counts["processes"] == 2 and counts["done"] == GOOD and counts["failed"] == 2
    assert all(p["done"] > 0 for p in counts["per_process"])  # both processes took batches
    assert images(out) == images(job["reference"])
    assert (out / "failures.csv").read_text() == (job["reference"] / "failures.csv").read_text()


def test_sigkill_mid_job_then_resume_gives_the_uninterrupted_files(job):
    d = job["dir"]
    out = d / "killed"
    proc = subprocess.Popen([sys.executable, *command(d, job["manifest"], out)], cwd=ROOT, env=_env(d),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob("*.json")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    written = [p for p in out.glob("*.json") if p.name != "summary.json"]
    assert proc.returncode == -signal.SIGKILL and 0 < len(written) < GOOD, "the kill did not land mid-job"
    assert not (out / "summary.json").exists()
    done = batch(d, job["manifest"], out)
    assert done.returncode == 1, done.stderr[-3000:]
    counts = summary(out)
    assert (counts["skipped"], counts["done"]) == (len(written), GOOD - len(written))
    reference = files(job["reference"])
    resumed = files(out)
    assert set(resumed) == set(reference)  # every file once, no temporary file left
    assert images(out) == images(job["reference"])


def test_rerun_redoes_only_changed_items(job):
    d = job["dir"]
    out = d / "rerun"
    shutil.copytree(job["reference"], out)
    before = files(out)
    done = batch(d, job["manifest"], out)
    assert done.returncode == 1 and (summary(out)["done"], summary(out)["skipped"]) == (0, GOOD)
    reports = ("summary.json", "failures.csv")
    assert {k: v for k, v in files(out).items() if k not in reports} == {k: v for k, v in before.items() if k not in reports}
    rows = _rows()
    by_id = {row["id"]: row for row in rows}
    by_id["on1"]["seed"] = "7"
    by_id["off1"]["steps"] = "3"
    changed = write_manifest(d / "job" / "changed.csv", rows)
    done = batch(d, changed, out)
    assert done.returncode == 1, done.stderr[-3000:]
    assert (summary(out)["done"], summary(out)["skipped"]) == (2, GOOD - 2)
    after = files(out)
    redone = {name for name in after if name.endswith(".json") and after[name] != before.get(name)}
    assert redone == {"on1.json", "off1.json", "summary.json"}
    assert json.loads(after["on1.json"])["seed"] == 7 and json.loads(after["off1.json"])["settings"]["steps"] == 3
    assert after["on1.png"] != before["on1.png"] and after["on0.png"] == before["on0.png"]
    # a flag every row takes changes every item: the dry run lists them all and writes nothing
    listing = batch(d, changed, out, "--guidance", "3", "--dry-run")
    assert f"{GOOD + 1} to run" in listing.stdout  # and the truncated image, found only when its pixels are read
    assert "fails: bad-missing (line 12): person file not found" in listing.stdout
    assert files(out) == after
