"""Stages 1 and 2: the UNet learns both tasks from batches that mix try-on and try-off items.

    stage1  mask-guided inpainting + λ(λ'·Dice + λ''·BCE) on TFQ_0, extended attention off
    stage2  square masks for try-off, extended attention on, the same mask loss kept
            (`stages.stage2.mask_loss_weight`, 0 = noise loss only)
Each optimiser step is `train.grad_accum` micro-batches under `accelerator.accumulate`; at the end
the stage's EMA weights become the model's weights.
"""
from __future__ import annotations

import time

from diffusers import DDPMScheduler

from twgtm.model.config import TWGTMConfig
from twgtm.model.network import part_of
from twgtm.sampling.schedulers import noise_config

from ..checkpointing import StageState
from ..data import EpochOrder, LatentCache, OnTheFly, PixelCache, assemble, draw_tasks
from ..ema import EMA
from ..losses import mask_loss, weighted_noise_loss
from ..seeding import COLOUR_STREAM, seed_global_rng, step_generator
from .base import StageLoop


def training_noise_scheduler(config: TWGTMConfig | None = None) -> DDPMScheduler:
    """The DDPM forward process the model learns (timesteps, noise levels, target): SD1.5's, with the
    model config's prediction type and zero terminal SNR."""
    noise = noise_config(config.prediction_type, config.zero_terminal_snr) if config is not None else noise_config()
    return DDPMScheduler(**{k: v for k, v in noise.items() if k != "timestep_spacing"})


class DiffusionStage(StageLoop):
    """The noise loss plus the mask loss on TFQ_0 on latent canvases, cached or encoded per batch."""

    def accumulation_steps(self) -> int:
        """`train.grad_accum` micro-batches per step."""
        return self.config.train.grad_accum

    def latent_source(self):
        """The stage's canvases as latents: cached once (data.cache_latents) or encoded per batch."""
        model, cfg, number = self.model, self.config, self.stage.number
        kernel = cfg.stages.stage2.square_kernel
        if cfg.data.cache_latents:
            return LatentCache(model, self.run.train_set, number, kernel, num_workers=cfg.data.num_workers,
                               store_device=self.device,
                               show_progress=self.accelerator.is_main_process and self.run.show_progress)
        if cfg.data.cache_pixels:
            return PixelCache(model, self.run.train_set, number, kernel, cfg.data.solid_colour_fraction,
                              store_device=self.device, num_workers=cfg.data.num_workers,
                              show_progress=self.accelerator.is_main_process and self.run.show_progress)
        return OnTheFly(model, self.run.train_set, number, kernel, cfg.data.solid_colour_fraction)

    def train(self) -> None:
        """Train the stage's parts to its end; EMA weights into the model; save."""
        model, acc, train, cfg, stage = self.model, self.accelerator, self.config.train, self.config, self.stage
        number, seed = stage.number, cfg.seed
        names = model.set_stage(number, train_encoders=cfg.model.train_encoders)  # VAE frozen
        frozen = set(getattr(stage.settings, "freeze", ()))
        if frozen:  # parts this stage keeps as they are
            for name, param in model.named_parameters():
                if part_of(name) in frozen:
                    param.requires_grad_(False)
            names = [name for name in names if part_of(name) not in frozen]
        params = [p for n, p in model.named_parameters() if p.requires_grad]
        optimizer, schedule = self.make_optimizer(params)
        ema = EMA(model, names, train.ema_decay) if train.ema_decay > 0 else None
        if train.compile:  # the UNet's forward, in place: the state-dict keys stay (checkpoints, EMA)
            model.unet.compile(backend=train.compile)
        wrapped, optimizer = self.prepare(model, optimizer)
        self.resume(StageState(schedule, ema))
        model.eval()  # the cache is encoded with the frozen VAE in eval mode
        source = self.latent_source()
        noise_scheduler = training_noise_scheduler(model.config)
        recolour = cfg.data.solid_colour_fraction > 0
        order = EpochOrder(source.n, seed + number)
        batch_size, accum = train.batch_size, self.accumulation_steps()
        mask_weight = stage.settings.mask_loss_weight
        bar = self.progress_bar()
        model.train()
        model.vae.eval()
        while self.step < stage.end:
            started = time.perf_counter()
            seed_global_rng(seed, self.step, acc.process_index)
            local = self.step - stage.start
            logs = {"loss": 0.0, "noise": 0.0, "mask": 0.0}
            for micro in range(accum):
                m = local * accum + micro
                indices = order.batch(m, batch_size, acc.num_processes, acc.process_index)
                generator = step_generator(seed, stage.start * accum + m, acc.process_index)
                tryoff = draw_tasks(len(indices), generator, train.tryoff_fraction)  # encode each item's task only
                colours = step_generator(seed + COLOUR_STREAM, stage.start * accum + m, acc.process_index) \
                    if recolour else None
                entries = source.batch(indices, self.device, colours, tryoff=tryoff)
                inputs = assemble(entries, noise_scheduler, generator, train.tryoff_fraction, train.cfg_dropout,
                                  model.config.concat_axis, train.timestep_sampling, tryoff=tryoff)
                ids, attn = model.tokenize(inputs.prompts, device=self.device)
                with acc.accumulate(wrapped):
                    out = wrapped(inputs.unet_input, inputs.timesteps, inputs.reference, ids, attn, drop=inputs.drop)
                    n_loss = weighted_noise_loss(out.noise_pred, inputs.target, inputs.mask, model.config.concat_axis,
                                                 train.inpaint_loss_weight, train.reference_loss_weight)
                    loss = n_loss
                    if mask_weight > 0:
                        m_loss = mask_loss(out.garment_mask_logits, inputs.garment_mask,
                                           stage.settings.dice_weight, stage.settings.bce_weight)
                        loss = loss + mask_weight * m_loss
                        logs["mask"] += m_loss.item() / accum
                    acc.backward(loss)  # divided by the accumulation steps
                    logs["loss"] += loss.item() / accum
                    logs["noise"] += n_loss.item() / accum
                    self.optimizer_step(params, optimizer, schedule, ema, started, bar,
                                        {k: v for k, v in logs.items() if k != "mask" or mask_weight > 0})
            self.validate_if_due(ema)
            self.periodic_checkpoint()
        bar.close()
        if ema is not None:
            ema.copy_to(model)
        self.finish()
