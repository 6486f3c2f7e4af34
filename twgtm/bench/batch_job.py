"""`python -m twgtm.bench --batch-job`: images/s of `python -m twgtm batch` against one CLI call per item.

On the same try-on items (toy-wardrobe persons, garments and masks at the demo model's size, written to
a temporary folder), each contender runs as real processes, timed from outside (process start,
imports and model loads included, as a user waits for them):
- separate: `python -m twgtm tryon ...` once per item, with the seed the batch job gives the item;
- batch: `python -m twgtm batch --persons ... --garments ... --pairs zip --masks ...`, one process;
- batch xN: the same job on N processes (`torchrun`, gloo on the CPU; on GPUs one process per GPU).
The ratio batch / separate and the scaling batch xN / batch are measured in this one run. Every
process runs `--threads` CPU threads (default 1: on a shared machine OpenMP threads contend, and the
scaling is then that of processes). The figures print; nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _env(threads: int, cpu: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if cpu:
        env["ACCELERATE_USE_CPU"] = "1"
    return env


def _timed(command: list[str], env: dict) -> float:
    """Seconds one command takes; its output shown only when it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m twgtm.bench --batch-job", description=__doc__.split("\n")[0])
    p.add_argument("--batch-job", action="store_true", help="this benchmark")
    p.add_argument("--items", type=int, default=8, help="try-on items (default 8)")
    p.add_argument("--steps", type=int, default=10, help="denoising steps (default 10)")
    p.add_argument("--batch-size", type=int, default=4, help="the batch job's --batch-size (default 4)")
    p.add_argument("--processes", type=int, default=2, help="processes of the scaled run (default 2)")
    p.add_argument("--checkpoint", help="TWGTM checkpoint (default: the demo model)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (the batch job: one GPU per process)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads of each process (default 1)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p


def run(args) -> dict:
    """Time the three contenders; their seconds, images/s, the ratio and the scaling."""
    from ..batch.manifest import id_seed
    from ..data.toy import generate_toy_wardrobe

    cpu = args.device == "cpu"
    threads = args.threads
    model = ["--checkpoint", args.checkpoint] if args.checkpoint else []
    figures = {"items": args.items, "steps": args.steps, "batch_size": args.batch_size, "device": args.device,
               "threads": threads, "processes": args.processes}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_toy_wardrobe(tmp / "toy", n=args.items, size=(128, 96), test_fraction=0.0)
        folder = tmp / "toy" / "train"
        persons = sorted((folder / "image").iterdir())
        garments = sorted((folder / "cloth").iterdir())
        env = _env(threads, cpu)
        separate = 0.0
        for person, garment in zip(persons, garments):
            item_id = f"{person.stem}__{garment.stem}"
            separate += _timed([sys.executable, "-m", "twgtm", "tryon", "--person", str(person), "--garment",
                                str(garment), "--mask", str(folder / "agnostic-mask" / f"{person.stem}_mask.png"),
                                "--steps", str(args.steps), "--seed", str(id_seed(item_id)), "--device", args.device,
                                "--out", str(tmp / "separate" / f"{item_id}.png"), *model], env)
        job = ["-m", "twgtm", "batch", "--task", "tryon", "--persons", str(folder / "image"), "--garments",
               str(folder / "cloth"), "--pairs", "zip", "--masks", str(folder / "agnostic-mask"), "--steps",
               str(args.steps), "--batch-size", str(args.batch_size), "--no-progress", *model]
        one = _timed([sys.executable, *job, "--out", str(tmp / "one"), "--device", args.device], env)
        spread = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(args.processes),
                  "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), *job, "--out", str(tmp / "many")]
        many = _timed(spread, env)
        inner = {name: json.loads((tmp / name / "summary.json").read_text()) for name in ("one", "many")}
    n = args.items
    figures.update({
        "separate": {"seconds": round(separate, 2), "images_per_s": round(n / separate, 4)},
        "batch": {"seconds": round(one, 2), "images_per_s": round(n / one, 4),
                  "sampling_images_per_s": inner["one"]["images_per_s"]},
        f"batch_x{args.processes}": {"seconds": round(many, 2), "images_per_s": round(n / many, 4),
                                     "sampling_images_per_s": inner["many"]["images_per_s"]},
        "batch_over_separate": round(separate / one, 3),
        f"scaling_1_to_{args.processes}": round(one / many, 3),
    })
    return figures


def markdown(figures: dict) -> str:
    """The figures as a table."""
    processes = figures["processes"]
    many, scaling = f"batch_x{processes}", figures[f"scaling_1_to_{processes}"]
    lines = [f"{figures['items']} try-on items, {figures['steps']} steps, batch size {figures['batch_size']}, "
             f"{figures['device']}, {figures['threads']} thread(s) per process", "",
             "| run | seconds (process start included) | images/s | sampling images/s |", "|---|---|---|---|"]
    for name in ("separate", "batch", many):
        row = figures[name]
        lines.append(f"| {name} | {row['seconds']} | {row['images_per_s']} | {row.get('sampling_images_per_s', '')} |")
    lines += ["", f"batch job vs separate CLI calls: {figures['batch_over_separate']}x; 1 -> {processes} processes: "
              f"{scaling}x"]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    figures = run(args)
    print(markdown(figures))
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0
