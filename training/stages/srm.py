"""Stage srm (optional, no UNet): refine the flat-garment mask head TFQ_0. The SRM trains on the mask
loss alone while its F_SRM tokens are held to those of the stage's starting weights (distillation from
a frozen copy, the teacher), so the UNet's conditioning stays what it was trained with. At the end
the EMA weights become the model's weights."""
from __future__ import annotations

import copy
import time

import torch
import torch.nn as nn

from twgtm.model.network import TWGTM, part_of

from ..checkpointing import StageState
from ..data import EpochOrder, pixel_loader
from ..ema import EMA
from ..losses import srm_mask_loss
from ..seeding import seed_global_rng, step_generator
from .base import StageLoop


class SRMTrainer(nn.Module):
    """The srm stage's forward: frozen SAM (F_QF) then the SRM on a batch of reference images."""

    def __init__(self, model: TWGTM):
        super().__init__()
        self.sam, self.srm = model.sam, model.srm

    def forward(self, reference: torch.Tensor, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor):
        """References (B,3,H,W) and prompts -> (F_QF tokens, SRM output with its tokens)."""
        with torch.no_grad():
            qformer_tokens = self.sam(reference, prompt_ids, prompt_mask).qformer_tokens
        return qformer_tokens, self.srm(reference, qformer_tokens, with_tokens=True)


class SRMStage(StageLoop):
    """Mask loss on the SRM's TFQ_0 plus `distill_weight` times the MSE of its tokens to the teacher's."""

    def trainable_names(self) -> list[str]:
        """Make the TaskFormer and SRM decoder (and Swin with model.train_encoders) trainable; their names."""
        parts = ("taskformer", "srm_decoder") + (("swin",) if self.config.model.train_encoders else ())
        for name, p in self.model.named_parameters():  # SAM (F_SAM, F_QF) and the UNet stay as they are
            p.requires_grad_(part_of(name) in parts)
        return [name for name, p in self.model.named_parameters() if p.requires_grad]

    def train(self) -> None:
        """Train the SRM to the stage's end; EMA weights into the model; save."""
        model, acc, train, stage, seed = self.model, self.accelerator, self.config.train, self.stage, self.config.seed
        settings = stage.settings
        names = self.trainable_names()
        params = [p for p in model.parameters() if p.requires_grad]
        # The teacher is the SRM as the stage found it; a resumed run reads it back from its checkpoint.
        teacher = copy.deepcopy(model.srm).requires_grad_(False).eval()
        optimizer, schedule = self.make_optimizer(params)
        ema = EMA(model, names, train.ema_decay) if train.ema_decay > 0 else None
        trainer, optimizer = self.prepare(SRMTrainer(model), optimizer)
        self.resume(StageState(schedule, ema, {"srm_teacher": teacher}))
        order = EpochOrder(len(self.run.train_set), seed + stage.number)
        batches = pixel_loader(self.run.train_set, order, self.step - stage.start, train.batch_size,
                               acc.num_processes, acc.process_index, self.config.data.num_workers)
        bar = self.progress_bar()
        model.eval()
        model.srm.train()
        while self.step < stage.end:
            started = time.perf_counter()
            seed_global_rng(seed, self.step, acc.process_index)
            batch = next(batches)
            generator = step_generator(seed, self.step, acc.process_index)
            tryoff = torch.rand(batch["person"].shape[0], generator=generator) < settings.tryoff_fraction
            reference = torch.where(tryoff.view(-1, 1, 1, 1), batch["person"], batch["garment"]).to(self.device)
            target = batch["garment_mask"].to(self.device)  # (B,1,H,W)
            ids, attn = model.tokenize(list(batch["prompt"]), device=self.device)
            with acc.accumulate(trainer):
                qformer_tokens, out = trainer(reference, ids, attn)
                m_loss = srm_mask_loss(out, target, settings.dice_weight, settings.bce_weight)
                with torch.no_grad():
                    held = teacher(reference, qformer_tokens, with_tokens=True).tokens
                d_loss = nn.functional.mse_loss(out.tokens.float(), held.float())
                loss = m_loss + settings.distill_weight * d_loss
                acc.backward(loss)
                self.optimizer_step(params, optimizer, schedule, ema, started, bar,
                                    {"loss": loss.item(), "mask": m_loss.item(), "distill": d_loss.item()})
            self.periodic_checkpoint()
        bar.close()
        if ema is not None:
            ema.copy_to(model)
        model.eval()
        self.finish()
