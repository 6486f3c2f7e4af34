"""Training: typed config and overrides, the phased stages on the tiny preset, accelerate checkpoints,
resume, interrupted saves, gradient accumulation."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from accelerate.utils import load as accelerate_load
from safetensors.torch import load_file

from training import checkpointing as ckpt
from training.config import DataSection, TrainingConfig, load_config
from training.data import EpochOrder, LatentCache, assemble
from training.ema import EMA
from training.losses import dice_loss, mask_loss
from training.run import main as run_main
from training.schedule import StageSchedule
from training.seeding import seed_global_rng, step_generator, step_seed
from training.trainer import Trainer
from twgtm.weights.checkpoint import load_checkpoint
from twgtm.data.toy import generate_toy_wardrobe
from twgtm.errors import CheckpointError, ConfigError
from twgtm.model.network import part_of

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    generate_toy_wardrobe(root, n=14, seed=5, size=(64, 48), test_fraction=0.15)
    return root


def tiny_config(root: Path, out: Path, *overrides: str) -> TrainingConfig:
    return load_config(CONFIGS / "tiny.yaml", [f"data.root={root}", f"output_dir={out}", "train.threads=1",
                                               *overrides])


def weights(path: Path) -> dict:
    return load_file(str(path))


# ----- config ------------------------------------------------------------------------------------------
def test_shipped_configs_load_and_overrides_apply(toy_root):
    for name in ("demo", "vitonhd", "dresscode", "tiny"):
        config = load_config(CONFIGS / f"{name}.yaml", ["data.root=/somewhere"])
        assert config.data.root == "/somewhere"
    config = load_config(CONFIGS / "demo.yaml", ["data.root=/x", "train.max_steps=2", "output_dir=/y",
                                                 "data.size=[64, 48]", "resume=latest", "train.lr=1e-4"])
    assert config.train.max_steps == 2 and config.output_dir == "/y"
    assert config.data.size == (64, 48) and config.resume == "latest"
    assert config.model.train_encoders is True and config.stages.vae.steps > 0
    assert config.train.lr == 1e-4 and config.stages.vae.lr == 1e-3  # 1e-4 is a string to YAML; read as a number
    assert config.export.dtype == "float16" and config.checkpoint.keep == 2  # from demo.yaml
    assert config.train.weight_decay == 0.0 and config.validate.guidance == 2.5  # from the defaults
    assert config.to_dict()["data"]["size"] == [64, 48]
    assert load_config(None, ["data.root=/x"]) == TrainingConfig(data=DataSection(root="/x"))


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="unknown training config key train.'lerning_rate'"):
        load_config(CONFIGS / "tiny.yaml", ["train.lerning_rate=1"])
    with pytest.raises(ConfigError, match="data.root is not set"):
        load_config(CONFIGS / "tiny.yaml", ["data.root=null"])
    with pytest.raises(ConfigError, match="must look like key.subkey=value"):
        load_config(CONFIGS / "tiny.yaml", ["train.max_steps"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="mixed_precision"):
        load_config(CONFIGS / "tiny.yaml", ["data.root=/x", "train.mixed_precision=fp8"])
    assert run_main(["--config", str(CONFIGS / "tiny.yaml"), "train.nope=1", "--no-progress"]) == 2


@pytest.mark.parametrize("override, key, expected", [
    ("train.batch_size=four", "train.batch_size", "must be an integer; got 'four'"),
    ("data.size=[64, 48, 3]", "data.size", "must be a list of 2 integers"),
    ("data.size=[64, x]", r"data.size\[1\]", "must be an integer"),
    ("train.lr_schedule=linear", "train.lr_schedule", "must be one of cosine | constant"),
    ("stages.vae.train=encoder", "stages.vae.train", "must be one of all | decoder"),
    ("export.dtype=fp8", "export.dtype", "must be one of float32 | float16 | bfloat16"),
    ("model.train_encoders=yes please", "model.train_encoders", "must be true or false"),
    ("train.max_steps=2.5", "train.max_steps", "must be an integer or null"),
    ("stages.stage1=3", "stages.stage1", "must be a mapping of keys"),
    ("train.grad_accum=0", "train.grad_accum", "must be at least 1"),
])
def test_mistyped_overrides_name_the_key_the_override_and_what_is_expected(override, key, expected):
    with pytest.raises(ConfigError, match=rf"{key} \(in override '{re.escape(override)}'\) {expected}"):
        load_config(CONFIGS / "tiny.yaml", ["data.root=/x", override])


def test_mistyped_file_values_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: {batch_size: 4}\nstages:\n  stage2: {square_kernel: nine}\n")
    with pytest.raises(ConfigError, match=rf"stages.stage2.square_kernel \(in {re.escape(str(path))}\) must be an "
                                          r"integer; got 'nine'"):
        load_config(path, ["data.root=/x"])
    path.write_text("train: {batch_size: 0}\n")  # a range check names where the value was set too
    with pytest.raises(ConfigError, match=rf"train.batch_size \(in {re.escape(str(path))}\) must be at least 1"):
        load_config(path, ["data.root=/x"])
    path.write_text("seed: 0\nvalidate: {evry: 3}\n")
    with pytest.raises(ConfigError, match=rf"unknown training config key validate.'evry' \(in {re.escape(str(path))}\)"):
        load_config(path, ["data.root=/x"])
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping of keys"):
        load_config(path)


def test_run_errors_are_twgtm_errors_that_say_what_to_do(toy_root, tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    base = ["--config", str(CONFIGS / "tiny.yaml"), "--no-progress", f"data.root={toy_root}", "train.threads=1",
            f"output_dir={tmp_path / 'run'}"]
    for override, message in (("data.size=[60,44]", "both sides must be multiples of 16 pixels; use e.g. data.size=[64,48]"),
                              (f"output_dir={tmp_path / 'a-file' / 'run'}", "set output_dir to a writable folder"),
                              ("model.init=/nope.safetensors", "checkpoint not found"),
                              (f"resume={tmp_path}", "not a complete checkpoint folder"),
                              ("data.num_workers=-1", "must be 0 or more")):
        assert run_main([*base, override]) == 2, override
        assert message in capsys.readouterr().err, override


def test_flags_work_in_any_position_among_the_overrides(toy_root, tmp_path, capsys):
    """`--no-progress` and `--config` before, between or after the key=value overrides."""
    overrides = [f"data.root={toy_root}", "train.threads=1", f"output_dir={tmp_path / 'run'}", "data.size=[60,44]"]
    config = ["--config", str(CONFIGS / "tiny.yaml")]
    for argv in ([*config, "--no-progress", *overrides], [*overrides[:2], "--no-progress", *config, *overrides[2:]],
                 [*overrides, *config, "--no-progress"], [overrides[0], f"--config={CONFIGS / 'tiny.yaml'}",
                                                         *overrides[1:], "--no-progress"]):
        assert run_main(argv) == 2, argv  # parsed: the config loads and its data.size is refused
        assert "data.size [60, 44] does not fit" in capsys.readouterr().err, argv
    with pytest.raises(SystemExit):
        run_main([*config, *overrides, "--no-progess"])  # a mistyped flag is an argparse error, not an override
    assert "unrecognized arguments: --no-progess" in capsys.readouterr().err


# ----- pieces ------------------------------------------------------------------------------------------
def test_one_step_seed_drives_both_the_generator_and_the_global_rng():
    assert step_seed(3, 7, 1) == (3 * 1_000_003 + 7) * 131 + 1
    seed_global_rng(3, 7, 1)
    assert torch.equal(torch.rand(4), torch.rand(4, generator=step_generator(3, 7, 1)))
    assert not torch.equal(torch.rand(4, generator=step_generator(3, 7, 0)),
                           torch.rand(4, generator=step_generator(3, 7, 1)))  # each process draws its own


def test_ema_refuses_a_state_of_another_model():
    model = torch.nn.Linear(3, 2)
    ema = EMA(model, ["weight", "bias"], 0.9)
    with pytest.raises(CheckpointError, match="lack 1 trainable parameters"):
        ema.load_state_dict({"shadow": {"weight": torch.zeros(2, 3)}, "updates": 1}, "x/ema.safetensors")
    with pytest.raises(CheckpointError, match="other shapes than the model"):
        ema.load_state_dict({"shadow": {"weight": torch.zeros(2, 4), "bias": torch.zeros(2)}, "updates": 1})


def test_epoch_order_is_a_permutation_and_ranks_are_disjoint():
    order = EpochOrder(10, seed=3)
    first_epoch = [order.index(p) for p in range(10)]
    assert sorted(first_epoch) == list(range(10))
    assert [order.index(p) for p in range(10, 20)] != first_epoch  # a new permutation each epoch
    rank0, rank1 = order.batch(0, 3, world=2, rank=0), order.batch(0, 3, world=2, rank=1)
    assert not set(rank0) & set(rank1)
    assert EpochOrder(10, seed=3).batch(4, 3) == order.batch(4, 3)  # depends only on (seed, micro-batch)


def test_mask_losses():
    target = torch.zeros(2, 1, 8, 8)
    target[:, :, 2:6, 2:6] = 1
    good, bad = (target * 2 - 1) * 20, (1 - target * 2) * 20
    assert dice_loss(good, target) < 0.05 < 0.9 < dice_loss(bad, target)
    assert mask_loss(good, target.repeat_interleave(4, -1).repeat_interleave(4, -2)) < 0.1  # pixel mask resized


def test_batches_mix_tasks_drop_conditions_and_use_stage_masks(toy_root):
    from diffusers import DDPMScheduler
    from twgtm.data import build_dataset
    from twgtm.model.network import build_model

    torch.manual_seed(0)
    model = build_model("tiny").eval()
    dataset = build_dataset("toy", toy_root, size=(64, 48))
    stage1 = LatentCache(model, dataset, 1, 9, batch_size=8, show_progress=False)
    stage2 = LatentCache(model, dataset, 2, 9, batch_size=8, show_progress=False)
    entries = stage1.batch(list(range(8)), "cpu")
    assert entries["vton_x0"].shape[0] == 8 and entries["person"].min() >= -1
    # stage 2 try-off masks are boxes around the garment: never smaller than the garment mask
    assert (stage2.data["vtoff_mask"].float().sum() > stage1.data["vtoff_mask"].float().sum())
    assert torch.equal(stage1.data["vton_mask"], stage2.data["vton_mask"])
    sched = DDPMScheduler(num_train_timesteps=1000)
    inputs = assemble(entries, sched, step_generator(0, 7), tryoff_fraction=0.5, cfg_dropout=0.5, axis="width")
    assert inputs.unet_input.shape == (8, 9, *entries["vton_x0"].shape[-2:])
    assert int(inputs.tryoff.sum()) == 4  # every batch mixes both tasks
    for i in range(8):
        expected_ref = entries["person"][i] if inputs.tryoff[i] else entries["garment"][i]
        assert torch.equal(inputs.reference[i], expected_ref)
        ref_half = inputs.unet_input[i, 5:, :, entries["vton_x0"].shape[-1] // 2:]
        assert (ref_half.abs().sum() == 0) == bool(inputs.drop[i])  # dropped items lose the reference latent
    assert inputs.drop.any() and not inputs.drop.all()
    again = assemble(entries, sched, step_generator(0, 7), 0.5, 0.5, "width")
    assert torch.equal(again.unet_input, inputs.unet_input)  # a step's draws depend on (seed, step) only


def test_schedule_warmup_cosine_and_time_limit():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = StageSchedule(opt, warmup=2, total_steps=10, schedule="cosine")
    lrs = []
    for _ in range(10):
        lrs.append(sched.get_last_lr()[0])
        sched.step()
    assert lrs[0] == 0.5 and lrs[1] == 1.0 and lrs[2] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:])) and sched.get_last_lr()[0] == pytest.approx(0.0)
    timed = StageSchedule(opt, warmup=0, total_steps=1000, schedule="cosine", max_minutes=1.0)
    timed.step(30.0)  # half the time used after one step: half-way down the cosine
    assert timed.get_last_lr()[0] == pytest.approx(0.5) and not timed.out_of_time
    timed.step(31.0)
    assert timed.out_of_time


# ----- whole runs --------------------------------------------------------------------------------------
def test_phased_run_trains_each_stage_its_parts_and_exports(toy_root, tmp_path):
    out = tmp_path / "run"
    config = tiny_config(toy_root, out, "validate.every=2", "checkpoint.keep=5")
    trainer = Trainer(config, show_progress=False)
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    exported = trainer.run()
    assert trainer.step == 8
    found = ckpt.list_checkpoints(out)
    assert [p.name for p in found] == ["step-000002", "step-000004", "step-000006", "step-000008"]
    stages = [json.loads((p / "state.json").read_text())["stage"] for p in found]
    assert stages == ["vae", "stage1", "stage2", "srm"]

    def changed(before: dict, after: dict, part: str) -> bool:
        return any(not torch.equal(before[k], after[k]) for k in after if part_of(k) == part)

    after_vae, after_1, after_2, after_srm = (weights(p / "model.safetensors") for p in found)
    assert changed(initial, after_vae, "vae") and not changed(initial, after_vae, "unet")
    assert json.loads((found[0] / "state.json").read_text())["latent_scale"] != 1.0  # latent scale calibrated
    assert changed(after_vae, after_1, "unet") and changed(after_vae, after_1, "taskformer")
    assert not changed(after_vae, after_1, "vae")
    assert not changed(after_vae, after_1, "extended_attention")  # stage 1: extended attention off
    assert changed(after_1, after_2, "extended_attention") and changed(after_1, after_2, "srm_decoder")
    # srm: the SRM alone (Swin, TaskFormer, decoder); SAM and the UNet keep their weights
    assert changed(after_2, after_srm, "taskformer") and changed(after_2, after_srm, "swin")
    for part in ("unet", "clip", "qformer", "extended_attention", "vae"):
        assert not changed(after_2, after_srm, part), part
    assert sorted(p.name for p in (out / "validation").iterdir()) == ["step-000004.png", "step-000006.png"]
    assert any((out / "logs").iterdir())  # TensorBoard events
    model = load_checkpoint(exported)
    assert model.latent_scale == pytest.approx(json.loads((found[-1] / "state.json").read_text())["latent_scale"])
    final = model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in after_srm.items())


def test_resume_continues_at_the_saved_step_with_identical_state(toy_root, tmp_path):
    overrides = ("stages.vae.steps=0", "stages.stage1.steps=4", "stages.stage2.steps=0", "stages.srm.steps=0", "checkpoint.every=2",
                 "checkpoint.keep=5", "validate.count=0")
    full = Trainer(tiny_config(toy_root, tmp_path / "a", *overrides), show_progress=False)
    full.run()
    # a second run that has only the step-2 checkpoint resumes from it
    shutil.copytree(tmp_path / "a" / "checkpoints" / "step-000002", tmp_path / "b" / "checkpoints" / "step-000002")
    resumed = Trainer(tiny_config(toy_root, tmp_path / "b", *overrides, "resume=latest"), show_progress=False)
    assert resumed.step == 2
    resumed.run()
    assert resumed.step == 4
    a = weights(tmp_path / "a" / "checkpoints" / "step-000004" / "model.safetensors")
    b = weights(tmp_path / "b" / "checkpoints" / "step-000004" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # step 2 lies inside stage 1: accelerate's optimiser and RNG states, the EMA and the LR schedule
    step2 = tmp_path / "a" / "checkpoints" / "step-000002"
    assert sorted(p.name for p in step2.iterdir()) == ["ema.safetensors", "model.safetensors", "optimizer.bin",
                                                       "random_states_0.pkl", "state.json"]
    state = json.loads((step2 / "state.json").read_text())
    assert state["lr_schedule"]["done"] == 2 and state["stage"] == "stage1" and state["processes"] == 1
    assert set(state["files"]) == {"ema.safetensors", "model.safetensors", "optimizer.bin", "random_states_0.pkl"}
    saved = torch.load(step2 / "optimizer.bin", weights_only=True)
    assert saved["state"] and all(int(s["step"]) == 2 for s in saved["state"].values())
    mid_run = load_checkpoint(step2 / "model.safetensors")  # a user can sample from a mid-run checkpoint
    assert mid_run.latent_scale == pytest.approx(state["latent_scale"])
    # the end of a stage: the model and the RNG states, no optimiser
    step4 = tmp_path / "a" / "checkpoints" / "step-000004"
    assert sorted(p.name for p in step4.iterdir()) == ["model.safetensors", "random_states_0.pkl", "state.json"]


def test_resume_reads_only_the_files_the_checkpoint_wrote(toy_root, tmp_path):
    overrides = ("stages.vae.steps=0", "stages.stage1.steps=4", "stages.stage2.steps=0", "stages.srm.steps=0",
                 "checkpoint.every=2", "checkpoint.keep=5", "validate.count=0")
    Trainer(tiny_config(toy_root, tmp_path / "a", *overrides, "stages.stage1.steps=2", "checkpoint.every=1"),
            show_progress=False).run()
    step1 = tmp_path / "a" / "checkpoints" / "step-000001"
    planted = tmp_path / "b" / "checkpoints" / "step-000001"
    shutil.copytree(step1, planted)
    torch.save({"anything": 1}, planted / "custom_checkpoint_0.pkl")  # accelerate would unpickle it fully
    with pytest.raises(CheckpointError, match=r"not written by the training code: \['custom_checkpoint_0.pkl'\]"):
        Trainer(tiny_config(toy_root, tmp_path / "b", *overrides, "resume=latest"), show_progress=False).run()
    (planted / "custom_checkpoint_0.pkl").unlink()
    optimizer = torch.load(planted / "optimizer.bin", weights_only=True)
    optimizer["param_groups"][0]["lr"] = 1.0
    torch.save(optimizer, planted / "optimizer.bin")
    with pytest.raises(CheckpointError, match=r"changed: \['optimizer.bin'\]"):
        Trainer(tiny_config(toy_root, tmp_path / "b", *overrides, "resume=latest"), show_progress=False).run()


def test_a_save_killed_mid_write_leaves_the_last_checkpoint_loadable(toy_root, tmp_path, monkeypatch):
    out = tmp_path / "run"
    overrides = ("stages.vae.steps=0", "stages.stage1.steps=4", "stages.stage2.steps=0", "stages.srm.steps=0", "checkpoint.every=2",
                 "validate.count=0")
    trainer = Trainer(tiny_config(toy_root, out, *overrides), show_progress=False)

    def killed(model, path, **kwargs):  # the process dies half-way through writing the weights
        Path(path).write_bytes(b"\x00" * 100)
        raise KeyboardInterrupt("killed during save")

    real_save = ckpt.save_checkpoint
    calls = {"n": 0}

    def first_ok_then_killed(model, path, **kwargs):
        calls["n"] += 1
        return real_save(model, path, **kwargs) if calls["n"] == 1 else killed(model, path, **kwargs)

    monkeypatch.setattr(ckpt, "save_checkpoint", first_ok_then_killed)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    assert any(p.name.startswith(".tmp-step-000004") for p in (out / "checkpoints").iterdir())
    latest = ckpt.resolve_resume("latest", out)
    assert latest.name == "step-000002"
    monkeypatch.setattr(ckpt, "save_checkpoint", real_save)
    resumed = Trainer(tiny_config(toy_root, out, *overrides, "resume=latest"), show_progress=False)
    assert resumed.step == 2
    resumed.run()
    assert ckpt.resolve_resume("latest", out).name == "step-000004"
    with pytest.raises(CheckpointError, match="not a complete checkpoint folder"):
        ckpt.resolve_resume(str(out / "checkpoints" / ".tmp-step-000004"), out)


def test_srm_stage_resumes_with_its_teacher_and_holds_the_srm_tokens(toy_root, tmp_path):
    overrides = ("stages.vae.steps=0", "stages.stage1.steps=0", "stages.stage2.steps=0", "stages.srm.steps=4",
                 "checkpoint.every=2", "checkpoint.keep=5", "stages.srm.lr=0.01")
    full = Trainer(tiny_config(toy_root, tmp_path / "a", *overrides), show_progress=False)
    start = {k: v.clone() for k, v in full.model.srm.state_dict().items()}
    full.run()
    step2 = tmp_path / "a" / "checkpoints" / "step-000002"
    teacher = ckpt.load_extra(step2, "srm_teacher")
    assert all(torch.equal(teacher[k], start[k]) for k in start)  # the weights the stage started from
    shutil.copytree(step2, tmp_path / "b" / "checkpoints" / "step-000002")
    resumed = Trainer(tiny_config(toy_root, tmp_path / "b", *overrides, "resume=latest"), show_progress=False)
    resumed.run()
    a = weights(tmp_path / "a" / "checkpoints" / "step-000004" / "model.safetensors")
    b = weights(tmp_path / "b" / "checkpoints" / "step-000004" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    (step2 / "srm_teacher.safetensors").unlink()
    with pytest.raises(CheckpointError, match="srm_teacher"):
        Trainer(tiny_config(toy_root, tmp_path / "c", *overrides, f"resume={step2}"), show_progress=False).run()
    # the distillation term holds F_SRM: with a large weight the tokens move less than without it
    moved = {}
    for weight in (0.0, 100.0):
        run = Trainer(tiny_config(toy_root, tmp_path / f"d{weight}", *overrides, "checkpoint.every=0",
                                  f"stages.srm.distill_weight={weight}"), show_progress=False)
        batch = torch.stack([run.train_set[i]["person"] for i in range(4)])
        ids, attn = run.model.tokenize(["upper"] * 4)
        before = run.model.encode_reference(batch, ids, attn, with_srm_tokens=True).srm_tokens
        run.run()
        after = run.model.eval().encode_reference(batch, ids, attn, with_srm_tokens=True).srm_tokens
        moved[weight] = (after - before).pow(2).mean().item()
    assert moved[100.0] < moved[0.0]


def test_decoder_only_vae_stage_keeps_the_latents(toy_root, tmp_path):
    config = tiny_config(toy_root, tmp_path / "run", "stages.vae.train=decoder", "stages.stage1.steps=0",
                         "stages.stage2.steps=0", "stages.srm.steps=0", "validate.count=0")
    trainer = Trainer(config, show_progress=False)
    before = {k: v.clone() for k, v in trainer.model.vae.state_dict().items()}
    scale = trainer.model.latent_scale
    trainer.run()
    after = trainer.model.vae.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after if k.startswith(("encoder.", "quant_conv.")))
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith("decoder."))
    assert trainer.model.latent_scale == scale


def test_on_the_fly_batches_match_the_cache_and_train_with_accumulation(toy_root, tmp_path):
    from training.data import OnTheFly
    from twgtm.data import build_dataset
    from twgtm.model.network import build_model

    torch.manual_seed(0)
    model = build_model("tiny").eval()
    dataset = build_dataset("toy", toy_root, size=(64, 48))
    cached = LatentCache(model, dataset, 2, 9, show_progress=False).batch([3, 1], "cpu")
    fresh = OnTheFly(model, dataset, 2, 9).batch([3, 1], "cpu")
    assert cached["prompt"] == fresh["prompt"]
    for key in ("vton_x0", "vtoff_masked", "vtoff_mask", "person", "garment_mask"):
        assert torch.allclose(cached[key], fresh[key], atol=1e-2), key  # the cache stores fp16 / uint8
    config = tiny_config(toy_root, tmp_path / "run", "data.cache_latents=false", "train.grad_accum=2",
                         "stages.vae.steps=0", "stages.stage2.steps=0", "stages.srm.steps=0", "validate.count=0")
    trainer = Trainer(config, show_progress=False)
    before = {k: v.clone() for k, v in trainer.model.unet.state_dict().items()}
    trainer.run()
    assert trainer.step == 2
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.unet.state_dict().items())


def test_accumulated_steps_step_the_optimiser_once_and_resume_identically(toy_root, tmp_path):
    overrides = ("train.grad_accum=2", "train.batch_size=2", "stages.vae.steps=0", "stages.stage1.steps=2",
                 "stages.stage2.steps=0", "stages.srm.steps=0", "checkpoint.every=1", "checkpoint.keep=5",
                 "validate.count=0")
    full = Trainer(tiny_config(toy_root, tmp_path / "a", *overrides), show_progress=False)
    full.run()
    step1 = tmp_path / "a" / "checkpoints" / "step-000001"
    optimizer = torch.load(step1 / "optimizer.bin", weights_only=True)
    assert all(int(s["step"]) == 1 for s in optimizer["state"].values())  # two micro-batches, one AdamW step
    rng = accelerate_load(step1 / "random_states_0.pkl")  # torch.load(weights_only=True), as resuming reads it
    assert rng["step"] == 2  # accelerate counted both micro-batches
    shutil.copytree(step1, tmp_path / "b" / "checkpoints" / "step-000001")
    resumed = Trainer(tiny_config(toy_root, tmp_path / "b", *overrides, "resume=latest"), show_progress=False)
    assert resumed.step == 1
    resumed.run()
    a = weights(tmp_path / "a" / "checkpoints" / "step-000002" / "model.safetensors")
    b = weights(tmp_path / "b" / "checkpoints" / "step-000002" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
