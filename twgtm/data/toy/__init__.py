"""The toy wardrobe: procedural garments on procedural posed bodies, written in the VITON-HD layout."""
from .garments import CATEGORY_OF, TEMPLATES
from .wardrobe import generate_toy_wardrobe, render_sample

__all__ = ["generate_toy_wardrobe", "render_sample", "TEMPLATES", "CATEGORY_OF"]
