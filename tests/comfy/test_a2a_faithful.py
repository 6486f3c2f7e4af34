"""Any2AnyTryon through ComfyUI's own code (core Flux, VAE, KSampler, our nodes) against the published loop.

Same tiny random weights (diffusers model -> BFL keys for ComfyUI), inputs, text embeddings and seed.
ComfyUI's VAEEncode takes the posterior mean and its KSampler draws the target's noise alone from
`torch.manual_seed(seed)`: the reference reading is given the same two settings, so what is left to
differ is ComfyUI's own arithmetic (its Flux, RoPE, attention, sampler) and, with
joint_encoding=False, the per-panel VAE encoding (measured below).
"""
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.support.a2a_reference import published_loop
from tests.support.a2a_tiny import TEXT_DIM, random_pixels, tiny_transformer, tiny_vae
from tests.support.flux_keys import flux_to_bfl

from .comfy_env import REPO

pytestmark = [pytest.mark.comfy, pytest.mark.usefixtures("one_thread")]
UNET_CONFIG = {"image_model": "flux", "in_channels": 16, "out_channels": 16, "patch_size": 2, "vec_in_dim": TEXT_DIM,
               "context_in_dim": TEXT_DIM, "hidden_size": 32, "mlp_ratio": 4.0, "num_heads": 2, "depth": 1,
               "depth_single_blocks": 1, "axes_dim": [4, 6, 6], "theta": 10000, "qkv_bias": True, "guidance_embed": True}
VAE_CONFIG = {"params": {"embed_dim": 16, "ddconfig": {
    "double_z": True, "z_channels": 16, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 32,
    "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0}}}
SIZE = (256, 256)
STEPS, SEED = 4, 11  # 4 steps: ComfyUI's 'simple' schedule hits 1 - i/4 exactly on its 10000-entry table


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("a2a_faithful")
    transformer, vae = tiny_transformer(seed=3), tiny_vae(seed=4, quant_conv=True)
    save_file(flux_to_bfl(transformer.state_dict(), 1, 1), root / "flux_bfl.safetensors")
    save_file(vae.state_dict(), root / "vae.safetensors")
    gen = torch.Generator().manual_seed(0)
    text, pooled = torch.randn(1, 24, TEXT_DIM, generator=gen), torch.randn(1, TEXT_DIM, generator=gen)
    model, garment = random_pixels(*SIZE, seed=5), random_pixels(256, 192, seed=6)
    as_image = lambda p: ((p + 1) / 2).permute(0, 2, 3, 1).contiguous()  # noqa: E731  (B,H,W,3) in [0,1]
    save_file({"text": text, "pooled": pooled, "model_image": as_image(model), "garment": as_image(garment)},
              root / "inputs.safetensors")
    return {"root": root, "transformer": transformer, "vae": vae, "text": text, "pooled": pooled,
            "model": model, "garment": garment}


JOBS = [("tryon", True), ("modelfree", True), ("reconstruct", True), ("tryon", False), ("tryon", "unpatched"),
        ("tryon", "core_references")]


@pytest.fixture(scope="module")
def comfy_outputs(setup, comfyui_dir):
    """(task, joint_encoding or "unpatched") -> the ComfyUI run's outputs; all jobs in one ComfyUI process."""
    root, jobs = setup["root"], []
    everything = load_file(root / "inputs.safetensors")
    for task, joint in JOBS:
        keep = {"tryon": ("model_image", "garment"), "modelfree": ("garment",), "reconstruct": ("model_image",)}[task]
        inputs = root / f"inputs_{task}.safetensors"
        save_file({k: v for k, v in everything.items() if k in ("text", "pooled", *keep)}, inputs)
        jobs.append({"task": task, "joint_encoding": joint is True, "patch": joint != "unpatched",
                     "core_references": joint == "core_references", "inputs": str(inputs),
                     "out": str(root / f"out_{task}_{joint}.safetensors")})
    spec = {"pack": str(REPO), "flux": str(root / "flux_bfl.safetensors"), "vae": str(root / "vae.safetensors"),
            "unet_config": UNET_CONFIG, "vae_config": VAE_CONFIG, "width": SIZE[1], "height": SIZE[0],
            "steps": STEPS, "seed": SEED, "guidance": 3.5, "jobs": jobs}
    (root / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "comfy" / "a2a_comfy_path.py"), str(root / "spec.json")],
                          cwd=comfyui_dir, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return {key: load_file(job["out"]) for key, job in zip(JOBS, jobs)}


def _reference(setup, task):
    parts = {"tryon": ("model", "garment"), "modelfree": ("garment",), "reconstruct": ("model",)}[task]
    canvas = torch.cat([torch.zeros(1, 3, *SIZE)] + [setup[p] for p in parts], dim=-1)
    noise = torch.randn((1, 16, SIZE[0] // 8, SIZE[1] // 8), generator=torch.Generator().manual_seed(SEED))
    return published_loop(setup["transformer"], setup["vae"], canvas, SIZE[1], task == "tryon", setup["text"],
                          setup["pooled"], STEPS, 3.5, SEED, posterior="mean", noise=noise)


@pytest.mark.parametrize("task", ["tryon", "modelfree", "reconstruct"])
def test_comfy_path_equals_the_published_loop(setup, comfy_outputs, task):
    out = comfy_outputs[(task, True)]
    vae = setup["vae"].config
    ours = (out["samples"] - vae.shift_factor) * vae.scaling_factor  # LATENT samples -> the model's latent space
    expected = _reference(setup, task)
    diff = ((ours - expected).abs().max() / expected.std()).item()
    print(f"{task}: ComfyUI path vs published loop, max diff {diff:.2e} of the latent std")
    assert diff < 1e-3, diff
    widths = {"tryon": 256 + 256 + 192, "modelfree": 256 + 192, "reconstruct": 256 + 256}[task]
    assert out["canvas"].tolist() == [widths, 256]
    assert tuple(out["cropped"].shape) == (1, 256, 256, 3)


def test_comfy_per_panel_encoding_difference_is_measured(comfy_outputs):
    joint = comfy_outputs[("tryon", True)]["samples"]
    separate = comfy_outputs[("tryon", False)]["samples"]
    diff = ((separate - joint).abs().max() / joint.std()).item()
    print(f"tryon: per-panel VAE encoding moves the result by {diff:.2e} of the latent std")
    assert 0 < diff < 0.5


def test_without_the_patch_core_ids_differ_from_the_method(setup, comfy_outputs):
    """Core's 'index' ids put the garment at x from 0: the patch is what makes the method's ids.

    On tiny random weights the garment's position moves the target by ~0.7 % of its std, four orders of
    magnitude above the patched path's difference (< 1e-6)."""
    vae = setup["vae"].config
    unpatched = (comfy_outputs[("tryon", "unpatched")]["samples"] - vae.shift_factor) * vae.scaling_factor
    expected = _reference(setup, "tryon")
    diff = ((unpatched - expected).abs().max() / expected.std()).item()
    print(f"tryon without the patch: max diff {diff:.2e} of the latent std")
    assert diff > 1e-3


def test_core_reference_latent_nodes_work_with_the_patch(comfy_outputs):
    """VAEEncode + ReferenceLatent x2 + FluxKontextMultiReferenceLatentMethod(index), as a user could wire them,
    give what the Conditioning node gives with per-panel encoding (the panels are already at their sizes)."""
    core = comfy_outputs[("tryon", "core_references")]["samples"]
    ours = comfy_outputs[("tryon", False)]["samples"]
    assert ((core - ours).abs().max() / ours.std()).item() < 1e-5
