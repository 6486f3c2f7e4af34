"""Convert a UI-format workflow (as the ComfyUI frontend saves it) to the API format of `POST /prompt`.

UI format: `{"nodes": [{id, type, mode, inputs: [{name, link, widget?}], widgets_values}],
"links": [[link_id, from_node, from_slot, to_node, to_slot, type]]}`.
API format: `{"<id>": {"class_type": type, "inputs": {name: value or ["<from_id>", from_slot]}}}`.

Widget values are matched to input names with `/object_info`: widget inputs in `input_order`
(required, then optional) each take one value; an INT with `control_after_generate` (or named
seed / noise_seed) and a combo with `control_after_generate` take a second one (the control
mode); an upload combo (`image_upload`...) may be followed by the upload button's value.
Reroute nodes are followed; PrimitiveNode values are inlined; Note nodes and muted nodes are
dropped; bypassed nodes (mode 4) and unknown node types raise WorkflowError.
"""
from __future__ import annotations

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "animated_image_upload")
VIRTUAL_TYPES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
MODE_MUTED, MODE_BYPASSED = 2, 4


class WorkflowError(ValueError):
    """The UI workflow cannot be converted (unknown node type, bypassed node, broken link...)."""


def _is_widget(spec) -> bool:
    """Whether an /object_info input spec `[type, options]` makes a widget on the node."""
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if options.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _values_per_widget(name: str, spec) -> int:
    """How many widgets_values entries a widget input takes (2 with a control_after_generate widget)."""
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    control = options.get("control_after_generate")
    if kind == "INT" and control is None:
        control = name in ("seed", "noise_seed")
    return 2 if control else 1


def widget_inputs(info: dict) -> list[tuple[str, dict, int, bool]]:
    """A node type's widget inputs in order: (name, spec, values taken, is an upload combo)."""
    order = info.get("input_order") or {s: list(info["input"].get(s, {})) for s in ("required", "optional")}
    result = []
    for section in ("required", "optional"):
        for name in order.get(section, []):
            spec = info["input"].get(section, {}).get(name)
            if spec is None or not _is_widget(spec):
                continue
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            upload = any(options.get(flag) for flag in UPLOAD_FLAGS)
            result.append((name, spec, _values_per_widget(name, spec), upload))
    return result


def _map_widget_values(node: dict, info: dict) -> dict:
    """Map a node's `widgets_values` to its widget input names."""
    values = node.get("widgets_values")
    if values is None:
        return {}
    if isinstance(values, dict):  # some nodes save their widgets by name
        return {name: values[name] for name, *_ in widget_inputs(info) if name in values}
    widgets = widget_inputs(info)
    base = sum(taken for _, _, taken, _ in widgets)
    uploads = sum(1 for *_, upload in widgets if upload)
    with_upload_values = uploads > 0 and len(values) >= base + uploads
    if len(values) < base:
        raise WorkflowError(
            f"node {node['id']} ({node['type']}): {len(values)} widget values for widgets "
            f"{[name for name, *_ in widgets]} (expected {base}); is /object_info from the same ComfyUI version?"
        )
    mapped, index = {}, 0
    for name, _spec, taken, upload in widgets:
        mapped[name] = values[index]
        index += taken + (1 if upload and with_upload_values else 0)
    return mapped


def convert(workflow: dict, object_info: dict) -> dict:
    """Convert a UI-format workflow to an API-format prompt using the server's /object_info."""
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = {link[0]: link for link in workflow.get("links", [])}

    def source(link_id, seen=()):
        """Resolve a link to (from_node, from_slot), following Reroute nodes."""
        if link_id not in links:
            raise WorkflowError(f"link {link_id} is not in the workflow's links")
        _, from_id, from_slot, *_ = links[link_id]
        upstream = nodes.get(from_id)
        if upstream is None:
            raise WorkflowError(f"link {link_id} starts at a missing node {from_id}")
        if upstream["type"] == "Reroute":
            if from_id in seen:
                raise WorkflowError(f"Reroute loop at node {from_id}")
            inputs = upstream.get("inputs") or []
            if not inputs or inputs[0].get("link") is None:
                raise WorkflowError(f"Reroute node {from_id} has no input")
            return source(inputs[0]["link"], seen + (from_id,))
        return upstream, from_slot

    prompt = {}
    for node_id, node in nodes.items():
        kind, mode = node["type"], node.get("mode", 0)
        if kind in VIRTUAL_TYPES or mode == MODE_MUTED:
            continue
        if mode == MODE_BYPASSED:
            raise WorkflowError(f"node {node_id} ({kind}) is bypassed; bypass is not supported by this converter")
        if kind not in object_info:
            raise WorkflowError(f"node {node_id}: type {kind!r} is not in /object_info (pack not loaded?)")
        info = object_info[kind]
        inputs = _map_widget_values(node, info)
        for slot in node.get("inputs") or []:
            if slot.get("link") is None:
                continue
            upstream, from_slot = source(slot["link"])
            name = slot.get("widget", {}).get("name", slot["name"])
            if upstream["type"] == "PrimitiveNode":
                inputs[name] = (upstream.get("widgets_values") or [None])[0]
            elif upstream["type"] in VIRTUAL_TYPES or upstream.get("mode", 0) == MODE_MUTED:
                raise WorkflowError(f"node {node_id} input {name!r} comes from a {upstream['type']} node")
            else:
                inputs[name] = [str(upstream["id"]), from_slot]
        prompt[str(node_id)] = {"class_type": kind, "inputs": inputs}
    return prompt
