"""Write the shipped UI-format workflows (workflows/*.json) from compact specs and a server's /object_info.

    python -m tests.make_workflows            # starts a ComfyUI server (tests/comfy_env.py) for /object_info

The output follows the format the ComfyUI frontend saves (see workflows/mask_to_bbox.json): every
input of a node (sockets and widgets, required then optional), widget values in order (a seed
is followed by its control mode, LoadImage by its upload button), links as
[id, from_node, from_slot, to_node, to_slot, type].
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from .workflow_api import widget_inputs

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = REPO / "workflows"
DEMO = "twgtm-demo.safetensors"
SAMPLING = {"scheduler": "ddim", "steps": 30, "guidance": 2.5, "seed": 42}
LOADER = {"id": 1, "type": "TWGTMModelLoader", "pos": [40, 40], "widgets": {"ckpt_name": DEMO}}


def _load(node_id, name, pos):
    return {"id": node_id, "type": "LoadImage", "pos": pos, "widgets": {"image": name}, "size": [260, 330]}


# Each workflow: nodes (id, type, pos, widget values by name; the rest take their defaults) and
# links (from_id, from_slot, to_id, to_input_name).
SPECS = {
    "tryon": {
        "nodes": [
            LOADER,
            _load(2, "person_a.png", [40, 260]),
            _load(3, "garment_upper.png", [320, 260]),
            _load(4, "person_a_mask.png", [600, 260]),
            {"id": 5, "type": "ImageToMask", "pos": [600, 620], "widgets": {"channel": "red"}},
            {"id": 6, "type": "TWGTMTryOn", "pos": [900, 40], "widgets": {"category": "upper", **SAMPLING}},
            {"id": 7, "type": "SaveImage", "pos": [1240, 40], "widgets": {"filename_prefix": "twgtm_tryon"}, "size": [300, 330]},
        ],
        "links": [(1, 0, 6, "model"), (2, 0, 6, "person"), (3, 0, 6, "garment"), (4, 0, 5, "image"), (5, 0, 6, "mask"),
                  (6, 0, 7, "images")],
    },
    "tryoff": {
        "nodes": [
            LOADER,
            _load(2, "person_b.png", [40, 260]),
            {"id": 3, "type": "TWGTMTryOff", "pos": [400, 40], "widgets": {"category": "upper", "mask_mode": "bbox", **SAMPLING}},
            {"id": 4, "type": "SaveImage", "pos": [760, 40], "widgets": {"filename_prefix": "twgtm_tryoff"}, "size": [300, 330]},
            {"id": 5, "type": "MaskToImage", "pos": [760, 420]},
            {"id": 6, "type": "PreviewImage", "pos": [1080, 40], "size": [300, 330]},
        ],
        "links": [(1, 0, 3, "model"), (2, 0, 3, "person"), (3, 0, 4, "images"), (3, 2, 5, "mask"), (5, 0, 6, "images")],
    },
    "roundtrip": {
        "nodes": [
            LOADER,
            _load(2, "person_a.png", [40, 260]),
            _load(3, "person_b.png", [320, 260]),
            _load(4, "person_b_mask.png", [600, 260]),
            {"id": 5, "type": "ImageToMask", "pos": [600, 620], "widgets": {"channel": "red"}},
            {"id": 6, "type": "TWGTMRoundTrip", "pos": [900, 40], "widgets": {"category": "upper", "mask_mode": "bbox", **SAMPLING}},
            {"id": 7, "type": "SaveImage", "pos": [1240, 40], "widgets": {"filename_prefix": "twgtm_roundtrip"}, "size": [300, 330]},
            {"id": 8, "type": "SaveImage", "pos": [1240, 400], "widgets": {"filename_prefix": "twgtm_roundtrip_garment"}, "size": [300, 330]},
        ],
        "links": [(1, 0, 6, "model"), (2, 0, 6, "person_a"), (3, 0, 6, "person_b"), (4, 0, 5, "image"), (5, 0, 6, "mask_b"),
                  (6, 0, 7, "images"), (6, 1, 8, "images")],
    },
    "layered_tryon": {
        "nodes": [
            LOADER,
            _load(2, "person_a.png", [40, 260]),
            _load(3, "garment_lower.png", [320, 260]),
            _load(4, "garment_upper.png", [600, 260]),
            _load(5, "person_a_mask.png", [880, 260]),
            {"id": 6, "type": "TWGTMBodyRegionMask", "pos": [320, 40], "widgets": {"category": "lower"}},
            {"id": 7, "type": "TWGTMTryOn", "pos": [1180, 40], "title": "Try-On 1: lower garment",
             "widgets": {"category": "lower", **SAMPLING}},
            {"id": 8, "type": "ImageToMask", "pos": [880, 620], "widgets": {"channel": "red"}},
            {"id": 9, "type": "TWGTMTryOn", "pos": [1520, 40], "title": "Try-On 2: upper garment over it",
             "widgets": {"category": "upper", **SAMPLING}},
            {"id": 10, "type": "PreviewImage", "pos": [1180, 560], "size": [300, 330]},
            {"id": 11, "type": "SaveImage", "pos": [1860, 40], "widgets": {"filename_prefix": "twgtm_layered"}, "size": [300, 330]},
        ],
        "links": [(1, 0, 7, "model"), (2, 0, 7, "person"), (3, 0, 7, "garment"), (2, 0, 6, "image"), (6, 0, 7, "mask"),
                  (1, 0, 9, "model"), (7, 0, 9, "person"), (4, 0, 9, "garment"), (5, 0, 8, "image"), (8, 0, 9, "mask"),
                  (7, 0, 10, "images"), (9, 0, 11, "images")],
    },
}


def _all_inputs(info: dict) -> list[tuple[str, list]]:
    """(name, spec) of every input, required then optional, in input_order."""
    order = info.get("input_order") or {s: list(info["input"].get(s, {})) for s in ("required", "optional")}
    return [(name, info["input"][section][name]) for section in ("required", "optional") for name in order.get(section, [])]


def _widget_default(name: str, spec: list):
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "default" in options:
        return options["default"]
    if isinstance(spec[0], list):
        return spec[0][0] if spec[0] else ""
    if spec[0] == "COMBO":
        values = options.get("options") or [""]
        return values[0]
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(spec[0])


def build(spec: dict, object_info: dict) -> dict:
    """One UI-format workflow from a spec."""
    nodes_by_id = {n["id"]: n for n in spec["nodes"]}
    links = []
    for link_id, (src, slot, dst, name) in enumerate(spec["links"], start=1):
        out_type = object_info[nodes_by_id[src]["type"]]["output"][slot]
        links.append([link_id, src, slot, dst, name, out_type])
    # execution order: a node after all its sources
    order, placed = {}, set()
    while len(placed) < len(nodes_by_id):
        for node_id in nodes_by_id:
            if node_id in placed:
                continue
            if all(l[1] in placed for l in links if l[3] == node_id):
                order[node_id] = len(placed)
                placed.add(node_id)
    ui_nodes = []
    for node in spec["nodes"]:
        info = object_info[node["type"]]
        widget_names = {name for name, *_ in widget_inputs(info)}
        inputs = []
        for name, input_spec in _all_inputs(info):
            kind = "COMBO" if isinstance(input_spec[0], list) else input_spec[0]
            entry = {"localized_name": name, "name": name, "type": kind}
            if name in widget_names:
                entry["widget"] = {"name": name}
            incoming = [l for l in links if l[3] == node["id"] and l[4] == name]
            entry["link"] = incoming[0][0] if incoming else None
            inputs.append(entry)
        values = []
        for name, input_spec, taken, upload in widget_inputs(info):
            values.append(node.get("widgets", {}).get(name, _widget_default(name, input_spec)))
            if taken == 2:
                values.append("fixed")
            if upload:
                values.append("image")
        outputs = []
        for slot, (kind, out_name) in enumerate(zip(info["output"], info["output_name"])):
            outgoing = [l[0] for l in links if l[1] == node["id"] and l[2] == slot]
            out = {"localized_name": out_name, "name": out_name, "type": kind, "links": outgoing or None}
            if outgoing:
                out["slot_index"] = slot
            outputs.append(out)
        ui = {"id": node["id"], "type": node["type"], "pos": node["pos"], "size": node.get("size", [300, 120 + 24 * len(values)]),
              "flags": {}, "order": order[node["id"]], "mode": 0, "inputs": inputs, "outputs": outputs,
              "properties": {"Node name for S&R": node["type"]}, "widgets_values": values}
        if "title" in node:
            ui["title"] = node["title"]
        ui_nodes.append(ui)
    slot_of = {(n["id"], inp["name"]): i for n in ui_nodes for i, inp in enumerate(n["inputs"])}
    ui_links = [[l[0], l[1], l[2], l[3], slot_of[(l[3], l[4])], l[5]] for l in links]
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "twgtm-workflow-" + json.dumps(spec, sort_keys=True))),
        "revision": 0, "last_node_id": max(nodes_by_id), "last_link_id": len(links),
        "nodes": ui_nodes, "links": ui_links, "groups": [], "config": {},
        "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}, "workflowRendererVersion": "LG"}, "version": 0.4,
    }


def write_all(object_info: dict, out_dir: Path = WORKFLOW_DIR) -> list[Path]:
    """Write every workflow in SPECS; return the paths."""
    paths = []
    for name, spec in SPECS.items():
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(build(spec, object_info), indent=2) + "\n")
        paths.append(path)
    return paths


def main() -> None:
    """Start a ComfyUI server with the pack, read /object_info, write the workflows."""
    import tempfile

    from .comfy_env import ComfyServer, ensure_comfyui

    server = ComfyServer(ensure_comfyui(), Path(tempfile.mkdtemp(prefix="twgtm-wf-")))
    client = server.start()
    try:
        for path in write_all(client.object_info()):
            print(path)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
