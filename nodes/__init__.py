"""ComfyUI glue of the TWGTM pack: node classes, IMAGE/MASK conversion and model folders.

No model math here (that lives in twgtm/). Imported only inside ComfyUI, as a subpackage of
the pack, so every import is relative.
"""
