"""The pack's ComfyExtension: the list of every node class and the set-up done once at load."""
from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .a2a_nodes import A2A_NODES
from .auto_mask_nodes import AUTO_MASK_NODES
from .examples import install_examples
from .folders import register_model_folders
from .conditioning_nodes import CONDITIONING_NODES
from .mask_nodes import MASK_NODES
from .model_loader import LOADER_NODES
from .profile_nodes import PROFILE_NODES
from .reference_nodes import REFERENCE_NODES
from .sampler_nodes import SAMPLER_NODES
from .validation import validated


class TWGTMExtension(ComfyExtension):
    """Registers the model folders and lists the TWGTM nodes."""

    async def on_load(self) -> None:
        """Register the `twgtm` model folder (idempotent)."""
        register_model_folders()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        """Every node class of the pack; feature modules add their lists here."""
        nodes = [*LOADER_NODES, *PROFILE_NODES, *SAMPLER_NODES, *REFERENCE_NODES, *CONDITIONING_NODES, *MASK_NODES,
                 *AUTO_MASK_NODES, *A2A_NODES]
        return [validated(node) for node in nodes]  # every input checked by twgtm.validate before a node runs


def create_extension() -> TWGTMExtension:
    """Register the model folders, copy the workflows' example images to the input folder, return the extension."""
    register_model_folders()
    install_examples()
    return TWGTMExtension()
