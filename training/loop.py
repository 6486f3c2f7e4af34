"""The phased training loop (DESIGN.md, Training), on CPU, one GPU or many through accelerate.

Stages run in order, numbered by one global step counter:
    vae     (from-scratch presets only) train the small VAE on canvases, then set its latent scale;
            `stages.vae.train=decoder` sharpens only the decoder of a trained model (its latents stay)
    stage1  mask-guided inpainting for both tasks + λ(λ'·Dice + λ''·BCE) on TFQ_0, extended attention off
    stage2  square masks for try-off, extended attention on, noise loss only
    srm     (optional, no UNet) refine the flat-garment mask head TFQ_0: the SRM trains on the mask loss
            alone while its F_SRM tokens are held to those of the stage's starting weights (distillation),
            so the UNet's conditioning stays what it was trained with
At the end of a diffusion or srm stage its EMA weights become the model's weights.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from accelerate import Accelerator, DistributedDataParallelKwargs
from diffusers import DDPMScheduler
from tqdm.auto import tqdm

from twgtm import canvas as cv
from twgtm.weights.base_parts import load_clip, load_swin, load_unet_vae
from twgtm.weights.checkpoint import load_checkpoint, save_checkpoint
from twgtm.model.network import TWGTM, build_model, part_of
from twgtm.sampling.schedulers import SD15_NOISE

from . import checkpointing as ckpt
from .data import EpochOrder, LatentCache, OnTheFly, assemble, build_datasets, pixel_batch, pixel_loader, step_generator
from .ema import EMA
from .losses import mask_loss, noise_loss, srm_mask_loss
from .validate import save_grid, validation_grid

log = logging.getLogger("twgtm")

STAGE_ORDER = ("vae", "stage1", "stage2", "srm")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class Stage:
    name: str
    start: int  # global step at which it starts
    steps: int
    settings: dict

    @property
    def end(self) -> int:
        return self.start + self.steps

    @property
    def number(self) -> int:
        return STAGE_ORDER.index(self.name)  # vae 0, stage1 1, stage2 2, srm 3


def stage_plan(config: dict) -> list[Stage]:
    """The stages with their global step ranges; `train.max_steps` caps each one."""
    cap = config["train"]["max_steps"]
    plan, start = [], 0
    for name in STAGE_ORDER:
        settings = config["stages"][name]
        steps = int(settings["steps"])
        if cap is not None:
            steps = min(steps, int(cap))
        plan.append(Stage(name, start, steps, settings))
        start += steps
    return plan


class StageSchedule:
    """Learning rate of one stage: linear warm-up, then constant or cosine decay to 0.

    Progress is the larger of the steps done and, when the stage has `max_minutes`, the share of its
    time used, so a stage cut short by its time limit still ends its decay. The time used is part of
    the state, so a resumed stage continues the same curve.
    """

    def __init__(self, optimizer, warmup: int, total_steps: int, schedule: str, max_minutes=None):
        self.optimizer = optimizer
        self.base = [group.setdefault("initial_lr", group["lr"]) for group in optimizer.param_groups]
        self.warmup, self.total, self.schedule = int(warmup), max(1, int(total_steps)), schedule
        self.max_seconds = None if max_minutes is None else 60.0 * float(max_minutes)
        self.done, self.elapsed = 0, 0.0
        self._apply()

    @property
    def progress(self) -> float:
        by_time = self.elapsed / self.max_seconds if self.max_seconds else 0.0
        return min(1.0, max(self.done / self.total, by_time))

    @property
    def out_of_time(self) -> bool:
        return self.max_seconds is not None and self.elapsed >= self.max_seconds

    def factor(self) -> float:
        if self.done < self.warmup:
            return (self.done + 1) / self.warmup
        if self.schedule == "constant":
            return 1.0
        start = self.warmup / self.total
        return 0.5 * (1.0 + math.cos(math.pi * max(0.0, self.progress - start) / max(1e-8, 1.0 - start)))

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base):
            group["lr"] = base * self.factor()

    def step(self, seconds: float = 0.0) -> None:
        self.done += 1
        self.elapsed += float(seconds)
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"done": self.done, "elapsed": self.elapsed}

    def load_state_dict(self, state: dict) -> None:
        self.done, self.elapsed = int(state["done"]), float(state["elapsed"])
        self._apply()


class Logger:
    """TensorBoard scalars and images on the main process (a warning if tensorboard is missing)."""

    def __init__(self, output_dir: Path, enabled: bool):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
            return
        self.writer = SummaryWriter(str(output_dir / "logs"))

    def scalars(self, values: dict, step: int) -> None:
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def image(self, tag: str, image: torch.Tensor, step: int) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, image, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class VAETrainer(nn.Module):
    """The VAE's training forward: reconstruction and KL divergence of a batch of canvases."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, pixels: torch.Tensor, generator=None):
        posterior = self.vae.encode(pixels).latent_dist
        recon = self.vae.decode(posterior.sample(generator)).sample
        return recon, posterior.kl().mean()


class SRMTrainer(nn.Module):
    """The srm stage's forward: frozen SAM (F_QF) then the SRM on a batch of reference images."""

    def __init__(self, model: TWGTM):
        super().__init__()
        self.sam, self.srm = model.sam, model.srm

    def forward(self, reference: torch.Tensor, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor):
        with torch.no_grad():
            qformer_tokens = self.sam(reference, prompt_ids, prompt_mask).qformer_tokens
        return qformer_tokens, self.srm(reference, qformer_tokens, with_tokens=True)


def build_training_model(config: dict) -> TWGTM:
    """The model: a preset with random weights, then `init` (a TWGTM checkpoint) and the base parts."""
    spec = config["model"]
    model = build_model(spec["preset"])
    if spec["init"]:
        load_checkpoint(spec["init"], model=model)
    if spec["base"]:
        load_unet_vae(model, spec["base"])
    if spec["clip"]:
        load_clip(model, spec["clip"])
    if spec["swin"]:
        load_swin(model, spec["swin"])
    if not spec["train_encoders"] and not spec["init"]:
        for key, what in (("clip", "the CLIP image encoder"), ("swin", "the SRM's Swin backbone")):
            if not spec[key]:
                log.warning("model.%s is not set and model.train_encoders is off: %s keeps its random weights "
                            "and stays frozen; give its pretrained weights (see the config's comments)", key, what)
    return model


class Trainer:
    """Runs the stage plan of one config; `run()` returns the path of the exported model."""

    def __init__(self, config: dict, show_progress: bool = True):
        self.config = config
        self.output_dir = Path(config["output_dir"])
        self.show_progress = show_progress
        threads = int(config["train"]["threads"])
        if threads > 0:
            torch.set_num_threads(threads)
        self.accelerator = Accelerator(
            mixed_precision=config["train"]["mixed_precision"],
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
        self.is_main = self.accelerator.is_main_process
        self.device = self.accelerator.device
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(int(config["seed"]))
        self.model = build_training_model(config).to(self.device)
        self.train_set, self.val_set = build_datasets(config)
        self.plan = stage_plan(config)
        self.step = 0
        self.resume_from = ckpt.resolve_resume(config["resume"], self.output_dir)
        if self.resume_from is not None:
            state = ckpt.load_model_weights(self.resume_from, self.model)
            self.step = int(state["step"])
            log.info("resuming from %s at step %d", self.resume_from, self.step)
        self.logger = Logger(self.output_dir, self.is_main)
        self.noise_scheduler = DDPMScheduler(**{k: v for k, v in SD15_NOISE.items() if k != "timestep_spacing"})

    # ----- shared helpers ----------------------------------------------------------------------
    def _state(self, stage: Stage) -> dict:
        return {"stage": stage.name, "latent_scale": self.model.latent_scale, "config": self.config}

    def _save(self, stage: Stage, optimizer=None, lr_scheduler=None, ema=None, extra=None) -> None:
        self.accelerator.wait_for_everyone()
        if self.is_main:
            ckpt.save_training_checkpoint(self.output_dir, self.step, self.model, self._state(stage), optimizer,
                                          lr_scheduler, ema, keep=self.config["checkpoint"]["keep"], extra=extra)
        self.accelerator.wait_for_everyone()

    def _optimizer(self, params, stage: Stage):
        train = self.config["train"]
        lr = stage.settings.get("lr") or train["lr"]
        optimizer = torch.optim.AdamW(params, lr=float(lr), weight_decay=float(train["weight_decay"]))
        schedule = StageSchedule(optimizer, int(train["warmup_steps"]), stage.steps, train["lr_schedule"],
                                 stage.settings.get("max_minutes"))
        return optimizer, schedule

    def _resume_stage(self, stage: Stage, optimizer, lr_scheduler, ema) -> None:
        """Load the optimiser / EMA state when the resumed checkpoint lies inside `stage`."""
        if self.resume_from is not None and stage.start < self.step < stage.end:
            ckpt.load_stage_state(self.resume_from, optimizer, lr_scheduler, ema)

    def _seed_step(self) -> None:
        """Seed the global RNG (dropout, VAE sampling) from the step, so a resumed run draws the same numbers."""
        torch.manual_seed((int(self.config["seed"]) * 1_000_003 + self.step) * 131 + self.accelerator.process_index)

    def _progress(self, stage: Stage):
        return tqdm(total=stage.steps, initial=self.step - stage.start, desc=stage.name,
                    disable=not (self.is_main and self.show_progress), dynamic_ncols=True)

    def _periodic(self, stage: Stage, optimizer, lr_scheduler, ema, extra=None) -> None:
        every = int(self.config["checkpoint"]["every"])
        if every > 0 and self.step % every == 0 and self.step < stage.end:
            self._save(stage, optimizer, lr_scheduler, ema, extra)

    def _optimizer_step(self, stage: Stage, params, optimizer, lr_scheduler, ema, started: float, bar,
                        losses: dict) -> None:
        """Clip, step, schedule and average; count the step; progress bar and TensorBoard (`losses` by
        name, 'loss' first); a stage out of time ends here."""
        clip = self.config["train"]["max_grad_norm"]
        if clip:
            self.accelerator.clip_grad_norm_(params, float(clip))
        optimizer.step()
        lr_scheduler.step(time.perf_counter() - started)
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update(self.model)
        self.step += 1
        lr = lr_scheduler.get_last_lr()[0]
        bar.update(1)
        bar.set_postfix(loss=f"{losses['loss']:.4f}", lr=f"{lr:.2e}")
        if self.step % int(self.config["log_every"]) == 0:
            self.logger.scalars({**{f"{stage.name}/{k}": v for k, v in losses.items()}, f"{stage.name}/lr": lr},
                                self.step)
        if lr_scheduler.out_of_time:
            log.info("stage %s: max_minutes reached at step %d; moving on", stage.name, self.step)
            self.step = stage.end

    # ----- stages ------------------------------------------------------------------------------
    def run(self) -> Path:
        for stage in self.plan:
            if stage.steps == 0 or self.step >= stage.end:
                continue
            if stage.name == "vae":
                self._train_vae(stage)
            elif stage.name == "srm":
                self._train_srm(stage)
            else:
                self._train_diffusion(stage)
        return self.export()

    def _train_vae(self, stage: Stage) -> None:
        model, acc = self.model, self.accelerator
        model.requires_grad_(False)
        decoder_only = stage.settings["train"] == "decoder"
        parts = [model.vae.decoder, model.vae.post_quant_conv] if decoder_only else [model.vae]
        for part in parts:
            part.requires_grad_(True)
        params = [p for p in model.vae.parameters() if p.requires_grad]
        batch_size = int(stage.settings["batch_size"])
        optimizer, lr_scheduler = self._optimizer(params, stage)
        self._resume_stage(stage, optimizer, lr_scheduler, None)
        trainer, optimizer = acc.prepare(VAETrainer(model.vae), optimizer)
        order = EpochOrder(len(self.train_set), int(self.config["seed"]))
        batches = pixel_loader(self.train_set, order, self.step - stage.start, batch_size, acc.num_processes,
                               acc.process_index, int(self.config["data"]["num_workers"]))
        bar = self._progress(stage)
        model.train()
        while self.step < stage.end:
            started = time.perf_counter()
            self._seed_step()
            batch = next(batches)
            generator = step_generator(self.config["seed"], self.step, acc.process_index)
            pixels = self._vae_canvases(batch, generator).to(self.device)
            recon, kl = trainer(pixels)
            rec_loss = (recon.float() - pixels).abs().mean() + ((recon.float() - pixels) ** 2).mean()
            loss = rec_loss + float(stage.settings["kl_weight"]) * kl
            acc.backward(loss)
            self._optimizer_step(stage, params, optimizer, lr_scheduler, None, started, bar,
                                 {"loss": loss.item(), "recon": rec_loss.item(), "kl": kl.item()})
            self._periodic(stage, optimizer, lr_scheduler, None)
        bar.close()
        model.vae.eval()
        if not decoder_only:  # a decoder-only stage keeps the latents, and so their scale
            scale = self._calibrate_latent_scale()
            ckpt.set_latent_scale(model, scale)
            log.info("VAE latent scale set to %.4f (unit-variance latents)", scale)
        self._save(stage)

    def _vae_canvases(self, batch: dict, generator: torch.Generator) -> torch.Tensor:
        """One canvas per item, chosen among the try-on / try-off canvases, plain or masked."""
        axis = self.model.config.concat_axis
        vton = cv.tryon_canvas(batch["person"], batch["garment"], batch["inpaint_mask"], axis)
        vtoff = cv.tryoff_canvas(batch["person"], batch["garment_mask"], axis, garment=batch["garment"])
        choices = torch.stack([vton.image, vton.masked, vtoff.image, vtoff.masked])  # (4,B,3,H,2W)
        pick = torch.randint(0, 4, (choices.shape[1],), generator=generator)
        return choices[pick, torch.arange(choices.shape[1])]

    @torch.no_grad()
    def _calibrate_latent_scale(self, count: int = 256) -> float:
        """1 / std of the unscaled latents of up to `count` training canvases."""
        model = self.model
        model.vae.eval()
        indices = list(range(min(count, len(self.train_set))))
        values = []
        for start in range(0, len(indices), 32):
            batch = pixel_batch(self.train_set, indices[start:start + 32])
            pixels = self._vae_canvases(batch, torch.Generator().manual_seed(start)).to(self.device)
            values.append(model.vae.encode(pixels.to(model.vae.dtype)).latent_dist.mode().float().flatten())
        std = torch.cat(values).std().item()
        return 1.0 / max(std, 1e-6)

    def _train_diffusion(self, stage: Stage) -> None:
        model, acc, train, cfg = self.model, self.accelerator, self.config["train"], self.config
        number = stage.number
        names = model.set_stage(number, train_encoders=bool(cfg["model"]["train_encoders"]))  # VAE frozen
        params = [p for n, p in model.named_parameters() if p.requires_grad]
        optimizer, lr_scheduler = self._optimizer(params, stage)
        ema = EMA(model, names, float(train["ema_decay"])) if float(train["ema_decay"]) > 0 else None
        self._resume_stage(stage, optimizer, lr_scheduler, ema)
        wrapped, optimizer = acc.prepare(model, optimizer)
        kernel = int(cfg["stages"]["stage2"]["square_kernel"])
        model.eval()  # the cache is encoded with the frozen VAE in eval mode
        if cfg["data"]["cache_latents"]:
            source = LatentCache(model, self.train_set, number, kernel, num_workers=int(cfg["data"]["num_workers"]),
                                 store_device=self.device, show_progress=self.is_main and self.show_progress)
        else:
            source = OnTheFly(model, self.train_set, number, kernel)
        order = EpochOrder(source.n, int(cfg["seed"]) + number)
        batch_size, accum = int(train["batch_size"]), int(train["grad_accum"])
        mask_weight = float(stage.settings.get("mask_loss_weight", 0.0)) if number == 1 else 0.0
        bar = self._progress(stage)
        model.train()
        model.vae.eval()
        while self.step < stage.end:
            started = time.perf_counter()
            self._seed_step()
            local = self.step - stage.start
            logs = {"loss": 0.0, "noise": 0.0, "mask": 0.0}
            for micro in range(accum):
                m = local * accum + micro
                entries = source.batch(order.batch(m, batch_size, acc.num_processes, acc.process_index), self.device)
                generator = step_generator(cfg["seed"], stage.start * accum + m, acc.process_index)
                inputs = assemble(entries, self.noise_scheduler, generator, float(train["tryoff_fraction"]),
                                  float(train["cfg_dropout"]), model.config.concat_axis)
                ids, attn = model.tokenize(inputs.prompts, device=self.device)
                sync = acc.no_sync(wrapped) if micro < accum - 1 else contextlib.nullcontext()
                with sync:
                    out = wrapped(inputs.unet_input, inputs.timesteps, inputs.reference, ids, attn, drop=inputs.drop)
                    n_loss = noise_loss(out.noise_pred, inputs.noise)
                    loss = n_loss
                    if mask_weight > 0:
                        m_loss = mask_loss(out.garment_mask_logits, inputs.garment_mask,
                                           float(stage.settings["dice_weight"]), float(stage.settings["bce_weight"]))
                        loss = loss + mask_weight * m_loss
                        logs["mask"] += m_loss.item() / accum
                    acc.backward(loss / accum)
                logs["loss"] += loss.item() / accum
                logs["noise"] += n_loss.item() / accum
            self._optimizer_step(stage, params, optimizer, lr_scheduler, ema, started, bar,
                                 {k: v for k, v in logs.items() if k != "mask" or mask_weight > 0})
            self._maybe_validate(stage, ema)
            self._periodic(stage, optimizer, lr_scheduler, ema)
        bar.close()
        if ema is not None:
            ema.copy_to(model)
        self._save(stage)

    def _train_srm(self, stage: Stage) -> None:
        model, acc, train, cfg = self.model, self.accelerator, self.config["train"], self.config
        parts = ("taskformer", "srm_decoder") + (("swin",) if cfg["model"]["train_encoders"] else ())
        for name, p in model.named_parameters():  # SAM (F_SAM, F_QF) and the UNet stay as they are
            p.requires_grad_(part_of(name) in parts)
        names = [name for name, p in model.named_parameters() if p.requires_grad]
        params = [p for p in model.parameters() if p.requires_grad]
        # The teacher is the SRM as the stage found it; a resumed run reads it back from its checkpoint.
        teacher = copy.deepcopy(model.srm).requires_grad_(False).eval()
        if self.resume_from is not None and stage.start < self.step < stage.end:
            teacher.load_state_dict(ckpt.load_extra(self.resume_from, "srm_teacher"))
        optimizer, lr_scheduler = self._optimizer(params, stage)
        ema = EMA(model, names, float(train["ema_decay"])) if float(train["ema_decay"]) > 0 else None
        self._resume_stage(stage, optimizer, lr_scheduler, ema)
        trainer, optimizer = acc.prepare(SRMTrainer(model), optimizer)
        settings = stage.settings
        order = EpochOrder(len(self.train_set), int(cfg["seed"]) + stage.number)
        batches = pixel_loader(self.train_set, order, self.step - stage.start, int(train["batch_size"]),
                               acc.num_processes, acc.process_index, int(cfg["data"]["num_workers"]))
        extra = {"srm_teacher": teacher.state_dict()}
        bar = self._progress(stage)
        model.eval()
        model.srm.train()
        while self.step < stage.end:
            started = time.perf_counter()
            self._seed_step()
            batch = next(batches)
            generator = step_generator(cfg["seed"], self.step, acc.process_index)
            tryoff = torch.rand(batch["person"].shape[0], generator=generator) < float(settings["tryoff_fraction"])
            reference = torch.where(tryoff.view(-1, 1, 1, 1), batch["person"], batch["garment"]).to(self.device)
            target = batch["garment_mask"].to(self.device)
            ids, attn = model.tokenize(list(batch["prompt"]), device=self.device)
            qformer_tokens, out = trainer(reference, ids, attn)
            m_loss = srm_mask_loss(out, target, float(settings["dice_weight"]), float(settings["bce_weight"]))
            with torch.no_grad():
                held = teacher(reference, qformer_tokens, with_tokens=True).tokens
            d_loss = nn.functional.mse_loss(out.tokens.float(), held.float())
            loss = m_loss + float(settings["distill_weight"]) * d_loss
            acc.backward(loss)
            self._optimizer_step(stage, params, optimizer, lr_scheduler, ema, started, bar,
                                 {"loss": loss.item(), "mask": m_loss.item(), "distill": d_loss.item()})
            self._periodic(stage, optimizer, lr_scheduler, ema, extra)
        bar.close()
        if ema is not None:
            ema.copy_to(model)
        model.eval()
        self._save(stage)

    def _maybe_validate(self, stage: Stage, ema) -> None:
        spec = self.config["validate"]
        every = int(spec["every"])
        due = self.step == stage.end or (every > 0 and self.step % every == 0)
        if not (due and self.is_main and self.val_set is not None and int(spec["count"]) > 0):
            return
        if ema is not None:
            ema.swap(self.model)
        try:
            grid = validation_grid(self.model, self.val_set, int(spec["count"]), int(spec["steps"]),
                                   float(spec["guidance"]), int(self.config["seed"]))
        finally:
            if ema is not None:
                ema.swap(self.model)
        path = save_grid(grid, self.output_dir / "validation" / f"step-{self.step:06d}.png")
        self.logger.image(f"validation/{stage.name}", grid, self.step)
        log.info("validation grid: %s", path)

    # ----- export ------------------------------------------------------------------------------
    def export(self) -> Path:
        """Write the final model as a TWGTM checkpoint (the EMA weights of the last stage)."""
        spec = self.config["export"]
        path = Path(spec["path"] or self.output_dir / "model.safetensors")
        self.accelerator.wait_for_everyone()
        if self.is_main:
            save_checkpoint(self.model, path, dtype=DTYPES[spec["dtype"]],
                            metadata={"trained_steps": self.step, "training_config": self.config})
            log.info("exported the trained model to %s", path)
        self.logger.close()
        return path
