"""Public weights in a real ComfyUI 0.3.75: TWGTM Public Model Loader, the parser and Auto Mask nodes, and the
shipped catvton_tryon / tryoffanyone_tryoff / public_roundtrip workflows over HTTP and in the browser, on
random-weight files with the real key layouts (an SD1.5-inpainting layout with narrow channels)."""
import copy
import io
import json

import pytest
from PIL import Image

from ..support.profile_files import (random_modules, write_base_file, write_catvton_file, write_tiny_parser,
                                     write_tryoffanyone_file, write_vae_file)
from .comfy_env import SCREENSHOT_DIR, run_browser_workflow
from .make_workflows import BASE_FILE, CATVTON_FILE, PARSER, TRYOFFANYONE_FILE, VAE_FILE
from .workflow_api import convert, widget_inputs

pytestmark = pytest.mark.comfy

WORKFLOWS = {"catvton_tryon": 2, "tryoffanyone_tryoff": 2, "public_roundtrip": 2}  # name -> images it saves/previews
EXAMPLES = ["person_a.png", "person_b.png", "garment_upper.png"]
SIZE = (96, 128)
STEPS = 2


@pytest.fixture(scope="module")
def server(comfy_server, pack_dir):
    """The server with the public projects' files (random weights) where the README puts them, and the examples."""
    unet, vae = random_modules(12)
    write_base_file(comfy_server.checkpoints_dir / BASE_FILE, unet, vae)
    write_vae_file(comfy_server.vae_dir / VAE_FILE, random_modules(13)[1])
    write_catvton_file(comfy_server.models_dir / CATVTON_FILE)
    write_tryoffanyone_file(comfy_server.models_dir / TRYOFFANYONE_FILE)
    write_tiny_parser(comfy_server.models_dir / "parsers" / PARSER, "Upper-clothes")
    for name in EXAMPLES:
        comfy_server.upload_image(pack_dir / "workflows" / "examples" / name)
    return comfy_server


def _workflow(pack_dir, name, tag, object_info, steps=STEPS):
    """A shipped public workflow with unique SaveImage prefixes and its samplers' steps set (the shipped 50 checked)."""
    workflow = json.loads((pack_dir / "workflows" / f"{name}.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "SaveImage":
            node["widgets_values"][0] = f"{tag}_{node['widgets_values'][0]}"
        elif node["type"] in ("TWGTMTryOn", "TWGTMTryOff"):
            index = 0
            for input_name, _spec, taken, _upload in widget_inputs(object_info[node["type"]]):
                if input_name == "steps":
                    assert node["widgets_values"][index] == 50  # the projects' published default
                    node["widgets_values"][index] = steps
                index += taken
    return workflow


def _sizes(client, entry):
    sizes = []
    for image in client.output_images(entry):
        with Image.open(io.BytesIO(client.view(image))) as im:
            sizes.append(im.size)
    return sizes


def _ok(client, entry):
    assert entry["status"]["status_str"] == "success", client.error_message(entry) or entry["status"]


def _node(prompt, class_type, index=0):
    return [k for k, v in prompt.items() if v["class_type"] == class_type][index]


def test_public_nodes_list_the_files_where_the_readme_puts_them(server):
    info = server.object_info()
    loader = info["TWGTMProfileLoader"]["input"]["required"]
    assert loader["profile"][1]["options"] == ["catvton", "tryoffanyone"]
    assert CATVTON_FILE in loader["weights"][1]["options"] and TRYOFFANYONE_FILE in loader["weights"][1]["options"]
    assert BASE_FILE in loader["base_model"][1]["options"] and VAE_FILE in loader["vae"][1]["options"]
    assert loader["weights"][1]["default"] == CATVTON_FILE
    assert PARSER in info["TWGTMParserLoader"]["input"]["required"]["parser_name"][1]["options"]
    twgtm = info["TWGTMModelLoader"]
    assert not any(o.startswith("parsers/") for o in twgtm["input"]["required"]["ckpt_name"][1]["options"])
    assert "toy" in twgtm["description"] and "toy" in twgtm["input"]["required"]["ckpt_name"][1]["tooltip"]
    assert info["TWGTMAutoMask"]["input"]["required"]["task"][1]["options"] == ["tryon", "tryoff"]


@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_shipped_public_workflow_runs(server, pack_dir, name):
    workflow = _workflow(pack_dir, name, "public", server.object_info())
    entry = server.run_ui_workflow(workflow, timeout=300)
    _ok(server, entry)
    sizes = _sizes(server, entry)
    assert len(sizes) == WORKFLOWS[name] and set(sizes) == {SIZE}, sizes
    assert "Requested to load TWGTM" in server.server.log(400_000)


def test_public_errors_say_what_to_do(server, pack_dir):
    good = convert(_workflow(pack_dir, "catvton_tryon", "perr", server.object_info()), server.object_info())
    loader, parser, tryon = _node(good, "TWGTMProfileLoader"), _node(good, "TWGTMParserLoader"), _node(good, "TWGTMTryOn")

    def error(graph):
        entry = server.run(graph, timeout=120)
        assert entry["status"]["status_str"] == "error", entry["status"]
        return server.error_message(entry)

    wrong_task = copy.deepcopy(good)  # the try-off profile asked for try-on
    wrong_task[loader]["inputs"].update(profile="tryoffanyone", weights=TRYOFFANYONE_FILE)
    message = error(wrong_task)
    assert "profile tryoffanyone does try-off only" in message and "catvton" in message, message
    wrong_file = copy.deepcopy(good)  # TryOffAnyone's file under the catvton profile
    wrong_file[loader]["inputs"]["weights"] = TRYOFFANYONE_FILE
    assert "TryOffAnyone's file" in error(wrong_file)
    no_parser = copy.deepcopy(good)
    no_parser[parser]["inputs"]["parser_name"] = "nowhere"
    message = error(no_parser)
    assert "input 'parser_name' (SegFormer clothes parser (automatic masks)): 'nowhere' not found in" in message, message
    assert str(server.models_dir / "parsers") in message and "models fetch segformer-b3-clothes" in message, message
    no_base = copy.deepcopy(good)
    no_base[loader]["inputs"]["base_model"] = "nowhere.safetensors"
    message = error(no_base)
    assert "input 'base_model' (SD1.5-inpainting base, one original-format file): 'nowhere.safetensors' not found" \
        in message and str(server.checkpoints_dir) in message
    good[tryon]["inputs"]["steps"] = 1
    _ok(server, server.run(good, timeout=120))


@pytest.mark.browser
@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_frontend_runs_public_workflow(server, browser_env, pack_dir, tmp_path, name):
    workflow = _workflow(pack_dir, name, "pbrowser", server.object_info())
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(workflow))
    screenshot = SCREENSHOT_DIR / f"{name}.png"
    screenshot.unlink(missing_ok=True)
    report = run_browser_workflow(server.url, path, screenshot, api_out=tmp_path / "api.json")
    assert report["status"] == "success", report
    assert len(report["images"]) == WORKFLOWS[name], report
    assert report["images"][0]["loaded_size"] == list(SIZE), report
    frontend = json.loads((tmp_path / "api.json").read_text())
    ours = convert(workflow, server.object_info())
    assert {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in frontend.items()} == ours
