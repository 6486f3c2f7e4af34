"""The TWGTM nodes in a real ComfyUI 0.3.75: listing, shipped workflows, batches, errors, the browser."""
import copy
import io
import json
import os
import re
import shutil
import time

import pytest
from PIL import Image

from .comfy_env import SCREENSHOT_DIR, run_browser_workflow
from .graphs import DEMO, SIZE, USE_DEMO, add_node as _add, node_id as _node_id, ok as _ok, sizes as _sizes, workflow as _workflow
from .workflow_api import convert

pytestmark = pytest.mark.comfy

PACK_MODULE = "custom_nodes.comfyui-twgtm"
MODEL_WORKFLOWS = ["tryon", "tryoff", "roundtrip", "layered_tryon", "garment_mask", "conditioner_sampler"]
# The images each workflow saves (SaveImage + PreviewImage outputs), per batch of one.
WORKFLOW_IMAGES = {"tryon": 1, "tryoff": 2, "roundtrip": 2, "layered_tryon": 2, "garment_mask": 2, "conditioner_sampler": 1}
SAMPLING = ["scheduler", "steps", "guidance", "seed"]
MASK = ["mask_resize", "mask_grow", "mask_feather"]
WORKING = ["working_width", "working_height"]

# node id -> (required inputs, optional inputs, output types, output names)
EXPECTED = {
    "TWGTMModelLoader": (["ckpt_name", "device", "dtype"], ["base_model", "clip_vision"], ["TWGTM_MODEL"], ["model"]),
    "TWGTMProfileLoader": (["profile", "weights", "base_model", "vae", "device", "dtype"], [], ["TWGTM_MODEL"], ["model"]),
    "TWGTMParserLoader": (["parser_name", "device"], [], ["TWGTM_PARSER"], ["parser"]),
    "TWGTMAutoMask": (["parser", "image", "task", "category"], [], ["MASK"], ["mask"]),
    "TWGTMTryOn": (["model", "person", "garment", "mask", "category", *SAMPLING, "repaint", "repaint_blur", *MASK, *WORKING],
                   ["prompt", "reference"], ["IMAGE", "MASK"], ["image", "mask"]),
    "TWGTMTryOff": (["model", "person", "category", "mask_mode", *SAMPLING, *MASK, *WORKING], ["prompt", "mask", "reference"],
                    ["IMAGE", "MASK", "MASK"], ["garment", "mask", "garment_mask"]),
    "TWGTMRoundTrip": (["model", "person_a", "category", "mask_mode", *SAMPLING, "repaint", "mask_b_resize", "mask_b_grow",
                        "mask_b_feather", *WORKING], ["prompt", "person_b", "mask_b"],
                       ["IMAGE", "IMAGE", "MASK"], ["image", "garment", "mask"]),
    "TWGTMSAMEncode": (["model", "image", "category", *WORKING], ["prompt"], ["TWGTM_REFERENCE"], ["reference"]),
    "TWGTMGarmentMask": (["reference", "threshold", "bbox", "margin"], [], ["MASK", "MASK"], ["mask", "probability"]),
    "TWGTMConditioner": (["task", "person", "category", "mask_mode", *MASK, *WORKING], ["prompt", "garment", "mask", "reference"],
                         ["TWGTM_CONDITIONING"], ["conditioning"]),
    "TWGTMSampler": (["model", "conditioning", *SAMPLING, "repaint", "repaint_blur"], [], ["IMAGE", "MASK"], ["image", "mask"]),
    "TWGTMBodyRegionMask": (["image", "category"], [], ["MASK"], ["mask"]),
    "TWGTMMaskToBBox": (["mask", "margin", "margin_fraction"], [], ["MASK"], ["bbox_mask"]),
}


# ---------------------------------------------------------------------------------------------- listing


def test_object_info_lists_every_node(server):
    everything = server.object_info()
    ours = {name for name, node in everything.items() if node["python_module"] == PACK_MODULE
            and not name.startswith("TWGTMA2A")}  # Any2AnyTryon nodes: tests/comfy/test_a2a_workflows.py
    assert ours == set(EXPECTED)
    for name, (required, optional, out_types, out_names) in EXPECTED.items():
        info = everything[name]
        assert info["category"].startswith("TWGTM"), name
        assert info["description"], name
        assert info["input_order"]["required"] == required, name
        assert info["input_order"].get("optional", []) == optional, name
        assert info["output"] == out_types and info["output_name"] == out_names, name
        assert all(info["output_tooltips"]), name
        for section in ("required", "optional"):
            for input_name, spec in info["input"].get(section, {}).items():
                assert spec[1].get("tooltip"), f"{name}.{input_name} has no tooltip"
    loader = everything["TWGTMModelLoader"]["input"]
    assert DEMO in loader["required"]["ckpt_name"][1]["options"]
    assert loader["required"]["device"][1]["options"] == ["auto", "cpu"]
    seed = everything["TWGTMTryOn"]["input"]["required"]["seed"][1]
    assert seed["control_after_generate"] and seed["max"] == everything["KSampler"]["input"]["required"]["seed"][1]["max"]
    assert everything["TWGTMTryOff"]["input"]["required"]["mask_mode"][1]["options"] == ["bbox", "full"]


# ---------------------------------------------------------------------------------------------- shipped workflows


@pytest.mark.parametrize("name", MODEL_WORKFLOWS)
def test_shipped_workflow_runs(server, pack_dir, name):
    workflow = _workflow(pack_dir, name, "http", server.object_info())
    loaders = [n for n in workflow["nodes"] if n["type"] == "TWGTMModelLoader"]
    assert loaders and all(n["widgets_values"][0] == DEMO for n in loaders)
    start = time.monotonic()
    entry = server.run_ui_workflow(workflow, timeout=120)
    seconds = time.monotonic() - start
    _ok(server, entry)
    sizes = _sizes(server, entry)
    assert len(sizes) == WORKFLOW_IMAGES[name] and set(sizes) == {SIZE}, sizes
    for image in server.output_images(entry):
        if image["type"] == "output":
            assert (server.output_dir / image["subfolder"] / image["filename"]).is_file()
    log = server.server.log(200_000)
    assert "Requested to load TWGTM" in log  # through comfy.model_management.load_models_gpu
    print(f"{name}: {seconds:.2f} s")


def test_batches_and_any_size(server, pack_dir):
    """Two persons at an odd size (one garment broadcast) through try-on, the conditioner path and the mask nodes."""
    prompt = convert(_workflow(pack_dir, "tryon", "batch"), server.object_info())
    person, garment, mask_image = (_node_id(prompt, "LoadImage", i) for i in range(3))
    prompt[mask_image]["inputs"]["image"] = "person_a_mask.png"
    other = _add(prompt, "LoadImage", image="person_b.png")
    other_mask = _add(prompt, "LoadImage", image="person_b_mask.png")
    persons = _add(prompt, "ImageBatch", image1=[person, 0], image2=[other, 0])
    masks = _add(prompt, "ImageBatch", image1=[mask_image, 0], image2=[other_mask, 0])
    odd = dict(upscale_method="bilinear", width=77, height=101, crop="disabled")
    persons = _add(prompt, "ImageScale", image=[persons, 0], **odd)
    masks = _add(prompt, "ImageScale", image=[masks, 0], **odd)
    tryon = _node_id(prompt, "TWGTMTryOn")
    prompt[tryon]["inputs"].update(person=[persons, 0], steps=4)
    prompt[_node_id(prompt, "ImageToMask")]["inputs"]["image"] = [masks, 0]
    model = [_node_id(prompt, "TWGTMModelLoader"), 0]
    cond = _add(prompt, "TWGTMConditioner", task="tryoff", person=[persons, 0], category="upper", mask_mode="full", prompt="",
                mask_resize=True, mask_grow=0, mask_feather=0, working_width=0, working_height=0)
    sampled = _add(prompt, "TWGTMSampler", model=model, conditioning=[cond, 0], scheduler="dpmpp_2m", steps=3,
                   guidance=2.5, seed=1, repaint=False, repaint_blur=-1)
    _add(prompt, "SaveImage", images=[sampled, 0], filename_prefix="batch_tryoff")
    encoded = _add(prompt, "TWGTMSAMEncode", model=model, image=[persons, 0], category="upper", prompt="", working_width=0,
                   working_height=0)
    garment_mask = _add(prompt, "TWGTMGarmentMask", reference=[encoded, 0], threshold=0.5, bbox=True, margin=2)
    shown = _add(prompt, "MaskToImage", mask=[garment_mask, 1])
    _add(prompt, "SaveImage", images=[shown, 0], filename_prefix="batch_garment_mask")
    entry = server.run(prompt, timeout=120)
    _ok(server, entry)
    outputs = entry["outputs"]
    assert set(outputs) == {_node_id(prompt, "SaveImage", i) for i in range(3)}
    for node_id, output in outputs.items():
        assert len(output["images"]) == 2, (prompt[node_id], output)
    assert set(_sizes(server, entry)) == {(77, 101)}


def _encoder_cache_lines(server, node):
    """The '<node>: ... encoder cache on this model: H hit(s), M miss(es)' log lines, as (hits, misses)."""
    pattern = re.compile(re.escape(node) + r": \d+ item\(s\) done; encoder cache on this model: (\d+) hit\(s\), (\d+) miss")
    return [tuple(int(n) for n in m.groups()) for m in pattern.finditer(server.server.log(10**9))]


def test_two_prompts_on_one_loaded_model_share_its_pipeline(server, pack_dir):
    """The loader builds the pipeline once; the second prompt's try-on finds the garment in its encoder cache."""
    prompt = convert(_workflow(pack_dir, "tryon", "reuse"), server.object_info())
    tryon = _node_id(prompt, "TWGTMTryOn")
    prompt[tryon]["inputs"].update(steps=2, seed=101)
    _ok(server, server.run(prompt, timeout=120))
    runs = _encoder_cache_lines(server, "TWGTM Try-On")
    built = server.server.log(10**9).count("TWGTM pipeline built")
    assert runs and built >= 1
    hits, misses = runs[-1]
    prompt[tryon]["inputs"]["seed"] = 102  # only the try-on runs again: ComfyUI keeps the loader's output
    _ok(server, server.run(prompt, timeout=120))
    again = _encoder_cache_lines(server, "TWGTM Try-On")
    assert len(again) == len(runs) + 1
    assert again[-1] == (hits + 1, misses)  # the same cache object: the same garment, prompt and weights hit
    assert server.server.log(10**9).count("TWGTM pipeline built") == built  # no pipeline built for the second prompt


# ---------------------------------------------------------------------------------------------- errors


def test_errors_carry_our_message_and_server_keeps_serving(server, pack_dir):
    good = convert(_workflow(pack_dir, "tryon", "errors"), server.object_info())
    loader, tryon = _node_id(good, "TWGTMModelLoader"), _node_id(good, "TWGTMTryOn")
    good[tryon]["inputs"]["steps"] = 3

    missing = copy.deepcopy(good)
    missing[loader]["inputs"]["ckpt_name"] = "no_such_model.safetensors"
    entry = server.run(missing, timeout=60)
    assert entry["status"]["status_str"] == "error"
    message = server.error_message(entry)
    assert "CheckpointError" in message and "no_such_model.safetensors" in message, message
    assert str(server.models_dir) in message  # says where to put the file

    from twgtm.weights.checkpoint import save_checkpoint
    from twgtm.model.network import build_model

    partial = copy.deepcopy(good)  # a small checkpoint without its frozen base parts, and none chosen
    save_checkpoint(build_model("tiny"), server.models_dir / "partial.safetensors",
                    parts=["unet", "qformer", "taskformer", "srm_decoder", "extended_attention"])
    partial[loader]["inputs"]["ckpt_name"] = "partial.safetensors"
    entry = server.run(partial, timeout=60)
    message = server.error_message(entry)
    assert entry["status"]["status_str"] == "error" and "base parts ['vae', 'clip', 'swin']" in message, message
    assert "clip_vision" in message and "base_model" in message, message

    batch = copy.deepcopy(good)  # 2 persons but 3 masks
    person, mask_image = _node_id(batch, "LoadImage", 0), _node_id(batch, "LoadImage", 2)
    persons = _add(batch, "ImageBatch", image1=[person, 0], image2=[person, 0])
    two = _add(batch, "ImageBatch", image1=[mask_image, 0], image2=[mask_image, 0])
    three = _add(batch, "ImageBatch", image1=[two, 0], image2=[mask_image, 0])
    batch[tryon]["inputs"]["person"] = [persons, 0]
    batch[_node_id(batch, "ImageToMask")]["inputs"]["image"] = [three, 0]
    entry = server.run(batch, timeout=60)
    message = server.error_message(entry)
    assert entry["status"]["status_str"] == "error" and "InputError" in message, message
    assert "batch of 3" in message and "2 is needed" in message, message

    empty = copy.deepcopy(good)
    blank = _add(empty, "SolidMask", value=0.0, width=SIZE[0], height=SIZE[1])
    empty[tryon]["inputs"]["mask"] = [blank, 0]
    entry = server.run(empty, timeout=60)
    message = server.error_message(entry)
    assert entry["status"]["status_str"] == "error" and "mask" in message and "empty" in message, message

    size = copy.deepcopy(good)  # a mask of another size than the person, with the resize switched off
    small = _add(size, "SolidMask", value=1.0, width=64, height=64)
    size[tryon]["inputs"].update(mask=[small, 0], mask_resize=False)
    entry = server.run(size, timeout=60)
    message = server.error_message(entry)
    assert entry["status"]["status_str"] == "error" and "input 'mask' is 64x64" in message, message
    assert "'person' is 128x96" in message and "mask_resize" in message, message

    entry = server.run(good, timeout=60)
    _ok(server, entry)
    assert _sizes(server, entry) == [SIZE]


def _loader_error(server, graph, loader, **inputs):
    """Run `graph` with the loader's inputs changed; the error text (the run must fail)."""
    bad = copy.deepcopy(graph)
    bad[loader]["inputs"].update(inputs)
    entry = server.run(bad, timeout=60)
    assert entry["status"]["status_str"] == "error", entry["status"]
    return server.error_message(entry)


def test_bad_weight_files_end_as_our_errors(server, pack_dir):
    """Corrupt, pickle and foreign checkpoints and a bad or missing base file: CheckpointError, our text."""
    import torch
    from safetensors.torch import save_file

    from twgtm.model.network import build_model
    from twgtm.weights.checkpoint import save_checkpoint

    good = convert(_workflow(pack_dir, "tryon", "files"), server.object_info())
    loader = _node_id(good, "TWGTMModelLoader")
    (server.models_dir / "junk.safetensors").write_bytes(b"\x00" * 64)
    (server.models_dir / "model.ckpt").write_bytes(b"\x80\x04 not a real pickle")
    save_file({"conv.weight": torch.zeros(2, 2)}, str(server.models_dir / "foreign.safetensors"))
    save_file({"conv.weight": torch.zeros(2, 2)}, str(server.checkpoints_dir / "foreign.safetensors"))
    save_checkpoint(build_model("tiny"), server.models_dir / "no_vae.safetensors",
                    parts=["unet", "clip", "qformer", "swin", "taskformer", "srm_decoder", "extended_attention"])
    for name, fragment in [("junk.safetensors", "not a safetensors file at all"), ("model.ckpt", "pickle"),
                           ("foreign.safetensors", "not a TWGTM checkpoint")]:
        message = _loader_error(server, good, loader, ckpt_name=name)
        assert "CheckpointError" in message and name in message and fragment in message, message
    message = _loader_error(server, good, loader, ckpt_name="no_vae.safetensors", base_model="foreign.safetensors")
    assert "CheckpointError" in message and "first_stage_model" in message, message
    message = _loader_error(server, good, loader, ckpt_name="no_vae.safetensors", base_model="nowhere.safetensors")
    assert "input 'base_model' (SD1.5-inpainting base, one original-format file): 'nowhere.safetensors' not found in" \
        in message and str(server.checkpoints_dir) in message and "models fetch sd15-inpainting" in message, message
    assert "then choose 'sd-v1-5-inpainting.safetensors' in input 'base_model'" in message, message
    message = _loader_error(server, good, loader, ckpt_name="no_vae.safetensors")
    assert "give base_model (a file in ComfyUI/models/checkpoints)" in message, message


def test_loader_takes_base_parts_from_comfyui_folders(server, pack_dir):
    """A checkpoint without VAE and CLIP, those from models/checkpoints and models/clip_vision: the same images."""
    import torch
    from safetensors.torch import save_file

    from twgtm.model.network import build_model
    from twgtm.weights.checkpoint import save_checkpoint

    from ..support.ldm_keys import unet_to_ldm, vae_to_ldm

    torch.manual_seed(21)
    model = build_model("tiny")
    save_checkpoint(model, server.models_dir / "whole.safetensors")
    save_checkpoint(model, server.models_dir / "small.safetensors",
                    parts=["unet", "qformer", "swin", "taskformer", "srm_decoder", "extended_attention"])
    cfg = model.config
    up_attn = ["CrossAttn" in t for t in cfg.unet["up_block_types"]]
    ldm = {**unet_to_ldm(model.unet.state_dict(), cfg.unet["layers_per_block"], up_attn),
           **vae_to_ldm(model.vae.state_dict(), len(cfg.vae["block_out_channels"]))}
    save_file({k: v.contiguous() for k, v in ldm.items()}, str(server.checkpoints_dir / "sd15-inpainting-tiny.safetensors"))
    save_file({k: v.contiguous() for k, v in model.sam.clip.state_dict().items()},
              str(server.clip_vision_dir / "clip-vision-tiny.safetensors"))
    graph = convert(_workflow(pack_dir, "tryon", "parts"), server.object_info())
    loader, tryon = _node_id(graph, "TWGTMModelLoader"), _node_id(graph, "TWGTMTryOn")
    graph[tryon]["inputs"]["steps"] = 3
    images = []
    for inputs in (dict(ckpt_name="whole.safetensors"),
                   dict(ckpt_name="small.safetensors", base_model="sd15-inpainting-tiny.safetensors",
                        clip_vision="clip-vision-tiny.safetensors")):
        run = copy.deepcopy(graph)
        run[loader]["inputs"].update(inputs)
        entry = server.run(run, timeout=120)
        _ok(server, entry)
        images.append([server.view(image) for image in server.output_images(entry)])
    with Image.open(io.BytesIO(images[0][0])) as a, Image.open(io.BytesIO(images[1][0])) as b:
        assert a.size == SIZE and a.tobytes() == b.tobytes()


# ---------------------------------------------------------------------------------------------- browser


@pytest.mark.browser
@pytest.mark.parametrize("name", MODEL_WORKFLOWS)
def test_frontend_runs_model_workflow(server, browser_env, pack_dir, tmp_path, name):
    workflow = _workflow(pack_dir, name, "browser", server.object_info())
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(workflow))
    screenshot = SCREENSHOT_DIR / f"{name}.png"
    screenshot.unlink(missing_ok=True)
    report = run_browser_workflow(server.url, path, screenshot, api_out=tmp_path / "api.json")
    assert report["status"] == "success", report
    assert len(report["images"]) == WORKFLOW_IMAGES[name], report
    assert report["images"][0]["loaded_size"] == list(SIZE), report  # the page loaded the first output image
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
    frontend = json.loads((tmp_path / "api.json").read_text())
    ours = convert(workflow, server.object_info())
    assert {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in frontend.items()} == ours
    extra = os.environ.get("TWGTM_SCREENSHOT_DIR")
    if extra:
        os.makedirs(extra, exist_ok=True)
        shutil.copy(screenshot, os.path.join(extra, screenshot.name))


def test_interrupt_stops_sampling_between_steps(server, pack_dir):
    """POST /interrupt while a 500-step try-on runs: the progress callback is the cancel point."""
    prompt = convert(_workflow(pack_dir, "tryon", "interrupt"), server.object_info())
    prompt[_node_id(prompt, "TWGTMTryOn")]["inputs"].update(steps=500, seed=7)
    prompt_id = server.queue(prompt)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not server.get_json("/queue")["queue_running"]:
        time.sleep(0.05)
    time.sleep(1.0)  # let it get into the denoising loop
    start = time.monotonic()
    server.post_json("/interrupt", {})
    entry = server.wait(prompt_id, timeout=60)
    assert time.monotonic() - start < 30
    kinds = [kind for kind, _ in entry["status"]["messages"]]
    assert "execution_interrupted" in kinds, entry["status"]
    assert not server.output_images(entry)
