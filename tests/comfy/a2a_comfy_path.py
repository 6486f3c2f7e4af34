"""Run Any2AnyTryon through ComfyUI's own code in this process (cwd = the ComfyUI tree), for the faithfulness test.

    python a2a_comfy_path.py SPEC.json      (run by tests/comfy/test_a2a_faithful.py)

The pack is loaded the way ComfyUI loads it (`nodes.load_custom_node`). The core Flux is built from
a BFL-format state dict with an explicit unet_config (ComfyUI 0.3.75 detects every BFL Flux as 24
heads of 128, so a head-dim-16 test model cannot go through UNETLoader's detection); the core VAE
from a diffusers-format state dict with an explicit config. Then the graph of the shipped workflows
runs node by node: FluxGuidance -> Any2AnyTryon Conditioning -> Any2AnyTryon Patch Flux ->
ModelSamplingFlux -> KSampler (euler, simple, cfg 1, ConditioningZeroOut negative), once per job of
SPEC["jobs"]. Writes each sampled target latent (ComfyUI's LATENT samples, i.e. raw VAE space) to the
job's "out" file.
"""
import asyncio
import json
import os
import sys

sys.path[0] = os.getcwd()  # ComfyUI's tree, not this folder (and never the repo root: nodes/ would shadow nodes.py)
spec = json.loads(open(sys.argv[1]).read())
sys.argv = sys.argv[:1]
import comfy.options  # noqa: E402

comfy.options.enable_args_parsing(False)
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import torch  # noqa: E402

torch.set_num_threads(1)
import nodes  # noqa: E402
import comfy.model_patcher  # noqa: E402
import comfy.sd  # noqa: E402
import comfy.supported_models  # noqa: E402
import comfy.utils  # noqa: E402
from comfy_extras.nodes_edit_model import ReferenceLatent  # noqa: E402
from comfy_extras.nodes_flux import FluxGuidance, FluxKontextMultiReferenceLatentMethod  # noqa: E402
from comfy_extras.nodes_model_advanced import ModelSamplingFlux  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

if not asyncio.run(nodes.load_custom_node(spec["pack"])):
    raise SystemExit(f"the pack at {spec['pack']} did not load")
ours = nodes.NODE_CLASS_MAPPINGS

cpu = torch.device("cpu")
flux_sd = comfy.utils.load_torch_file(spec["flux"], safe_load=True)
model_config = comfy.supported_models.Flux(spec["unet_config"])
model_config.set_inference_dtype(torch.float32, None)
model = model_config.get_model(flux_sd, "")
model.load_model_weights(flux_sd, "")
model_patcher = comfy.model_patcher.ModelPatcher(model, load_device=cpu, offload_device=cpu)

vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(spec["vae"], safe_load=True), config=spec["vae_config"])
vae.latent_channels = 16


def run(job):
    """One graph run; returns the canvas size."""
    tensors = load_file(job["inputs"])
    conditioning = [[tensors["text"], {"pooled_output": tensors["pooled"]}]]
    conditioning = FluxGuidance.execute(conditioning, spec["guidance"]).args[0]
    images = {k: tensors[k] for k in ("model_image", "garment") if k in tensors}  # ComfyUI IMAGE (B,H,W,3)
    positive, latent, layout, canvas_w, canvas_h = ours["TWGTMA2AConditioning"].execute(
        conditioning, vae, job["task"], spec["width"], spec["height"], job["joint_encoding"], **images).args
    if job.get("core_references"):  # the same references through core VAEEncode + ReferenceLatent (images at panel size)
        positive = conditioning
        for name in ("model_image", "garment"):
            positive = ReferenceLatent.execute(positive, nodes.VAEEncode().encode(vae, images[name])[0]).args[0]
        positive = FluxKontextMultiReferenceLatentMethod.execute(positive, "index").args[0]
    patched = model_patcher
    if job.get("patch", True):  # a job without the patch shows what core's own 'index' ids give
        patched = ours["TWGTMA2APatchFlux"].execute(model_patcher, job["task"]).args[0]
    patched = ModelSamplingFlux().patch(patched, 1.15, 0.5, canvas_w, canvas_h)[0]
    negative = nodes.ConditioningZeroOut().zero_out(positive)[0]
    out = nodes.common_ksampler(patched, spec["seed"], spec["steps"], 1.0, "euler", "simple", positive, negative,
                                latent)[0]
    decoded = vae.decode(out["samples"])  # (B,H,W,3)
    cropped = ours["TWGTMA2ACropBack"].execute(decoded, layout).args[0]
    save_file({"samples": out["samples"].contiguous(), "cropped": cropped.contiguous(),
               "canvas": torch.tensor([canvas_w, canvas_h])}, job["out"])
    return [canvas_w, canvas_h]


print(json.dumps({"ok": True, "canvases": [run(job) for job in spec["jobs"]]}))
