"""Two processes (gloo on the CPU): they train, save, resume and export.

accelerate 1.15 runs `accelerate launch --cpu --num_processes 2` as one process unless MPI is set up
(`--mpirun_hostfile`); torchrun starts the two processes and ACCELERATE_USE_CPU=1 (what `--cpu` sets)
makes accelerate join them as MULTI_CPU with the gloo backend.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from twgtm.data.toy import generate_toy_wardrobe
from twgtm.weights.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
OVERRIDES = ("train.threads=1", "stages.vae.steps=0", "stages.stage1.steps=2", "stages.stage2.steps=0",
             "stages.srm.steps=0", "checkpoint.every=1", "checkpoint.keep=5", "validate.count=0", "train.batch_size=2")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    """`ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 -m training.run` on the tiny config."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO), "ACCELERATE_USE_CPU": "1"}  # HF_HOME: no accelerate config of this machine
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "training.run",
               "--config", str(REPO / "training" / "configs" / "tiny.yaml"), "--no-progress", *OVERRIDES, *overrides]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_two_cpu_processes_train_save_resume_and_export(tmp_path):
    toy = tmp_path / "toy"
    generate_toy_wardrobe(toy, n=12, seed=5, size=(64, 48), test_fraction=0.2)
    launch(tmp_path, f"data.root={toy}", f"output_dir={tmp_path / 'a'}")
    step1 = tmp_path / "a" / "checkpoints" / "step-000001"
    state = json.loads((step1 / "state.json").read_text())
    assert state["processes"] == 2 and state["stage"] == "stage1"
    assert {"random_states_0.pkl", "random_states_1.pkl", "optimizer.bin", "ema.safetensors"} <= set(state["files"])
    exported = load_checkpoint(tmp_path / "a" / "model.safetensors")
    trained = load_file(str(tmp_path / "a" / "model.safetensors"))
    assert set(trained) == set(exported.state_dict())  # a whole TWGTM model
    at_step1 = load_file(str(step1 / "model.safetensors"))
    assert any(not torch.equal(at_step1[k], v) for k, v in trained.items() if k.startswith("unet."))  # step 2 trained
    # a second run that has only the step-1 checkpoint resumes from it, on both processes
    shutil.copytree(step1, tmp_path / "b" / "checkpoints" / "step-000001")
    done = launch(tmp_path, f"data.root={toy}", f"output_dir={tmp_path / 'b'}", "resume=latest")
    assert "resuming from" in done.stderr and "at step 1" in done.stderr
    a, b = (load_file(str(tmp_path / run / "model.safetensors")) for run in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same model as the uninterrupted run
