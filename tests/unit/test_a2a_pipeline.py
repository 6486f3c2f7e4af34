"""Any2AnyTryon's diffusers path on tiny random FLUX parts: faithfulness to the published loop, the CLI,
memory options, LoRA files and bad inputs."""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from tests.support.a2a_reference import published_loop, text_embeddings
from tests.support.a2a_tiny import random_pixels, write_flux_folder
from twgtm.cli import main
from twgtm.errors import CheckpointError, ConfigError, InputError
from twgtm import load_model
from twgtm.families.a2a.packing import unpack

pytestmark = pytest.mark.usefixtures("one_thread")
SIZE = (256, 256)


@pytest.fixture(scope="module")
def flux_dir(tmp_path_factory):
    return write_flux_folder(tmp_path_factory.mktemp("flux"))


@pytest.fixture(scope="module")
def pipe(flux_dir):
    return load_model(family="a2a", flux=str(flux_dir), dtype="fp32")


@pytest.fixture(scope="module")
def images():
    return {"person": random_pixels(*SIZE, seed=1), "garment": random_pixels(256, 192, seed=2)}


def _reference(pipe, task, canvas, target_width, prompt, steps, seed, **kw):
    p = pipe.parts
    text, pooled = text_embeddings(prompt, p.clip, p.clip_tokenizer, p.t5, p.t5_tokenizer)
    return published_loop(p.transformer, p.vae, canvas, target_width, task in ("tryon", "layered"), text, pooled,
                          steps, 3.5, seed, **kw)


@pytest.mark.parametrize("task", ["tryon", "modelfree", "reconstruct", "layered"])
def test_target_tokens_equal_the_published_loop(pipe, images, task):
    """Same weights, inputs and seed: our tokens = an independent reading of their loop (token order aside)."""
    inputs = {part: images[part] for part in ("person", "garment") if part in pipe_task_parts(task)}
    result = pipe.run(task, size=SIZE, steps=3, seed=7, **inputs)
    canvas = torch.cat([torch.zeros(1, 3, *SIZE)] + [inputs[p] for p in pipe_task_parts(task)], dim=-1)
    expected = _reference(pipe, task, canvas, SIZE[1], result.prompt[0], 3, 7)  # (1,16,32,32)
    ours = unpack(result.tokens, (16, 16))
    diff = (ours - expected).abs().max().item()
    print(f"{task}: max |ours - published| = {diff:.2e} (target latent std {expected.std():.3f})")
    assert diff < 1e-4, diff
    assert result.images.shape == (1, 3, *SIZE)


def pipe_task_parts(task):
    return {"tryon": ("person", "garment"), "layered": ("person", "garment"), "modelfree": ("garment",),
            "reconstruct": ("person",)}[task]


def test_measured_differences_joint_vs_separate_encoding_and_posterior(pipe, images):
    """What changes when the condition panels are VAE-encoded one by one (as ComfyUI does) or by their mean."""
    base = pipe.run("tryon", size=SIZE, steps=3, seed=3, **images).tokens
    separate = pipe.run("tryon", size=SIZE, steps=3, seed=3, joint_encoding=False, **images).tokens
    mean = pipe.run("tryon", size=SIZE, steps=3, seed=3, vae_sample=False, **images).tokens
    scale = base.std().item()
    rel_sep, rel_mean = ((separate - base).abs().max() / scale).item(), ((mean - base).abs().max() / scale).item()
    print(f"separate encoding: max diff {rel_sep:.3f} of the token std; posterior mean: {rel_mean:.3f}")
    assert rel_sep > 0 and rel_mean > 0  # both are real differences, reported in the README


def test_comfy_like_settings_equal_the_reading_with_mean_and_target_noise(pipe, images):
    result = pipe.run("tryon", size=SIZE, steps=2, seed=5, noise="target", vae_sample=False, **images)
    noise = torch.randn((1, 16, 32, 32), generator=torch.Generator().manual_seed(5))
    canvas = torch.cat([torch.zeros(1, 3, *SIZE), images["person"], images["garment"]], dim=-1)
    expected = _reference(pipe, "tryon", canvas, SIZE[1], result.prompt[0], 2, 5, posterior="mean", noise=noise)
    assert (unpack(result.tokens, (16, 16)) - expected).abs().max() < 1e-4


def test_batch_and_try_on_crop_back(pipe):
    person = random_pixels(300, 210, seed=4, batch=2)
    garment = random_pixels(240, 180, seed=5)
    result = pipe.run("tryon", person=person, garment=garment, size=SIZE, steps=1, seed=0, prompt=["a man", "a woman"])
    assert result.images.shape == (2, 3, 300, 210) and result.target.shape == (2, 3, *SIZE)
    assert result.prompt[1].endswith("<TARGET> a woman") and result.canvas.widths == [256, 256, 192]
    assert not torch.allclose(result.tokens[0], result.tokens[1])


def test_memory_options_run_and_agree(flux_dir, images):
    plain = load_model(family="a2a", flux=str(flux_dir), dtype="fp32")
    reference = plain.run("modelfree", garment=images["garment"], size=SIZE, steps=2, seed=1).tokens
    for options in ({"offload": "model"}, {"offload": "group"}, {"offload": "model", "t5_fp8": True,
                                                                  "transformer_fp8": True, "vae_tiling": True}):
        pipe = load_model(family="a2a", flux=str(flux_dir), dtype="fp32", **options)
        tokens = pipe.run("modelfree", garment=images["garment"], size=SIZE, steps=2, seed=1).tokens
        fp8 = options.get("transformer_fp8", False)
        tolerance = 0.15 * reference.abs().max().item() if fp8 else 1e-5
        assert (tokens - reference).abs().max() < tolerance, options
        assert pipe.parts.transformer.device.type == "cpu"


def test_budget_and_step_errors(pipe, images):
    with pytest.raises(InputError, match=r"estimated peak .* exceeds the 0\.0 GiB available; use --offload group"):
        pipe.run("tryon", size=SIZE, steps=1, memory_budget=1000, **images)
    with pytest.raises(ConfigError, match="steps must be between 1 and 200"):
        pipe.run("tryon", size=SIZE, steps=0, **images)
    with pytest.raises(InputError, match="outside 256..2048"):
        pipe.run("tryon", size=(240, 256), steps=1, **images)


def test_bfl_single_file_loads_the_same_transformer(flux_dir, tmp_path, pipe, images):
    """ComfyUI's file layout: our BFL -> diffusers renaming inverts the tests' diffusers -> BFL one."""
    from tests.support.flux_keys import flux_to_bfl
    from twgtm.families.a2a.bfl import bfl_to_diffusers

    state = pipe.parts.transformer.state_dict()
    bfl = flux_to_bfl(state, 1, 1)
    back = bfl_to_diffusers({f"model.diffusion_model.{k}": v for k, v in bfl.items()}, "test")
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
    save_file(bfl, tmp_path / "flux1-dev.safetensors")
    single = load_model(family="a2a", flux=str(flux_dir), transformer=str(tmp_path / "flux1-dev.safetensors"),
                        dtype="fp32")
    ours = single.run("modelfree", garment=images["garment"], size=SIZE, steps=2, seed=4).tokens
    reference = pipe.run("modelfree", garment=images["garment"], size=SIZE, steps=2, seed=4).tokens
    assert torch.allclose(ours, reference, atol=1e-5)  # same weights; only the kernels' memory layout differs
    schnell = {k: v for k, v in bfl.items() if not k.startswith("guidance_in.")}
    save_file(schnell, tmp_path / "flux1-schnell.safetensors")
    with pytest.raises(CheckpointError, match="no guidance embedding"):
        load_model(family="a2a", flux=str(flux_dir), transformer=str(tmp_path / "flux1-schnell.safetensors"))
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4)}, tmp_path / "sd.safetensors")
    with pytest.raises(CheckpointError, match="not a FLUX transformer in the BFL layout"):
        load_model(family="a2a", flux=str(flux_dir), transformer=str(tmp_path / "sd.safetensors"))


# ----- LoRA files ------------------------------------------------------------------------------------
def _lora(pipe, rank=2, alpha=None):
    torch.manual_seed(0)
    state = {}
    for name in ("transformer_blocks.0.attn.to_q", "single_transformer_blocks.0.proj_mlp"):
        layer = pipe.parts.transformer.get_submodule(name)
        state[f"transformer.{name}.lora_A.weight"] = torch.randn(rank, layer.in_features) * 0.1
        state[f"transformer.{name}.lora_B.weight"] = torch.randn(layer.out_features, rank) * 0.1
        if alpha is not None:
            state[f"transformer.{name}.alpha"] = torch.tensor(float(alpha))
    return state


def test_lora_is_fused_exactly(flux_dir, tmp_path, pipe):
    state = _lora(pipe, rank=2, alpha=1.0)
    save_file(state, tmp_path / "lora.safetensors")
    loaded = load_model(family="a2a", flux=str(flux_dir), lora=tmp_path / "lora.safetensors", lora_scale=0.5, dtype="fp32")
    for name in ("transformer_blocks.0.attn.to_q", "single_transformer_blocks.0.proj_mlp"):
        before = pipe.parts.transformer.get_submodule(name).weight
        after = loaded.parts.transformer.get_submodule(name).weight
        delta = state[f"transformer.{name}.lora_B.weight"] @ state[f"transformer.{name}.lora_A.weight"] * (1.0 / 2) * 0.5
        assert torch.allclose(after - before, delta, atol=1e-6)
    untouched = "transformer_blocks.0.attn.to_k"
    assert torch.equal(pipe.parts.transformer.get_submodule(untouched).weight,
                       loaded.parts.transformer.get_submodule(untouched).weight)


def _broken_transformer_weights(flux_dir, tmp_path):
    """A copy of the folder whose transformer weights are garbage: any error before loading keeps it unread."""
    copy = tmp_path / "flux"
    shutil.copytree(flux_dir, copy)
    for weights in (copy / "transformer").glob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    return copy


def test_bad_inputs_fail_before_anything_loads(flux_dir, tmp_path, pipe):
    broken = _broken_transformer_weights(flux_dir, tmp_path)
    sd_lora = tmp_path / "sd_lora.safetensors"
    save_file({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 320),
               "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(320, 4)}, sd_lora)
    with pytest.raises(CheckpointError, match="not a FLUX transformer LoRA. It looks made for Stable Diffusion"):
        load_model(family="a2a", flux=str(broken), lora=sd_lora)
    wide = {k: torch.zeros(v.shape[0], v.shape[1] * 2) if "lora_A" in k else v for k, v in _lora(pipe).items()}
    save_file(wide, tmp_path / "wide.safetensors")
    with pytest.raises(CheckpointError, match="takes 64 features but this transformer is 32 wide"):
        load_model(family="a2a", flux=str(broken), lora=tmp_path / "wide.safetensors")
    with pytest.raises(CheckpointError, match="LoRA file not found"):
        load_model(family="a2a", flux=str(broken), lora=tmp_path / "none.safetensors")
    no_t5 = tmp_path / "no_t5"
    shutil.copytree(broken, no_t5)
    shutil.rmtree(no_t5 / "text_encoder_2")
    with pytest.raises(CheckpointError, match=r"missing: T5-XXL encoder \(transformers T5EncoderModel\): .*text_encoder_2"):
        load_model(family="a2a", flux=str(no_t5))
    schnell = tmp_path / "schnell"
    shutil.copytree(broken, schnell)
    config = (schnell / "transformer" / "config.json")
    config.write_text(config.read_text().replace('"guidance_embeds": true', '"guidance_embeds": false'))
    with pytest.raises(CheckpointError, match="no guidance embedding .*FLUX.1-schnell"):
        load_model(family="a2a", flux=str(schnell))
    with pytest.raises(CheckpointError, match="cannot load the FLUX.1-dev transformer"):
        load_model(family="a2a", flux=str(broken))  # only now is a weight file read


def test_lora_that_does_not_fit_changes_nothing(pipe, tmp_path):
    from twgtm.families.a2a.lora import fuse_lora, inspect_lora

    state = _lora(pipe)
    state["transformer.transformer_blocks.0.attn.to_v.lora_A.weight"] = torch.zeros(2, 32)
    state["transformer.transformer_blocks.0.attn.to_v.lora_B.weight"] = torch.zeros(7, 2)  # wrong out size
    save_file(state, tmp_path / "odd.safetensors")
    before = {k: v.clone() for k, v in pipe.parts.transformer.state_dict().items()}
    with pytest.raises(CheckpointError, match="does not fit this transformer .* nothing was changed"):
        fuse_lora(pipe.parts.transformer, inspect_lora(tmp_path / "odd.safetensors"))
    assert all(torch.equal(before[k], v) for k, v in pipe.parts.transformer.state_dict().items())


# ----- the CLI -----------------------------------------------------------------------------------------
def _png(path, h, w, seed):
    arr = ((random_pixels(h, w, seed)[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    Image.fromarray(np.ascontiguousarray(arr)).save(path)
    return str(path)


def test_cli_runs_every_task(flux_dir, tmp_path, capsys):
    model, garment = _png(tmp_path / "model.png", 300, 220, 1), _png(tmp_path / "garment.png", 200, 150, 2)
    runs = {"tryon": ["--person", model, "--garment", garment], "layered": ["--person", model, "--garment", garment],
            "modelfree": ["--garment", garment], "reconstruct": ["--model", model]}  # --model: the former name
    for task, inputs in runs.items():
        out = tmp_path / f"{task}.png"
        size = ["256x256"] if task == "tryon" else ["256", "256"]  # HxW, or the two numbers
        code = main(["a2a", task, *inputs, "--flux", str(flux_dir), "--size", *size, "--steps", "1",
                     "--dtype", "fp32", "--out", str(out)])
        assert code == 0 and out.is_file(), task
        expected = (220, 300) if task in ("tryon", "layered") else (256, 256)
        assert Image.open(out).size == expected, task
    assert main(["a2a", "modelfree", "--garment", garment, "--flux", str(tmp_path / "nowhere"), "--out",
                 str(tmp_path / "x.png")]) == 2
    assert "--flux" in (err := capsys.readouterr().err) and "FLUX.1-dev folder not found" in err, err
