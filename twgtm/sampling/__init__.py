"""Sampling: task preparation, the denoising loop, schedulers, speed settings and the encoder cache."""
