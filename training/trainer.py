"""The phased training run (DESIGN.md, Training), on CPU, one GPU or many through accelerate.

Stages run in order, numbered by one global step counter (training/schedule.py); each has its own
loop in training/stages/:
    vae     (from-scratch presets only) train the small VAE on canvases, then set its latent scale;
            `stages.vae.train=decoder` sharpens only the decoder of a trained model (its latents stay)
    stage1  mask-guided inpainting for both tasks + λ(λ'·Dice + λ''·BCE) on TFQ_0, extended attention off
    stage2  square masks for try-off, extended attention on, the mask loss kept (stages.stage2.mask_loss_weight)
    srm     (optional, no UNet) refine the flat-garment mask head TFQ_0 with its F_SRM tokens held
The Trainer builds the model, the data and the accelerator, resumes, runs the stages and exports.
"""
from __future__ import annotations

import dataclasses

import logging
import os
from pathlib import Path

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs

from twgtm.errors import CheckpointError, ConfigError
from twgtm.model.network import TWGTM, build_model
from twgtm.vocab import parse_dtype
from twgtm.weights.base_parts import load_clip, load_swin, load_unet_vae
from twgtm.weights.checkpoint import load_checkpoint, save_checkpoint

from . import checkpointing as ckpt
from .config import ModelSection, TrainingConfig
from .data import build_datasets
from .schedule import stage_plan
from .stages import STAGE_LOOPS, RunContext
from .tb_logging import TensorBoardLogger

log = logging.getLogger("twgtm")



def build_training_model(spec: ModelSection | TrainingConfig) -> TWGTM:
    """The model: a preset with random weights, then `init` (a TWGTM checkpoint) and the base parts."""
    spec = spec.model if isinstance(spec, TrainingConfig) else spec
    model = build_model(spec.preset)
    if spec.init:
        load_checkpoint(spec.init, model=model)
    if spec.prediction_type is not None or spec.zero_terminal_snr is not None:
        prediction = spec.prediction_type or model.config.prediction_type
        zero_snr = model.config.zero_terminal_snr if spec.zero_terminal_snr is None else spec.zero_terminal_snr
        if (prediction, zero_snr) != (model.config.prediction_type, model.config.zero_terminal_snr):
            log.info("the UNet learns %s%s from here (it was trained on %s%s)", prediction,
                     " with zero terminal SNR" if zero_snr else "", model.config.prediction_type,
                     " with zero terminal SNR" if model.config.zero_terminal_snr else "")
        model.config = model.config.replace(prediction_type=prediction, zero_terminal_snr=zero_snr)
    if spec.base:
        load_unet_vae(model, spec.base)
    if spec.clip:
        load_clip(model, spec.clip)
    if spec.swin:
        load_swin(model, spec.swin)
    if not spec.train_encoders and not spec.init:
        for key, what in (("clip", "the CLIP image encoder"), ("swin", "the SRM's Swin backbone")):
            if not getattr(spec, key):
                log.warning("model.%s is not set and model.train_encoders is off: %s keeps its random weights "
                            "and stays frozen; give its pretrained weights (see the config's comments)", key, what)
    return model


def check_canvas_size(config: TrainingConfig, model: TWGTM) -> None:
    """data.size must be a multiple of the model's latent stride (VAE and UNet down-sampling)."""
    multiple, size = model.config.pixel_multiple, tuple(config.data.size)
    if any(side % multiple for side in size):
        fitting = [max(multiple, round(side / multiple) * multiple) for side in size]
        raise ConfigError(f"data.size {list(size)} does not fit preset {config.model.preset!r}: both sides must be "
                          f"multiples of {multiple} pixels; use e.g. data.size=[{fitting[0]},{fitting[1]}]")


def make_output_dir(path: Path, is_main: bool) -> None:
    """Create the run's folder (main process), or say which folder cannot be written."""
    if not is_main:
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"output_dir {path} cannot be created ({err}); set output_dir to a writable folder") from err


def make_accelerator(config: TrainingConfig) -> Accelerator:
    """accelerate's Accelerator for the config's mixed precision and gradient accumulation; says how it runs."""
    try:
        accelerator = Accelerator(mixed_precision=config.train.mixed_precision,
                                  gradient_accumulation_steps=config.train.grad_accum,
                                  kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    except ValueError as err:  # e.g. fp16 without a GPU
        raise ConfigError(f"accelerate cannot run train.mixed_precision={config.train.mixed_precision} here "
                          f"({err}); use train.mixed_precision=no on a CPU") from err
    kind = accelerator.distributed_type.value
    if accelerator.is_main_process:
        log.info("accelerate: %s, %d process(es) on %s", kind, accelerator.num_processes, accelerator.device.type)
        if os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true") and kind != "FSDP":
            log.warning("FSDP was asked for (ACCELERATE_USE_FSDP) but accelerate runs %s: it shards only on GPUs "
                        "and other accelerators, so every process holds the whole model here", kind)
    return accelerator


class Trainer:
    """Runs the stage plan of one config; `run()` returns the path of the exported model."""

    def __init__(self, config: TrainingConfig, show_progress: bool = True):
        self.config = config
        output_dir = Path(config.output_dir)
        if config.train.threads > 0:
            torch.set_num_threads(config.train.threads)
        accelerator = make_accelerator(config)
        if accelerator.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(config.seed)
        make_output_dir(output_dir, accelerator.is_main_process)
        model = build_training_model(config).to(accelerator.device)
        check_canvas_size(config, model)
        train_set, val_set = build_datasets(config.data)
        self.plan = stage_plan(config)
        resume_from = ckpt.resolve_resume(config.resume, output_dir)
        step = 0
        if resume_from is not None:
            step = int(ckpt.load_model_weights(resume_from, model)["step"])
            log.info("resuming from %s at step %d", resume_from, step)
        logger = TensorBoardLogger(output_dir, accelerator.is_main_process)
        checkpoints = ckpt.RunCheckpoints(accelerator, model, output_dir, config.checkpoint.keep)
        self.context = RunContext(config, accelerator, model, train_set, val_set, logger, checkpoints, output_dir,
                                  show_progress, resume_from, step)

    @property
    def model(self) -> TWGTM:
        """The model being trained."""
        return self.context.model

    @property
    def accelerator(self) -> Accelerator:
        """The run's accelerator."""
        return self.context.accelerator

    @property
    def train_set(self):
        """The training data set."""
        return self.context.train_set

    @property
    def step(self) -> int:
        """The global step reached."""
        return self.context.step

    def run(self) -> Path:
        """Train every stage not yet done, then export."""
        for stage in self.plan:
            if stage.steps == 0 or self.step >= stage.end:
                continue
            STAGE_LOOPS[stage.name](self.context, stage).train()
        return self.export()

    def record_working_size(self) -> None:
        """A run that trained the UNet (stage 1 or 2) makes its canvas size the model's working size.

        Sampling then letterboxes every input to the size the UNet learned at: a UNet trained on
        64x48 halves and sampled on 128x96 ones sees every garment at twice the scale it knows.
        """
        if not any(stage.name in ("stage1", "stage2") and stage.steps > 0 for stage in self.plan):
            return
        size = tuple(int(s) for s in self.config.data.size)
        settings = self.model.config.inference
        if settings.working_size != size:
            log.info("working size of the exported model: %dx%d (the size its UNet was trained at)", *size)
            self.model.config.inference = dataclasses.replace(settings, working_size=size)

    def export(self) -> Path:
        """Write the final model as a TWGTM checkpoint (the EMA weights of the last stage)."""
        spec, context = self.config.export, self.context
        path = Path(spec.path or context.output_dir / "model.safetensors")
        self.record_working_size()
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            try:
                save_checkpoint(self.model, path, dtype=parse_dtype(spec.dtype),
                                metadata={"trained_steps": self.step, "training_config": self.config.to_dict()})
            except OSError as err:
                raise CheckpointError(f"could not write the trained model to {path} ({err}); set export.path to "
                                      f"a writable .safetensors path") from err
            log.info("exported the trained model to %s", path)
        context.logger.close()
        return path
