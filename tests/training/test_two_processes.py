"""Two processes (gloo on the CPU): they train, save, resume and export, and a run whose processes are
killed with SIGKILL (mid-step, and inside `save_state`) restarts from the last checkpoint that every
process completed and ends with the same weights as an uninterrupted run.

accelerate 1.15 runs `accelerate launch --cpu --num_processes 2` as one process unless MPI is set up
(`--mpirun_hostfile`); torchrun starts the two processes and ACCELERATE_USE_CPU=1 (what `--cpu` sets)
makes accelerate join them as MULTI_CPU with the gloo backend. When a process dies torchrun stops the
others; the job is then launched again with `resume=latest`, as a scheduler requeues it. (torchrun's
own `--max-restarts` is not used: with gloo its restarted processes at times read the dead ones'
addresses from the rendezvous store and fail to connect.)
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from training import checkpointing as ckpt

from twgtm.data.toy import generate_toy_wardrobe
from twgtm.weights.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # torchrun: Python processes of their own

REPO = Path(__file__).resolve().parents[2]
STEPS = 4
OVERRIDES = ("train.threads=1", "stages.vae.steps=0", f"stages.stage1.steps={STEPS}", "stages.stage2.steps=0",
             "stages.srm.steps=0", "checkpoint.every=1", "checkpoint.keep=5", "validate.count=0", "train.batch_size=2")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(tmp_path: Path, *overrides: str, module: str = "training.run", env: dict | None = None,
           check: bool = True) -> subprocess.CompletedProcess:
    """`ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 -m training.run` on the tiny config (--no-progress
    among the overrides, where a user may type it)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO), "ACCELERATE_USE_CPU": "1", **(env or {})}  # HF_HOME: no accelerate config here
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", module,
               "--config", str(REPO / "training" / "configs" / "tiny.yaml"), *OVERRIDES[:3], "--no-progress",
               *OVERRIDES[3:], *overrides]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 or not check, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A toy wardrobe and the run that nothing interrupts: (data root, its output folder).

    It asks for accelerate's FSDP plugin, which accelerate (1.16) does not use for CPU processes: the
    run says so and trains as DDP (every later run here, without the request, matches it bit for bit).
    """
    tmp_path = tmp_path_factory.mktemp("two_processes")
    toy = tmp_path / "toy"
    generate_toy_wardrobe(toy, n=12, seed=5, size=(64, 48), test_fraction=0.2)
    done = launch(tmp_path, f"data.root={toy}", f"output_dir={tmp_path / 'a'}",
                  env={"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2"})
    assert "accelerate: MULTI_CPU, 2 process(es) on cpu" in done.stderr, done.stderr[-3000:]
    assert "FSDP was asked for (ACCELERATE_USE_FSDP) but accelerate runs MULTI_CPU" in done.stderr
    return toy, tmp_path / "a"


def same_weights(a: Path, b: Path) -> bool:
    """Whether two TWGTM checkpoints hold bit-identical tensors under the same names."""
    first, second = load_file(str(a)), load_file(str(b))
    return set(first) == set(second) and all(torch.equal(first[k], second[k]) for k in first)


def test_two_cpu_processes_train_save_resume_and_export(uninterrupted, tmp_path):
    toy, a = uninterrupted
    step1 = a / "checkpoints" / "step-000001"
    state = json.loads((step1 / "state.json").read_text())
    assert state["processes"] == 2 and state["stage"] == "stage1"
    assert {"random_states_0.pkl", "random_states_1.pkl", "optimizer.bin", "ema.safetensors"} <= set(state["files"])
    exported = load_checkpoint(a / "model.safetensors")
    trained = load_file(str(a / "model.safetensors"))
    assert set(trained) == set(exported.state_dict())  # a whole TWGTM model
    at_step1 = load_file(str(step1 / "model.safetensors"))
    assert any(not torch.equal(at_step1[k], v) for k, v in trained.items() if k.startswith("unet."))  # steps 2.. trained
    # a second run that has only the step-1 checkpoint resumes from it, on both processes
    shutil.copytree(step1, tmp_path / "b" / "checkpoints" / "step-000001")
    done = launch(tmp_path, f"data.root={toy}", f"output_dir={tmp_path / 'b'}", "resume=latest")
    assert "resuming from" in done.stderr and "at step 1" in done.stderr
    assert same_weights(a / "model.safetensors", tmp_path / "b" / "model.safetensors")  # as if never stopped


def test_killed_processes_restart_from_the_last_complete_checkpoint_and_lose_nothing(uninterrupted, tmp_path):
    """Launch 1: rank 1 dies mid-way through step 3. Launch 2: rank 0 dies inside save_state of checkpoint 3
    (its model file written, rank 1's files not). Both times the next launch resumes from step 2, the last
    checkpoint every process completed, and launch 3 ends bit-identical to the run nothing interrupted."""
    toy, a = uninterrupted
    out = tmp_path / "killed"
    launches = []
    for attempt in range(3):
        launches.append(launch(tmp_path, f"data.root={toy}", f"output_dir={out}", "resume=latest",
                               module="tests.training.killing_run", check=False,
                               env={"TWGTM_TEST_KILL": "0:1:step:3,1:0:save:3", "TWGTM_TEST_ATTEMPT": str(attempt)}))
    first, second, third = launches
    assert first.returncode != 0 and "local_rank: 1" in first.stderr and "exitcode: -9" in first.stderr, first.stderr[-3000:]
    assert second.returncode != 0 and "local_rank: 0" in second.stderr and "exitcode: -9" in second.stderr, \
        second.stderr[-3000:]
    assert third.returncode == 0, third.stderr[-3000:]
    assert not any("saved checkpoint" in line and "step-000003" in line for line in second.stderr.splitlines())
    for done in (second, third):
        resumed = [line for line in done.stderr.splitlines() if "resuming from" in line]
        assert len(resumed) == 2 and all(line.endswith("step-000002 at step 2") for line in resumed), resumed
    assert [p.name for p in ckpt.list_checkpoints(out)] == [f"step-{s:06d}" for s in range(1, STEPS + 1)]
    assert not any(p.name.startswith(".tmp") for p in ckpt.checkpoint_root(out).iterdir())
    for step in range(1, STEPS + 1):  # every checkpoint, and the exported model, as the uninterrupted run's
        name = f"step-{step:06d}"
        assert same_weights(a / "checkpoints" / name / "model.safetensors", out / "checkpoints" / name / "model.safetensors")
    assert same_weights(a / "model.safetensors", out / "model.safetensors")
