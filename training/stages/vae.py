"""Stage vae: train the small VAE of a from-scratch preset on canvases and set its latent scale, or
(`stages.vae.train=decoder`) sharpen only the decoder of a trained model, whose latents stay."""
from __future__ import annotations

import logging
import time

import torch
import torch.nn as nn

from twgtm import canvas as cv

from ..checkpointing import StageState, set_latent_scale
from ..data import EpochOrder, pixel_batch, pixel_loader, solid_colours
from ..seeding import COLOUR_STREAM, seed_global_rng, step_generator
from .base import StageLoop

log = logging.getLogger("twgtm")


class VAETrainer(nn.Module):
    """The VAE's training forward: reconstruction and KL divergence of a batch of canvases."""

    def __init__(self, vae, decode_mode: bool = False):
        super().__init__()
        self.vae, self.decode_mode = vae, decode_mode

    def forward(self, pixels: torch.Tensor, generator=None):
        """Canvases (B,3,H,W) -> (reconstruction (B,3,H,W), mean KL).

        `decode_mode`: decode the posterior mean, the latents the UNet learns and samples (decoder-only
        training of a trained model); otherwise a posterior sample, as a VAE trains.
        """
        posterior = self.vae.encode(pixels).latent_dist
        latents = posterior.mode() if self.decode_mode else posterior.sample(generator)
        return self.vae.decode(latents).sample, posterior.kl().mean()


def vae_canvases(model, batch: dict, generator: torch.Generator) -> torch.Tensor:
    """One canvas per item, chosen among the try-on / try-off canvases, plain or masked: (B,3,H,2W)."""
    axis = model.config.concat_axis
    vton = cv.tryon_canvas(batch["person"], batch["garment"], batch["inpaint_mask"], axis)
    vtoff = cv.tryoff_canvas(batch["person"], batch["garment_mask"], axis, garment=batch["garment"])
    choices = torch.stack([vton.image, vton.masked, vtoff.image, vtoff.masked])  # (4,B,3,H,2W)
    pick = torch.randint(0, 4, (choices.shape[1],), generator=generator)
    return choices[pick, torch.arange(choices.shape[1])]


class VAEStage(StageLoop):
    """Reconstruction (L1 + L2) plus `kl_weight` times the KL divergence, one batch per step."""

    def train(self) -> None:
        """Train the VAE (or its decoder) to the stage's end; calibrate the latent scale; save."""
        model, acc, stage, seed = self.model, self.accelerator, self.stage, self.config.seed
        model.requires_grad_(False)
        decoder_only = stage.settings.train == "decoder"
        parts = [model.vae.decoder, model.vae.post_quant_conv] if decoder_only else [model.vae]
        for part in parts:
            part.requires_grad_(True)
        params = [p for p in model.vae.parameters() if p.requires_grad]
        optimizer, schedule = self.make_optimizer(params)
        trainer, optimizer = self.prepare(VAETrainer(model.vae, decode_mode=decoder_only), optimizer)
        self.resume(StageState(schedule))
        order = EpochOrder(len(self.run.train_set), seed)
        batches = pixel_loader(self.run.train_set, order, self.step - stage.start, stage.settings.batch_size,
                               acc.num_processes, acc.process_index, self.config.data.num_workers)
        bar = self.progress_bar()
        model.train()
        while self.step < stage.end:
            started = time.perf_counter()
            seed_global_rng(seed, self.step, acc.process_index)
            batch = next(batches)
            if self.config.data.solid_colour_fraction > 0:
                batch = solid_colours(batch, self.config.data.solid_colour_fraction,
                                      step_generator(seed + COLOUR_STREAM, self.step, acc.process_index))
            generator = step_generator(seed, self.step, acc.process_index)
            pixels = vae_canvases(model, batch, generator).to(self.device)  # (B,3,H,2W)
            with acc.accumulate(trainer):
                recon, kl = trainer(pixels)
                rec_loss = (recon.float() - pixels).abs().mean() + ((recon.float() - pixels) ** 2).mean()
                loss = rec_loss + stage.settings.kl_weight * kl
                acc.backward(loss)
                self.optimizer_step(params, optimizer, schedule, None, started, bar,
                                    {"loss": loss.item(), "recon": rec_loss.item(), "kl": kl.item()})
            self.periodic_checkpoint()
        bar.close()
        model.vae.eval()
        if not decoder_only:  # a decoder-only stage keeps the latents, and so their scale
            scale = self.calibrate_latent_scale()
            set_latent_scale(model, scale)
            log.info("VAE latent scale set to %.4f (unit-variance latents)", scale)
        self.finish()

    @torch.no_grad()
    def calibrate_latent_scale(self, count: int = 256) -> float:
        """1 / std of the unscaled latents of up to `count` training canvases."""
        model, dataset = self.model, self.run.train_set
        model.vae.eval()
        indices = list(range(min(count, len(dataset))))
        values = []
        for start in range(0, len(indices), 32):
            batch = pixel_batch(dataset, indices[start:start + 32])
            pixels = vae_canvases(model, batch, torch.Generator().manual_seed(start)).to(self.device)
            values.append(model.vae.encode(pixels.to(model.vae.dtype)).latent_dist.mode().float().flatten())
        std = torch.cat(values).std().item()
        return 1.0 / max(std, 1e-6)
