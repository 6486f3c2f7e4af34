"""`python -m twgtm.bench --family a2a`: what Any2AnyTryon on FLUX.1-dev costs per size, and what fits a GPU.

Per target size (try-on canvas [target | model | garment], the garment at --garment-aspect): image
tokens of the whole canvas, FLOPs of one transformer call (counted with FlopCounterMode on a
meta-device FLUX.1-dev, no memory used, beside the cost model's formula), the estimated peak
accelerator memory of each memory option (twgtm.families.a2a.memory) and which fit 12 / 16 / 24 GB cards
(GiB, leaving 0.5 GiB free).
With --device cuda it also builds a FLUX.1-dev-sized transformer with random bf16 weights and
measures one step's time and peak memory per size.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

from ..families.a2a.layout import TOKEN_PX
from ..families.a2a.memory import FLUX_DEV, GIB, MemoryOptions, peak_bytes, step_flops
from .flops import count_flops

OPTIONS = {  # name -> memory options (bf16 compute)
    "all resident": MemoryOptions(),
    "model offload": MemoryOptions(offload="model"),
    "model offload + fp8 transformer/T5": MemoryOptions(offload="model", transformer_fp8=True, t5_fp8=True),
    "group offload": MemoryOptions(offload="group"),
    "group offload + fp8 T5": MemoryOptions(offload="group", t5_fp8=True),
}
DEFAULT_SIZES = [(512, 384), (768, 576), (1024, 768)]
BUDGETS_GB = (12, 16, 24)  # card sizes in GiB; an option fits when its peak leaves HEADROOM_GIB free
HEADROOM_GIB = 0.5  # what a desktop session and fragmentation typically take


def canvas_of(height: int, width: int, garment_aspect: float) -> tuple[tuple[int, int], int]:
    """((H, canvas W), image tokens) of a try-on canvas for a target of (height, width)."""
    garment_w = max(TOKEN_PX, int(height * garment_aspect) // TOKEN_PX * TOKEN_PX)
    canvas_w = 2 * width + garment_w
    return (height, canvas_w), (height // TOKEN_PX) * (canvas_w // TOKEN_PX)


def counted_flops(image_tokens: int, text_tokens: int = 512) -> int:
    """FLOPs of one FLUX.1-dev transformer call, counted on the meta device."""
    from diffusers import FluxTransformer2DModel

    with torch.device("meta"):
        model = FluxTransformer2DModel(guidance_embeds=True)
        args = dict(hidden_states=torch.zeros(1, image_tokens, 64), encoder_hidden_states=torch.zeros(1, text_tokens, 4096),
                    pooled_projections=torch.zeros(1, 768), timestep=torch.ones(1), guidance=torch.ones(1),
                    img_ids=torch.zeros(image_tokens, 3), txt_ids=torch.zeros(text_tokens, 3), return_dict=False)
    return count_flops(lambda: model(**args), model)


def measure_cuda(sizes, garment_aspect: float, device: str) -> list[dict]:
    """Seconds per step and peak GiB of a random bf16 FLUX.1-dev transformer on a CUDA device."""
    from diffusers import FluxTransformer2DModel

    with torch.device("meta"):
        model = FluxTransformer2DModel(guidance_embeds=True)
    model = model.to_empty(device=device).to(torch.bfloat16)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
    rows = []
    for height, width in sizes:
        _, tokens = canvas_of(height, width, garment_aspect)
        args = dict(hidden_states=torch.randn(1, tokens, 64, device=device, dtype=torch.bfloat16),
                    encoder_hidden_states=torch.randn(1, 512, 4096, device=device, dtype=torch.bfloat16),
                    pooled_projections=torch.randn(1, 768, device=device, dtype=torch.bfloat16),
                    timestep=torch.ones(1, device=device), guidance=torch.full((1,), 3.5, device=device),
                    img_ids=torch.zeros(tokens, 3, device=device), txt_ids=torch.zeros(512, 3, device=device),
                    return_dict=False)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.no_grad():
            model(**args)
            torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(**args)
            torch.cuda.synchronize(device)
        rows.append({"size": f"{height}x{width}", "seconds_per_step": time.perf_counter() - start,
                     "peak_gib": torch.cuda.max_memory_allocated(device) / GIB})
    return rows


def run(sizes, garment_aspect: float = 0.75, count: bool = True) -> dict:
    """The cost table: per size, tokens, FLOPs (formula and counted), peak GiB per option, fits per budget."""
    rows = []
    for height, width in sizes:
        canvas, tokens = canvas_of(height, width, garment_aspect)
        peaks = {name: peak_bytes(FLUX_DEV, canvas, (height, width), tokens, opts)["peak"] / GIB
                 for name, opts in OPTIONS.items()}
        row = {"size": f"{height}x{width}", "canvas": f"{canvas[0]}x{canvas[1]}", "image_tokens": tokens,
               "tflops_per_step": step_flops(FLUX_DEV, tokens) / 1e12, "peak_gib": peaks,
               "fits": {f"{gb} GB": [n for n, p in peaks.items() if p <= gb - HEADROOM_GIB] for gb in BUDGETS_GB}}
        if count:
            row["tflops_counted"] = counted_flops(tokens) / 1e12
        rows.append(row)
    return {"model": "FLUX.1-dev (11.9 B) + T5-XXL + CLIP-L + VAE", "dtype": "bfloat16", "task": "tryon",
            "garment_aspect": garment_aspect, "rows": rows}


def markdown(result: dict) -> str:
    """The tables of a result."""
    names = list(OPTIONS)
    lines = ["| target | canvas | image tokens | TFLOPs / step (formula, counted) | " + " | ".join(names) + " |",
             "|---|---|---:|---:|" + "---:|" * len(names)]
    for row in result["rows"]:
        counted = f", {row['tflops_counted']:.1f}" if "tflops_counted" in row else ""
        peaks = " | ".join(f"{row['peak_gib'][n]:.1f}" for n in names)
        lines.append(f"| {row['size']} | {row['canvas']} | {row['image_tokens']:,} | {row['tflops_per_step']:.1f}{counted} "
                     f"| {peaks} |")
    lines += ["", "| target | " + " | ".join(f"fits {gb} GB" for gb in BUDGETS_GB) + " |", "|---|" + "---|" * len(BUDGETS_GB)]
    for row in result["rows"]:
        lines.append(f"| {row['size']} | " + " | ".join(", ".join(row["fits"][f"{gb} GB"]) or "none"
                                                        for gb in BUDGETS_GB) + " |")
    for row in result.get("measured", []):
        lines.append(f"measured {row['size']}: {row['seconds_per_step']:.2f} s/step, peak {row['peak_gib']:.1f} GiB")
    return "\n".join(lines)


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 512x384, got {text!r}") from None
    return h, w


def main(argv=None) -> int:
    """Parse the a2a bench arguments, print the tables and the JSON."""
    p = argparse.ArgumentParser(prog="python -m twgtm.bench --family a2a", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=_size, default=DEFAULT_SIZES, metavar="HxW", help="target sizes")
    p.add_argument("--garment-aspect", type=float, default=0.75, help="garment width / height (default 0.75)")
    p.add_argument("--device", default="cpu", help="cuda: also measure a random bf16 FLUX.1-dev step")
    p.add_argument("--no-count", action="store_true", help="skip the meta-device FLOP count")
    p.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    result = run(args.sizes, args.garment_aspect, count=not args.no_count)
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            print(f"--device {args.device}: this torch sees no CUDA device", file=sys.stderr)
            return 2
        result["measured"] = measure_cuda(args.sizes, args.garment_aspect, args.device)
    print(markdown(result))
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0
