"""Every node's input values through twgtm.validate before the node runs, read from the node's own V3 schema.

ComfyUI 0.3.75 checks a prompt's inputs before it runs, but not the options of V3 combos, and a NaN
passes its min / max checks; a node may also get values from the API that no widget could make. So
each node class of the pack is wrapped once (`validated`, in the extension's node list): its
`execute` first checks every given input against the schema: a combo's value among its options, a
model-file combo inside the model folders, an int or float finite and within min / max, a boolean,
text, an IMAGE (1 to 4 channels, finite, in range, a sane size) or a MASK. A new input is checked
as soon as it is in a schema.
"""
from __future__ import annotations

import functools
import inspect

from comfy_api.latest import io

from ..twgtm.validate import InputSpec, call_arguments, check_node_inputs

# Combo inputs naming a file or folder of ComfyUI's model folders: checked to stay inside them, not
# against the list (a file added since the list was read is found; a missing one is the loader's
# error, which says where to put it).
FILE_INPUTS = ("ckpt_name", "base_model", "clip_vision", "weights", "vae", "parser_name")
KINDS = {"COMBO": "combo", "INT": "int", "FLOAT": "float", "BOOLEAN": "boolean", "STRING": "string",
         "IMAGE": "image", "MASK": "mask"}


def input_specs(schema: io.Schema) -> list[InputSpec]:
    """A node's inputs as its schema declares them."""
    specs = []
    for declared in schema.inputs:
        kind = KINDS.get(declared.get_io_type(), "other")
        if kind == "combo" and declared.id in FILE_INPUTS:
            kind = "file"
        specs.append(InputSpec(declared.id, kind, tuple(getattr(declared, "options", None) or ()),
                               getattr(declared, "min", None), getattr(declared, "max", None)))
    return specs


def validated(node: type[io.ComfyNode]) -> type[io.ComfyNode]:
    """`node` with its `execute` checking every input value first (wrapped once)."""
    execute = node.execute.__func__
    if getattr(execute, "checks_inputs", False):
        return node
    signature = inspect.signature(execute)

    @functools.wraps(execute)
    def checked(cls, *args, **kwargs):
        values = call_arguments(signature, (cls, *args), kwargs)  # **mask_options: the mask_* inputs by name
        schema = node.FINALIZE_SCHEMA()  # `cls` is ComfyUI's locked clone: read the schema of the node itself
        check_node_inputs(schema.display_name, input_specs(schema), values)
        return execute(cls, *args, **kwargs)

    checked.checks_inputs = True
    node.execute = classmethod(checked)
    return node
