"""training/scripts/demo_gpu.sh, the demo recipe for one GPU, run on the CPU at the tiny preset: bf16
mixed precision, the training pixels kept on the device, the UNet compiled (aot_eager: torch.compile's
graph capture and autograd without code generation), both size phases, then the held-out eval."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twgtm.weights.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a shell script that starts Python processes
def test_gpu_script_runs_its_recipe_at_tiny_size_on_the_cpu(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PY=sys.executable, INIT="none", PRESET="tiny", DEVICE="cpu", PRECISION="bf16",
               COMPILE="aot_eager", BATCH="4", STEPS64="2", STEPS128="1", N="12", HELDOUT_N="10", EVAL_PAIRS="1",
               EVAL_STEPS="2", PROBE_PERSONS="1", VAL_COUNT="1", VAL_STEPS="2", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    done = subprocess.run(["bash", str(ROOT / "training" / "scripts" / "demo_gpu.sh"), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "demo_gpu: done" in done.stdout
    first, second = load_checkpoint(out / "p64" / "model.safetensors"), load_checkpoint(out / "p128" / "model.safetensors")
    assert first.config.inference.working_size == (64, 48)  # each phase's size becomes the model's working size
    assert second.config.inference.working_size == (128, 96)
    for phase, steps in (("p64", 2), ("p128", 1)):
        config = json.loads((sorted((out / phase / "checkpoints").iterdir())[-1] / "state.json").read_text())["config"]
        assert config["train"]["mixed_precision"] == "bf16" and config["train"]["compile"] == "aot_eager"
        assert config["data"]["cache_pixels"] and config["stages"]["stage2"]["steps"] == steps
    scores = json.loads((out / "scores.json").read_text())
    assert scores["tryoff"]["mean_colour_error"]["model"]["status"] == "ok"
    assert "VTOFF garment sensitivity" in (out / "scores.txt").read_text()
