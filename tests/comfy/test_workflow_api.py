"""tests/comfy/workflow_api.py: UI-format workflow -> API format, against a hand-made /object_info."""
import json
from pathlib import Path

import pytest

from .workflow_api import WorkflowError, convert

OBJECT_INFO = {
    "LoadImage": {"input": {"required": {"image": [["a.png", "b.png"], {"image_upload": True}]}},
                  "input_order": {"required": ["image"]}},
    "KSamplerLike": {
        "input": {"required": {"model": ["MODEL"], "seed": ["INT", {"control_after_generate": True}],
                               "steps": ["INT", {"default": 20}], "sampler": [["euler", "ddim"]],
                               "denoise": ["FLOAT", {"forceInput": True}]},
                  "optional": {"note": ["STRING", {}]}},
        "input_order": {"required": ["model", "seed", "steps", "sampler", "denoise"], "optional": ["note"]},
    },
    "Loader": {"input": {"required": {"name": ["STRING", {}]}}, "input_order": {"required": ["name"]}},
    "FloatSource": {"input": {"required": {}}, "input_order": {"required": []}},
}


def _node(node_id, kind, inputs=(), widgets=None, mode=0):
    node = {"id": node_id, "type": kind, "mode": mode, "inputs": list(inputs)}
    if widgets is not None:
        node["widgets_values"] = widgets
    return node


def test_widgets_seed_control_upload_and_links():
    workflow = {
        "nodes": [
            _node(1, "LoadImage", [], ["b.png", "image"]),
            _node(2, "Loader", [], ["tiny"]),
            _node(3, "KSamplerLike", [{"name": "model", "link": 10}, {"name": "denoise", "link": 11}],
                  [42, "randomize", 8, "ddim", "hello"]),
            _node(4, "FloatSource"),
            _node(5, "Note", [], ["text"]),
        ],
        "links": [[10, 2, 0, 3, 0, "MODEL"], [11, 4, 0, 3, 4, "FLOAT"]],
    }
    assert convert(workflow, OBJECT_INFO) == {
        "1": {"class_type": "LoadImage", "inputs": {"image": "b.png"}},
        "2": {"class_type": "Loader", "inputs": {"name": "tiny"}},
        "3": {"class_type": "KSamplerLike", "inputs": {"model": ["2", 0], "denoise": ["4", 0], "seed": 42,
                                                       "steps": 8, "sampler": "ddim", "note": "hello"}},
        "4": {"class_type": "FloatSource", "inputs": {}},
    }


def test_reroute_primitive_and_converted_widget():
    workflow = {
        "nodes": [
            _node(2, "Loader", [], ["tiny"]),
            _node(6, "Reroute", [{"name": "", "link": 20}]),
            _node(7, "PrimitiveNode", [], [7, "fixed"]),
            _node(3, "KSamplerLike", [{"name": "model", "link": 21}, {"name": "steps", "widget": {"name": "steps"}, "link": 22}],
                  [1, "fixed", 20, "euler", ""]),
        ],
        "links": [[20, 2, 0, 6, 0, "MODEL"], [21, 6, 0, 3, 0, "MODEL"], [22, 7, 0, 3, 2, "INT"]],
    }
    prompt = convert(workflow, OBJECT_INFO)
    assert set(prompt) == {"2", "3"}
    assert prompt["3"]["inputs"]["model"] == ["2", 0]
    assert prompt["3"]["inputs"]["steps"] == 7


def test_muted_dropped_bypass_and_unknown_raise():
    muted = {"nodes": [_node(2, "Loader", [], ["x"], mode=2)], "links": []}
    assert convert(muted, OBJECT_INFO) == {}
    with pytest.raises(WorkflowError, match="bypassed"):
        convert({"nodes": [_node(2, "Loader", [], ["x"], mode=4)], "links": []}, OBJECT_INFO)
    with pytest.raises(WorkflowError, match="not in /object_info"):
        convert({"nodes": [_node(2, "Nope", [], [])], "links": []}, OBJECT_INFO)
    with pytest.raises(WorkflowError, match="widget values"):
        convert({"nodes": [_node(3, "KSamplerLike", [], [1])], "links": []}, OBJECT_INFO)


def test_shipped_workflows_are_ui_format():
    for path in sorted((Path(__file__).resolve().parents[2] / "workflows").glob("*.json")):
        workflow = json.loads(path.read_text())
        assert {"nodes", "links"} <= set(workflow), path.name
        node_ids = {node["id"] for node in workflow["nodes"]}
        for link_id, from_id, _, to_id, _, _ in workflow["links"]:
            assert from_id in node_ids and to_id in node_ids, f"{path.name}: link {link_id}"
