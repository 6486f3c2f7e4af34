"""The pack inside a real ComfyUI 0.3.75: node listing, workflows over HTTP and in the browser."""
import copy
import io
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from .comfy_env import (SCREENSHOT_DIR, PromptRejected, load_custom_node_in_subprocess,
                        make_session_dirs, run_browser_workflow)
from .workflow_api import convert

pytestmark = pytest.mark.comfy

WORKFLOW = "workflows/mask_to_bbox.json"
EXAMPLE = "workflows/examples/garment_mask.png"


def _expected_bbox(image_path, margin):
    """The mask_to_bbox workflow's expected output: the red channel's box grown by `margin` (H, W bool)."""
    red = np.asarray(Image.open(image_path).convert("RGB"))[..., 0] >= 128
    rows, cols = np.nonzero(red)
    height, width = red.shape
    box = np.zeros_like(red)
    box[max(rows.min() - margin, 0) : rows.max() + margin + 1, max(cols.min() - margin, 0) : cols.max() + margin + 1] = True
    return box


def _workflow(pack_dir, prefix):
    """The shipped mask_to_bbox UI workflow with its SaveImage filename_prefix set to `prefix`."""
    workflow = json.loads((pack_dir / WORKFLOW).read_text())
    for node in workflow["nodes"]:
        if node["type"] == "SaveImage":
            node["widgets_values"][0] = prefix
    return workflow


def _margin(workflow):
    """The TWGTMMaskToBBox node's pixel margin in a UI workflow."""
    return next(n for n in workflow["nodes"] if n["type"] == "TWGTMMaskToBBox")["widgets_values"][0]


def _check_output(client, entry, pack_dir, margin):
    """The history entry has one PNG whose content is the expected filled box."""
    assert entry["status"]["status_str"] == "success", client.error_message(entry)
    images = client.output_images(entry)
    assert len(images) == 1
    assert (client.output_dir / images[0]["subfolder"] / images[0]["filename"]).is_file()
    output = np.asarray(Image.open(io.BytesIO(client.view(images[0]))).convert("L")) >= 128
    expected = _expected_bbox(pack_dir / EXAMPLE, margin)
    assert output.shape == expected.shape == (128, 96)
    assert (output == expected).all()


def test_object_info_lists_mask_to_bbox(comfy_server):
    info = comfy_server.object_info("TWGTMMaskToBBox")
    assert info["category"] == "TWGTM"
    assert info["python_module"] == "custom_nodes.comfyui-twgtm"
    assert info["input_order"]["required"] == ["mask", "margin", "margin_fraction"]
    required = info["input"]["required"]
    assert [required[name][0] for name in ("mask", "margin", "margin_fraction")] == ["MASK", "INT", "FLOAT"]
    assert all(spec[1].get("tooltip") for spec in required.values()), "every input needs a tooltip"
    assert info["output"] == ["MASK"] and info["output_name"] == ["bbox_mask"]
    assert info["output_tooltips"][0] and info["description"]
    everything = comfy_server.object_info()
    ours = sorted(name for name, node in everything.items() if node["python_module"] == "custom_nodes.comfyui-twgtm")
    assert all(name.startswith("TWGTM") for name in ours) and "TWGTMMaskToBBox" in ours


def test_mask_to_bbox_workflow_runs_over_http(comfy_server, pack_dir):
    assert comfy_server.upload_image(pack_dir / EXAMPLE) == "garment_mask.png"
    workflow = _workflow(pack_dir, "twgtm_http")
    entry = comfy_server.run_ui_workflow(workflow, timeout=60)
    _check_output(comfy_server, entry, pack_dir, _margin(workflow))


def test_bad_inputs_fail_clearly_and_server_keeps_serving(comfy_server, pack_dir):
    comfy_server.upload_image(pack_dir / EXAMPLE)
    workflow = _workflow(pack_dir, "twgtm_after_error")
    prompt = convert(workflow, comfy_server.object_info())
    load_id = next(k for k, v in prompt.items() if v["class_type"] == "LoadImage")

    missing = copy.deepcopy(prompt)  # a file name that is not in the input folder: rejected up front
    missing[load_id]["inputs"]["image"] = "no_such_garment.png"
    with pytest.raises(PromptRejected) as rejected:
        comfy_server.queue(missing)
    assert load_id in rejected.value.body["node_errors"]
    assert "no_such_garment.png" in json.dumps(rejected.value.body)

    (comfy_server.input_dir / "broken.png").write_bytes(b"this is not a PNG")  # fails while running
    broken = copy.deepcopy(prompt)
    broken[load_id]["inputs"]["image"] = "broken.png"
    entry = comfy_server.run(broken, timeout=60)
    assert entry["status"]["status_str"] == "error"
    message = comfy_server.error_message(entry)
    assert "broken.png" in message or "identify" in message, message

    _check_output(comfy_server, comfy_server.run(prompt, timeout=60), pack_dir, _margin(workflow))


def test_twgtm_model_folder_lists_safetensors_only(comfy_server):
    (comfy_server.models_dir / "tiny_test.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (comfy_server.models_dir / "ignored.ckpt").write_bytes(b"not listed")
    names = comfy_server.get_json("/models/twgtm")
    assert "tiny_test.safetensors" in names
    assert "ignored.ckpt" not in names


def test_load_custom_node_in_process(comfyui_dir, pack_dir, tmp_path):
    link = make_session_dirs(tmp_path, pack_dir)["custom_nodes"] / "comfyui-twgtm"
    report = load_custom_node_in_subprocess(comfyui_dir, link)
    assert report["ok"] and report["returncode"] == 0, report["log"]
    assert "TWGTMMaskToBBox" in report["nodes"]
    paths, extensions = report["twgtm_folder"]
    assert extensions == [".safetensors"]
    assert paths[0] == os.path.join(os.path.realpath(comfyui_dir), "models", "twgtm")


@pytest.mark.browser
def test_frontend_runs_mask_to_bbox_workflow(comfy_server, browser_env, pack_dir, tmp_path):
    comfy_server.upload_image(pack_dir / EXAMPLE)
    workflow = _workflow(pack_dir, "twgtm_browser")
    workflow_path = tmp_path / "mask_to_bbox.json"
    workflow_path.write_text(json.dumps(workflow))
    screenshot = SCREENSHOT_DIR / "mask_to_bbox.png"
    screenshot.unlink(missing_ok=True)
    report = run_browser_workflow(comfy_server.url, workflow_path, screenshot, api_out=tmp_path / "api.json")

    assert report["status"] == "success"
    assert report["images"] and report["images"][0]["loaded_size"] == [96, 128]
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
    entry = comfy_server.wait(report["prompt_id"], timeout=10)
    _check_output(comfy_server, entry, pack_dir, _margin(workflow))

    # The frontend's own UI -> API conversion agrees with tests/comfy/workflow_api.py.
    frontend = json.loads((tmp_path / "api.json").read_text())
    ours = convert(workflow, comfy_server.object_info())
    assert {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in frontend.items()} == ours

    extra = os.environ.get("TWGTM_SCREENSHOT_DIR")
    if extra:
        os.makedirs(extra, exist_ok=True)
        shutil.copy(screenshot, os.path.join(extra, screenshot.name))
