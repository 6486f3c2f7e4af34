"""ComfyUI entry point of the TWGTM pack (V3 schema).

Exports `comfy_entrypoint` only: ComfyUI ignores a V3 entry point when NODE_CLASS_MAPPINGS
exists. Nothing is imported at import time; the nodes load when ComfyUI calls the entry.
"""


async def comfy_entrypoint():
    """Return the pack's ComfyExtension (ComfyUI calls this when it loads the pack)."""
    from .nodes.extension import create_extension

    return create_extension()


__all__ = ["comfy_entrypoint"]
