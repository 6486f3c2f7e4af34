"""Write the shipped UI-format workflows (workflows/*.json) from compact specs and a server's /object_info.

    python -m tests.comfy.make_workflows           # starts a ComfyUI server (tests/comfy/comfy_env.py) for /object_info
    python -m tests.comfy.make_workflows --thumbnails docs/screenshots .cache/screenshots   # <name>.jpg cards

The output follows the format the ComfyUI frontend saves (see workflows/mask_to_bbox.json): every
input of a node (sockets and widgets, required then optional), widget values in order (a seed
is followed by its control mode, LoadImage by its upload button), links as
[id, from_node, from_slot, to_node, to_slot, type].
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from twgtm.weights.registry import REGISTRY, template_models

from .workflow_api import widget_inputs

REPO = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = REPO / "workflows"
DEMO = "twgtm-demo.safetensors"
SAMPLING = {"scheduler": "ddim", "steps": 30, "guidance": 2.5, "seed": 42}
LOADER = {"id": 1, "type": "TWGTMModelLoader", "pos": [20, 30], "size": [320, 200], "widgets": {"ckpt_name": DEMO}}
VIEWPORT = (1400, 900)  # the browser tests' screenshot size; the saved view fits the graph into it


def _load(node_id, name, pos):
    return {"id": node_id, "type": "LoadImage", "pos": pos, "widgets": {"image": name}, "size": [260, 330]}


def _save(node_id, prefix, pos):
    return {"id": node_id, "type": "SaveImage", "pos": pos, "widgets": {"filename_prefix": prefix}, "size": [300, 330]}


# Each workflow: nodes (id, type, pos, widget values by name; the rest take their defaults) and
# links (from_id, from_slot, to_id, to_input_name).
SPECS = {
    "tryon": {
        "nodes": [
            LOADER,
            _load(2, "person_a.png", [20, 300]),
            _load(3, "garment_upper.png", [300, 300]),
            _load(4, "person_a_mask.png", [580, 300]),
            {"id": 5, "type": "ImageToMask", "pos": [580, 690], "size": [260, 60], "widgets": {"channel": "red"}},
            {"id": 6, "type": "TWGTMTryOn", "pos": [880, 30], "widgets": {"category": "upper", **SAMPLING}},
            _save(7, "twgtm_tryon", [1240, 300]),
        ],
        "links": [(1, 0, 6, "model"), (2, 0, 6, "person"), (3, 0, 6, "garment"), (4, 0, 5, "image"), (5, 0, 6, "mask"),
                  (6, 0, 7, "images")],
    },
    "tryoff": {
        "nodes": [
            LOADER,
            _load(2, "person_b.png", [20, 300]),
            {"id": 3, "type": "TWGTMTryOff", "pos": [380, 30], "widgets": {"category": "upper", "mask_mode": "bbox", **SAMPLING}},
            {"id": 5, "type": "MaskToImage", "pos": [380, 420], "size": [260, 40]},
            _save(4, "twgtm_tryoff", [740, 300]),
            {"id": 6, "type": "PreviewImage", "pos": [1080, 300], "size": [300, 330]},
        ],
        "links": [(1, 0, 3, "model"), (2, 0, 3, "person"), (3, 0, 4, "images"), (3, 2, 5, "mask"), (5, 0, 6, "images")],
    },
    "roundtrip": {
        "nodes": [
            LOADER,
            _load(2, "person_a.png", [20, 300]),
            _load(3, "person_b.png", [300, 300]),
            _load(4, "person_b_mask.png", [580, 300]),
            {"id": 5, "type": "ImageToMask", "pos": [580, 690], "size": [260, 60], "widgets": {"channel": "red"}},
            {"id": 6, "type": "TWGTMRoundTrip", "pos": [880, 30], "widgets": {"category": "upper", "mask_mode": "bbox", **SAMPLING}},
            _save(7, "twgtm_roundtrip", [1240, 300]),
            _save(8, "twgtm_roundtrip_garment", [1560, 300]),
        ],
        "links": [(1, 0, 6, "model"), (2, 0, 6, "person_a"), (3, 0, 6, "person_b"), (4, 0, 5, "image"), (5, 0, 6, "mask_b"),
                  (6, 0, 7, "images"), (6, 1, 8, "images")],
    },
    "layered_tryon": {
        "nodes": [
            LOADER,
            {"id": 6, "type": "TWGTMBodyRegionMask", "pos": [380, 30], "size": [280, 80], "widgets": {"category": "lower"}},
            {"id": 7, "type": "TWGTMTryOn", "pos": [700, 30], "title": "Try-On 1: lower garment",
             "widgets": {"category": "lower", **SAMPLING}},
            {"id": 9, "type": "TWGTMTryOn", "pos": [1060, 30], "title": "Try-On 2: upper garment over it",
             "widgets": {"category": "upper", **SAMPLING}},
            _load(2, "person_a.png", [20, 420]),
            _load(3, "garment_lower.png", [300, 420]),
            _load(4, "garment_upper.png", [580, 420]),
            _load(5, "person_a_mask.png", [860, 420]),
            {"id": 8, "type": "ImageToMask", "pos": [1140, 420], "size": [260, 60], "widgets": {"channel": "red"}},
            {"id": 10, "type": "PreviewImage", "pos": [1140, 540], "size": [300, 330]},
            _save(11, "twgtm_layered", [1420, 30]),
        ],
        "links": [(1, 0, 7, "model"), (2, 0, 7, "person"), (3, 0, 7, "garment"), (2, 0, 6, "image"), (6, 0, 7, "mask"),
                  (1, 0, 9, "model"), (7, 0, 9, "person"), (4, 0, 9, "garment"), (5, 0, 8, "image"), (8, 0, 9, "mask"),
                  (7, 0, 10, "images"), (9, 0, 11, "images")],
    },
    "garment_mask": {
        "nodes": [
            LOADER,
            _load(2, "person_b.png", [20, 300]),
            {"id": 3, "type": "TWGTMSAMEncode", "pos": [380, 30], "size": [320, 200], "widgets": {"category": "upper"}},
            {"id": 4, "type": "TWGTMGarmentMask", "pos": [740, 30], "size": [300, 160],
             "widgets": {"threshold": 0.5, "bbox": False, "margin": 0}},
            {"id": 5, "type": "MaskToImage", "pos": [380, 300], "size": [260, 40]},
            {"id": 6, "type": "MaskToImage", "pos": [380, 390], "size": [260, 40]},
            _save(7, "twgtm_garment_mask", [740, 260]),
            {"id": 8, "type": "PreviewImage", "pos": [1080, 30], "size": [300, 330]},
        ],
        "links": [(1, 0, 3, "model"), (2, 0, 3, "image"), (3, 0, 4, "reference"), (4, 0, 5, "mask"), (4, 1, 6, "mask"),
                  (5, 0, 7, "images"), (6, 0, 8, "images")],
    },
    "conditioner_sampler": {
        "nodes": [
            LOADER,
            _load(2, "person_a.png", [20, 520]),
            _load(3, "garment_upper.png", [300, 520]),
            _load(4, "person_a_mask.png", [580, 520]),
            {"id": 5, "type": "ImageToMask", "pos": [860, 520], "size": [260, 60], "widgets": {"channel": "red"}},
            {"id": 6, "type": "TWGTMSAMEncode", "pos": [380, 30], "size": [300, 200], "widgets": {"category": "upper"}},
            {"id": 7, "type": "TWGTMConditioner", "pos": [720, 30], "size": [300, 420],
             "widgets": {"task": "tryon", "category": "upper"}},
            {"id": 8, "type": "TWGTMSampler", "pos": [1060, 30], "size": [300, 420], "widgets": SAMPLING},
            _save(9, "twgtm_conditioner_sampler", [1140, 520]),
        ],
        "links": [(1, 0, 6, "model"), (3, 0, 6, "image"), (2, 0, 7, "person"), (3, 0, 7, "garment"), (4, 0, 5, "image"),
                  (5, 0, 7, "mask"), (6, 0, 7, "reference"), (1, 0, 8, "model"), (7, 0, 8, "conditioning"),
                  (8, 0, 9, "images")],
    },
}
THUMBNAIL_SIZE = (512, 329)  # the browser screenshot (1400 x 900) scaled down, as a template-browser card


# The public weights' workflows: file names as the model registry (and the README's table) places them.
CATVTON_FILE = REGISTRY["catvton"].comfy_name
TRYOFFANYONE_FILE = REGISTRY["tryoffanyone"].comfy_name
BASE_FILE = REGISTRY["sd15-inpainting"].comfy_name
VAE_FILE = REGISTRY["sd-vae-ft-mse"].comfy_name
PARSER = REGISTRY["segformer-b3-clothes"].comfy_name
PUBLIC_SAMPLING = {"scheduler": "ddim", "steps": 50, "guidance": 2.5, "seed": 42}  # the projects' published defaults


def _public_loader(node_id, profile, weights, pos):
    return {"id": node_id, "type": "TWGTMProfileLoader", "pos": pos, "size": [360, 200],
            "widgets": {"profile": profile, "weights": weights, "base_model": BASE_FILE, "vae": VAE_FILE}}


def _parser(node_id, pos):
    return {"id": node_id, "type": "TWGTMParserLoader", "pos": pos, "size": [300, 90], "widgets": {"parser_name": PARSER}}


def _auto_mask(node_id, task, pos, title=None):
    node = {"id": node_id, "type": "TWGTMAutoMask", "pos": pos, "size": [280, 110],
            "widgets": {"task": task, "category": "upper"}}
    if title:
        node["title"] = title
    return node


SPECS.update({
    "catvton_tryon": {
        "nodes": [
            _public_loader(1, "catvton", CATVTON_FILE, [20, 30]),
            _parser(2, [20, 270]),
            _load(3, "person_a.png", [20, 400]),
            _load(4, "garment_upper.png", [300, 400]),
            _auto_mask(5, "tryon", [420, 270]),
            {"id": 6, "type": "TWGTMTryOn", "pos": [740, 30], "widgets": {"category": "upper", **PUBLIC_SAMPLING}},
            {"id": 7, "type": "MaskToImage", "pos": [1100, 400], "size": [260, 40]},
            {"id": 8, "type": "PreviewImage", "pos": [1100, 480], "size": [300, 330]},
            _save(9, "catvton_tryon", [1100, 30]),
        ],
        "links": [(1, 0, 6, "model"), (3, 0, 6, "person"), (4, 0, 6, "garment"), (2, 0, 5, "parser"), (3, 0, 5, "image"),
                  (5, 0, 6, "mask"), (5, 0, 7, "mask"), (7, 0, 8, "images"), (6, 0, 9, "images")],
    },
    "tryoffanyone_tryoff": {
        "nodes": [
            _public_loader(1, "tryoffanyone", TRYOFFANYONE_FILE, [20, 30]),
            _parser(2, [20, 270]),
            _load(3, "person_b.png", [20, 400]),
            _auto_mask(4, "tryoff", [340, 270]),
            {"id": 5, "type": "TWGTMTryOff", "pos": [680, 30], "widgets": {"category": "upper", **PUBLIC_SAMPLING}},
            _save(6, "tryoffanyone_tryoff", [1040, 30]),
            {"id": 7, "type": "MaskToImage", "pos": [1040, 400], "size": [260, 40]},
            {"id": 8, "type": "PreviewImage", "pos": [1040, 480], "size": [300, 330]},
        ],
        "links": [(1, 0, 5, "model"), (3, 0, 5, "person"), (2, 0, 4, "parser"), (3, 0, 4, "image"), (4, 0, 5, "mask"),
                  (5, 0, 6, "images"), (4, 0, 7, "mask"), (7, 0, 8, "images")],
    },
    "public_roundtrip": {
        "nodes": [
            _public_loader(1, "tryoffanyone", TRYOFFANYONE_FILE, [20, 30]),
            _public_loader(2, "catvton", CATVTON_FILE, [20, 270]),
            _parser(3, [20, 510]),
            _load(4, "person_a.png", [20, 640]),
            _load(5, "person_b.png", [300, 640]),
            _auto_mask(6, "tryoff", [600, 780], "Auto Mask: A's top"),
            _auto_mask(7, "tryon", [920, 780], "Auto Mask: where B is dressed"),
            {"id": 8, "type": "TWGTMTryOff", "pos": [420, 30], "title": "Try-Off: A's top (TryOffAnyone)",
             "widgets": {"category": "upper", **PUBLIC_SAMPLING}},
            {"id": 9, "type": "TWGTMTryOn", "pos": [780, 30], "title": "Try-On: B wearing it (CatVTON)",
             "widgets": {"category": "upper", **PUBLIC_SAMPLING}},
            _save(10, "public_roundtrip_garment", [1140, 30]),
            _save(11, "public_roundtrip", [1460, 30]),
        ],
        "links": [(1, 0, 8, "model"), (4, 0, 8, "person"), (3, 0, 6, "parser"), (4, 0, 6, "image"), (6, 0, 8, "mask"),
                  (2, 0, 9, "model"), (5, 0, 9, "person"), (8, 0, 9, "garment"), (3, 0, 7, "parser"), (5, 0, 7, "image"),
                  (7, 0, 9, "mask"), (8, 0, 10, "images"), (9, 0, 11, "images")],
    },
})


def _view(nodes: list[dict]) -> dict:
    """The saved canvas view (scale, offset) that fits every node into the screenshot, clear of the side bar and menus."""
    left = min(n["pos"][0] for n in nodes)
    top = min(n["pos"][1] for n in nodes) - 30  # title bar
    right = max(n["pos"][0] + n["size"][0] for n in nodes)
    bottom = max(n["pos"][1] + n["size"][1] for n in nodes)
    margin_left, margin_top = 80, 140
    scale = min(1.0, (VIEWPORT[0] - margin_left - 20) / (right - left), (VIEWPORT[1] - margin_top - 20) / (bottom - top))
    scale = round(scale, 2)
    return {"scale": scale, "offset": [round(margin_left / scale - left, 1), round(margin_top / scale - top, 1)]}


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
        properties = {"Node name for S&R": node["type"]}
        models = [m for value in values if isinstance(value, str) for m in template_models(value) or []]
        if models:  # the frontend's missing-models dialog offers these downloads when the files are absent
            properties["models"] = models
        ui = {"id": node["id"], "type": node["type"], "pos": node["pos"], "size": node.get("size", [300, 120 + 24 * len(values)]),
              "flags": {}, "order": order[node["id"]], "mode": 0, "inputs": inputs, "outputs": outputs,
              "properties": properties, "widgets_values": values}
        if "title" in node:
            ui["title"] = node["title"]
        ui_nodes.append(ui)
    slot_of = {(n["id"], inp["name"]): i for n in ui_nodes for i, inp in enumerate(n["inputs"])}
    ui_links = [[l[0], l[1], l[2], l[3], slot_of[(l[3], l[4])], l[5]] for l in links]
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "twgtm-workflow-" + json.dumps(spec, sort_keys=True))),
        "revision": 0, "last_node_id": max(nodes_by_id), "last_link_id": len(links),
        "nodes": ui_nodes, "links": ui_links, "groups": [], "config": {},
        "extra": {"ds": _view(ui_nodes), "workflowRendererVersion": "LG"}, "version": 0.4,
    }


def write_all(object_info: dict, out_dir: Path = WORKFLOW_DIR) -> list[Path]:
    """Write every workflow in SPECS; return the paths."""
    paths = []
    for name, spec in SPECS.items():
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(build(spec, object_info), indent=2) + "\n")
        paths.append(path)
    return paths


def write_thumbnails(screenshot_dirs, out_dir: Path = WORKFLOW_DIR) -> list[Path]:
    """`<name>.jpg` beside every workflow from its browser screenshot `<name>.png`, the first found in `screenshot_dirs`.

    ComfyUI's template browser shows `/api/workflow_templates/<pack>/<name>.jpg` as a workflow's card.
    """
    from PIL import Image

    dirs = [Path(screenshot_dirs)] if isinstance(screenshot_dirs, (str, Path)) else [Path(d) for d in screenshot_dirs]
    paths = []
    for workflow in sorted(out_dir.glob("*.json")):
        shot = next((d / f"{workflow.stem}.png" for d in dirs if (d / f"{workflow.stem}.png").is_file()), None)
        if shot is None:
            continue
        with Image.open(shot) as image:
            thumb = image.convert("RGB")
            thumb.thumbnail(THUMBNAIL_SIZE)
            path = out_dir / f"{workflow.stem}.jpg"
            thumb.save(path, quality=85, optimize=True)
        paths.append(path)
    return paths


def main(argv=None) -> None:
    """Start a ComfyUI server with the pack, read /object_info, write the workflows (or, --thumbnails, the cards)."""
    import argparse
    import tempfile

    from .comfy_env import ComfyServer, ensure_comfyui

    parser = argparse.ArgumentParser(prog="python -m tests.comfy.make_workflows", description=main.__doc__)
    parser.add_argument("--thumbnails", nargs="+", metavar="DIR", help="write the <name>.jpg template cards from "
                        "the screenshots in these folders (the first DIR with <name>.png wins) instead")
    args = parser.parse_args(argv)
    if args.thumbnails:
        for path in write_thumbnails(args.thumbnails):
            print(path)
        return
    server = ComfyServer(ensure_comfyui(), Path(tempfile.mkdtemp(prefix="twgtm-wf-")))
    client = server.start()
    try:
        for path in write_all(client.object_info()):
            print(path)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
