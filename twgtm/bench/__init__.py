"""`python -m twgtm.bench`: what TWGTM costs over its plain backbone, and what each fast path saves.

Per denoising step, TWGTM (extended attention, K'/V' cached) against the bare 9-channel backbone
UNet on the same canvas, in time and in FLOPs; the K'/V' cache and the null-row skip switched
off; SDPA against explicit-softmax attention; the reference encoders once, in backbone steps;
whole try-on and try-off calls with CFG batched vs sequential; peak memory measured, and
estimated for a 1024×768 try-on in bf16; how a step grows with canvas and batch size. All
contenders of one table are measured in one run, interleaved (`timing.round_robin`).
"""
from .runner import BenchSettings, run_benchmark

__all__ = ["BenchSettings", "run_benchmark"]
