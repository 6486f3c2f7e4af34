"""The shipped Any2AnyTryon workflows in a real ComfyUI 0.3.75 server and in the browser, on random weights files
that ComfyUI's own loaders read (UNETLoader, VAELoader, CLIPLoader, LoraLoaderModelOnly).

Text conditioning: ComfyUI builds CLIP-L and T5-XXL from fixed configs, and a T5-XXL (4.7 B parameters)
cannot run here, so the runs swap the workflows' DualCLIPLoader (clip_l + t5xxl) for core CLIPLoader
with a random full-size CLIP-L; CLIPTextEncode -> FluxGuidance -> our nodes is unchanged, and the test
Flux's text and pooled inputs are 768 wide to take CLIP-L's output. Sizes, steps: 256x256, 2 steps for the
try-on server run, 1 for the others. The FLUX-layout VAE (84 M parameters, fixed by ComfyUI's detection) takes ~30 s per run on
two shared cores, so the try-on server run uses it and the others a random 16-channel TAESD ("taef1",
also read by core VAELoader): the VAE is core's in both, our nodes only call its encode.
"""
import io
import json
import os
import shutil

import pytest
from PIL import Image

from tests.support import a2a_comfy_models as weights

from .comfy_env import REPO, SCREENSHOT_DIR, ComfyServer, EnvSetupError, PromptRejected, file_lock, run_browser_workflow
from .make_a2a_workflows import SPECS
from .make_workflows import build
from .workflow_api import convert, widget_inputs

pytestmark = pytest.mark.comfy
MODEL_CACHE = REPO / ".cache" / "twgtm-test-models" / "a2a-v2"  # random files, made once (~1.2 GB)
FILES = {"diffusion_models": {"flux1-dev.safetensors": "flux.safetensors", "flux1-schnell.safetensors": "schnell.safetensors"},
         "vae": {"ae.safetensors": "ae.safetensors", "taef1.safetensors": "taef1.safetensors"}, "text_encoders": {"clip_l.safetensors": "clip_l.safetensors"},
         "loras": {"dev_lora_any2any_alltasks.safetensors": "lora.safetensors"}}
EXAMPLES = ["person_a.png", "person_b.png", "garment_upper.png", "garment_lower.png"]
PERSON = (96, 128)  # (width, height) of the example persons
TEST_WIDGETS = {"steps": 2, "width": 256, "height": 256}
# workflow -> sizes of the images it saves, in order of the SaveImage nodes' ids
OUTPUTS = {"a2a_tryon": [PERSON], "a2a_modelfree": [(256, 256)], "a2a_reconstruct": [(256, 256)],
           "a2a_layered": [PERSON], "a2a_roundtrip": [(256, 256), PERSON]}


def _make_models() -> None:
    with file_lock(MODEL_CACHE.parent / "a2a.lock"):
        if (MODEL_CACHE / "done").is_file():
            return
        MODEL_CACHE.mkdir(parents=True, exist_ok=True)
        weights.write_flux(MODEL_CACHE / "flux.safetensors")
        weights.write_flux(MODEL_CACHE / "schnell.safetensors", guidance=False)
        weights.write_flux_vae(MODEL_CACHE / "ae.safetensors")
        weights.write_clip_l(MODEL_CACHE / "clip_l.safetensors")
        weights.write_flux_lora(MODEL_CACHE / "lora.safetensors")
        weights.write_taesd(MODEL_CACHE / "taef1.safetensors")
        (MODEL_CACHE / "done").write_text("a2a-v2\n")


@pytest.fixture(scope="module")
def server(comfyui_dir, tmp_path_factory, pack_dir):
    """A ComfyUI server of its own whose model folders hold the random FLUX files under the workflows' names."""
    _make_models()
    root = tmp_path_factory.mktemp("comfyui_a2a")
    comfy = ComfyServer(comfyui_dir, root)
    lines = []
    for folder, names in FILES.items():
        path = root / "models" / folder
        path.mkdir(parents=True, exist_ok=True)
        for name, cached in names.items():
            (path / name).symlink_to(MODEL_CACHE / cached)
        lines.append(f"    {folder}: {path}\n")
    with open(comfy.dirs["config"], "a") as config:
        config.writelines(lines)
    try:
        client = comfy.start()
    except EnvSetupError as exc:
        pytest.fail(f"Cannot start ComfyUI: {exc}", pytrace=False)
    for name in EXAMPLES:
        client.upload_image(pack_dir / "workflows" / "examples" / name)
    yield client
    comfy.stop()


def _shipped(name):
    return json.loads((REPO / "workflows" / f"{name}.json").read_text())


def _for_test(workflow, object_info, tag, vae="taef1.safetensors", steps=2):
    """The workflow with CLIPLoader (random CLIP-L) for DualCLIPLoader, test sizes, steps and VAE, unique prefixes."""
    widgets = {**TEST_WIDGETS, "steps": steps, "vae_name": vae}
    for node in workflow["nodes"]:
        if node["type"] == "DualCLIPLoader":
            node["type"] = "CLIPLoader"
            node["properties"]["Node name for S&R"] = "CLIPLoader"
            node["widgets_values"] = ["clip_l.safetensors", "stable_diffusion", "default"]
            node["inputs"] = [{"localized_name": n, "name": n, "type": t, "widget": {"name": n}, "link": None}
                              for n, t in (("clip_name", "COMBO"), ("type", "COMBO"), ("device", "COMBO"))]
        elif node["type"] == "SaveImage":
            node["widgets_values"][0] = f"{tag}_{node['widgets_values'][0]}"
        elif node["type"] in object_info:
            index = 0
            for input_name, _spec, taken, _upload in widget_inputs(object_info[node["type"]]):
                if input_name in widgets:
                    node["widgets_values"][index] = widgets[input_name]
                index += taken
    return workflow


def _saved_sizes(client, prompt, entry):
    saves = sorted((int(k) for k, v in prompt.items() if v["class_type"] == "SaveImage"))
    sizes = []
    for node_id in saves:
        for image in entry["outputs"][str(node_id)]["images"]:
            with Image.open(io.BytesIO(client.view(image))) as im:
                sizes.append(im.size)
    return sizes


def _ok(client, entry):
    assert entry["status"]["status_str"] == "success", client.error_message(entry) or entry["status"]


A2A_NODES = {  # node id -> (required inputs, optional inputs, output types)
    "TWGTMA2APatchFlux": (["model", "task"], [], ["MODEL"]),
    "TWGTMA2AConditioning": (["conditioning", "vae", "task", "width", "height", "joint_encoding"],
                             ["model_image", "garment"], ["CONDITIONING", "LATENT", "A2A_LAYOUT", "INT", "INT"]),
    "TWGTMA2ACropBack": (["image", "layout"], [], ["IMAGE"]),
}


def test_object_info_lists_the_a2a_nodes(server):
    everything = server.object_info()
    ours = {name for name, node in everything.items() if name.startswith("TWGTMA2A")}
    assert ours == set(A2A_NODES)
    for name, (required, optional, outputs) in A2A_NODES.items():
        info = everything[name]
        assert info["python_module"] == "custom_nodes.comfyui-twgtm" and info["category"] == "TWGTM/Any2AnyTryon"
        assert info["input_order"]["required"] == required and info["input_order"].get("optional", []) == optional
        assert info["output"] == outputs and info["description"] and all(info["output_tooltips"]), name
        for section in ("required", "optional"):
            for input_name, spec in info["input"].get(section, {}).items():
                assert spec[1].get("tooltip"), f"{name}.{input_name} has no tooltip"
    assert everything["TWGTMA2APatchFlux"]["input"]["required"]["task"][1]["options"] == \
        ["tryon", "modelfree", "reconstruct", "layered"]


def test_shipped_workflows_are_built_from_the_specs(server):
    object_info = server.object_info()
    for name, spec in SPECS.items():
        assert build(spec, object_info) == _shipped(name), f"workflows/{name}.json is stale: run make_a2a_workflows"
        types = {n["type"] for n in _shipped(name)["nodes"]}
        assert {"UNETLoader", "LoraLoaderModelOnly", "DualCLIPLoader", "FluxGuidance", "ModelSamplingFlux", "KSampler",
                "TWGTMA2APatchFlux", "TWGTMA2AConditioning", "TWGTMA2ACropBack"} <= types, name
    info = object_info["TWGTMA2AConditioning"]
    assert info["output"] == ["CONDITIONING", "LATENT", "A2A_LAYOUT", "INT", "INT"]
    assert info["input"]["required"]["width"][1]["min"] == 256 and info["input"]["required"]["width"][1]["step"] == 16


@pytest.mark.parametrize("name", list(SPECS))
def test_a2a_workflow_runs(server, name):
    object_info = server.object_info()
    full = name == "a2a_tryon"  # the FLUX-layout VAE and 2 steps; the others TAESD and 1 step
    workflow = _for_test(_shipped(name), object_info, "http", vae="ae.safetensors" if full else "taef1.safetensors",
                         steps=2 if full else 1)
    prompt = convert(workflow, object_info)
    entry = server.run(prompt, timeout=600)
    _ok(server, entry)
    assert _saved_sizes(server, prompt, entry) == OUTPUTS[name]
    log = server.server.log(400_000)
    assert "lora key not loaded" not in log  # core LoraLoaderModelOnly read every key of the diffusers-format LoRA


def test_errors_carry_our_message(server):
    object_info = server.object_info()
    good = convert(_for_test(_shipped("a2a_tryon"), object_info, "errors"), object_info)
    loader = next(k for k, v in good.items() if v["class_type"] == "UNETLoader")
    cond = next(k for k, v in good.items() if v["class_type"] == "TWGTMA2AConditioning")

    schnell = json.loads(json.dumps(good))
    schnell[loader]["inputs"]["unet_name"] = "flux1-schnell.safetensors"
    entry = server.run(schnell, timeout=300)
    message = server.error_message(entry)
    assert entry["status"]["status_str"] == "error" and "no guidance embedding" in message and "schnell" in message, message

    no_garment = json.loads(json.dumps(good))
    del no_garment[cond]["inputs"]["garment"]
    entry = server.run(no_garment, timeout=300)
    message = server.error_message(entry)
    assert "InputError" in message and "task 'tryon' needs a garment image" in message, message

    small = json.loads(json.dumps(good))
    small[cond]["inputs"]["width"] = 128
    with pytest.raises(PromptRejected, match="smaller than min of 256"):
        server.queue(small)


@pytest.mark.browser
@pytest.mark.parametrize("name", list(SPECS))
def test_frontend_runs_a2a_workflow(server, browser_env, tmp_path, name):
    object_info = server.object_info()
    workflow = _for_test(_shipped(name), object_info, "browser", steps=1)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(workflow))
    screenshot = SCREENSHOT_DIR / f"{name}.png"
    screenshot.unlink(missing_ok=True)
    report = run_browser_workflow(server.url, path, screenshot, api_out=tmp_path / "api.json", timeout=600)
    assert report["status"] == "success", report
    assert len(report["images"]) == len(OUTPUTS[name]), report
    frontend = json.loads((tmp_path / "api.json").read_text())
    assert {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in frontend.items()} == \
        convert(workflow, object_info)
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
    extra = os.environ.get("TWGTM_SCREENSHOT_DIR")
    if extra:
        os.makedirs(extra, exist_ok=True)
        shutil.copy(screenshot, os.path.join(extra, screenshot.name))
