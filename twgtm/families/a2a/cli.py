"""`python -m twgtm a2a tryon|modelfree|reconstruct|layered ...`: Any2AnyTryon on local FLUX.1-dev folders."""
from __future__ import annotations

import argparse

from ...cli_args import add_size_argument
from ...vocab import DTYPE_CHOICES
from .tasks import TASKS

# The CLI's (and the API's) name of each condition panel: the method's "model image" is the person.
FLAGS = {"model": "person", "garment": "garment"}
INPUTS = {"model": "person image (the method's model image)",
          "garment": "garment image (any size; resized to the target height)"}


def add_weights_arguments(parser: argparse.ArgumentParser, title: str = "weights (local folders, never downloaded)",
                          vae: bool = True) -> None:
    """--flux, the part folders, --lora, --lora-scale, --max-sequence-length and the memory options (`vae`: --vae too)."""
    src = parser.add_argument_group(title)
    src.add_argument("--flux", help="FLUX.1-dev diffusers folder (transformer/, vae/, text_encoder/, tokenizer/, "
                     "text_encoder_2/, tokenizer_2/)")
    src.add_argument("--transformer", help="transformer folder, or a BFL single file such as ComfyUI's "
                     "flux1-dev.safetensors (overrides --flux/transformer)")
    for part in (["vae"] if vae else []) + ["text-encoder", "tokenizer", "text-encoder-2", "tokenizer-2"]:
        src.add_argument(f"--{part}", help=f"{part} folder (overrides --flux/{part.replace('-', '_')})")
    src.add_argument("--lora", help="Any2AnyTryon LoRA .safetensors (e.g. dev_lora_any2any_alltasks.safetensors)")
    src.add_argument("--lora-scale", type=float, default=1.0, help="LoRA strength (default 1)")
    src.add_argument("--max-sequence-length", type=int, default=512, help="T5 tokens (default 512, as published)")
    mem = parser.add_argument_group("memory (24 GB and smaller GPUs: see docs/any2anytryon.md)")
    mem.add_argument("--offload", choices=["none", "model", "group"], default="none",
                     help="model: each part on the GPU only while used; group: the transformer streamed block by block")
    mem.add_argument("--t5-fp8", action="store_true", help="store T5 weights in fp8 (upcast per layer)")
    mem.add_argument("--transformer-fp8", action="store_true", help="store the transformer's weights in fp8")
    mem.add_argument("--vae-tiling", action="store_true", help="VAE in tiles (large sizes)")


def load_options(args) -> dict:
    """The `twgtm.load_model(family="a2a", ...)` keywords of the options of `add_weights_arguments` (--vae apart)."""
    from ...loading import A2A_OPTIONS, A2A_PARTS

    return {"flux": args.flux, "lora": args.lora, **{key: getattr(args, key) for key in (*A2A_PARTS, *A2A_OPTIONS)}}


def _task_parser(parser: argparse.ArgumentParser, task) -> None:
    for part in task.conditions:
        flag = FLAGS[part]
        aliases = [f"--{flag}"] + ([f"--{part}"] if part != flag else [])  # --model: the former name
        parser.add_argument(*aliases, dest=flag, required=True, help=INPUTS[part])
    parser.add_argument("--out", required=True, help="output PNG")
    parser.add_argument("--prompt", help="full prompt with <MODEL>/<GARMENT>/<TARGET> tags, or a target description "
                        "(default: the task's template)")
    add_weights_arguments(parser)
    run = parser.add_argument_group("sampling")
    add_size_argument(run, "target size HxW, multiples of 16, 256..2048 (default: from the first input image, long "
                      "side at most 1024)")
    run.add_argument("--steps", type=int, default=30, help="denoising steps (default 30)")
    run.add_argument("--guidance", type=float, default=3.5, help="FLUX distilled guidance (default 3.5)")
    run.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    run.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    run.add_argument("--dtype", default="bf16", choices=DTYPE_CHOICES, help="compute dtype (default bf16)")


def build_parser(parser: argparse.ArgumentParser):
    """Add the four task sub-commands; return the runner."""
    sub = parser.add_subparsers(dest="a2a_task", required=True, metavar="TASK")
    for task in TASKS.values():
        _task_parser(sub.add_parser(task.name, help=task.description, description=task.description), task)

    def run(args) -> int:
        from tqdm import tqdm

        from ... import load_image, load_model, save_image

        task = TASKS[args.a2a_task]
        images = {FLAGS[part]: load_image(getattr(args, FLAGS[part]), INPUTS[part].split(" (")[0])
                  for part in task.conditions}
        pipe = load_model(family="a2a", vae=args.vae, device=args.device, dtype=args.dtype, **load_options(args))
        with tqdm(total=args.steps, unit="step", desc=task.name) as bar:
            result = getattr(pipe, task.name)(prompt=args.prompt, size=args.size, steps=args.steps,
                                              guidance=args.guidance, seed=args.seed,
                                              callback=lambda i, n, latents: bar.update(1), **images)
        print(f"wrote {save_image(result.images[0], args.out)}")
        return 0

    return run
