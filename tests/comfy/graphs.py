"""Shared pieces of the real-server tests: the shipped workflows as graphs, their outputs, small graph edits."""
import io
import json
import os

from PIL import Image

from .workflow_api import widget_inputs

DEMO = "twgtm-demo.safetensors"
EXAMPLES = ["person_a.png", "person_a_mask.png", "person_b.png", "person_b_mask.png", "garment_upper.png", "garment_lower.png"]
SIZE = (96, 128)  # (width, height) of every example image
TEST_STEPS = 6  # the shipped workflows use 30; fewer keep the suite fast on a shared 2-core CPU
# TWGTM_TEST_DEMO_MODEL=1: run on the shipped weights/twgtm-demo.safetensors with the workflows' own
# steps (for README screenshots) instead of a tiny random checkpoint.
USE_DEMO = os.environ.get("TWGTM_TEST_DEMO_MODEL") == "1"


def workflow(pack_dir, name, tag, object_info=None, steps=None if USE_DEMO else TEST_STEPS):
    """A shipped UI workflow with unique SaveImage prefixes (and its samplers' steps set when object_info is given)."""
    graph = json.loads((pack_dir / "workflows" / f"{name}.json").read_text())
    for node in graph["nodes"]:
        if node["type"] == "SaveImage":
            node["widgets_values"][0] = f"{tag}_{node['widgets_values'][0]}"
        elif object_info is not None and steps is not None and node["type"] in object_info:
            index = 0
            for input_name, _spec, taken, _upload in widget_inputs(object_info[node["type"]]):
                if input_name == "steps":
                    assert node["widgets_values"][index] == 30  # what the shipped workflow asks for
                    node["widgets_values"][index] = steps
                index += taken
    return graph


def sizes(client, entry):
    """(width, height, mode) of every image in a history entry, read back through /view."""
    found = []
    for image in client.output_images(entry):
        with Image.open(io.BytesIO(client.view(image))) as im:
            found.append(im.size)
    return found


def ok(client, entry):
    assert entry["status"]["status_str"] == "success", client.error_message(entry) or entry["status"]


def node_id(prompt, class_type, index=0):
    return [k for k, v in prompt.items() if v["class_type"] == class_type][index]


def add_node(graph, class_type, **inputs):
    """Add a node to an API prompt; return its id."""
    node_id = str(max(int(k) for k in graph) + 1)
    graph[node_id] = {"class_type": class_type, "inputs": inputs}
    return node_id
