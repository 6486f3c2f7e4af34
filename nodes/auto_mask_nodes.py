"""TWGTM Parser Loader and TWGTM Auto Mask: automatic try-on / try-off masks from a SegFormer clothes parser.

The parser is a transformers folder in `models/twgtm/parsers/<name>/` (e.g. sayeed99/segformer_b3_clothes);
the mask rules are twgtm.parsing's. The parser travels as a node output inside a ComfyUI ModelPatcher,
so ComfyUI loads it to its device while a mask is made and offloads it when it needs the memory.
"""
from __future__ import annotations

import logging

import torch

import comfy.model_management as mm
import comfy.model_patcher
from comfy_api.latest import io

from ..twgtm.errors import InputError
from ..twgtm.parsing import MASK_TASKS, auto_mask, load_parser
from ..twgtm.parsing.parser import ClothesParser
from .convert import image_to_pixels, tensor_to_mask
from .folders import PARSERS, list_parsers, loader_files, loader_paths
from .io_types import CATEGORY, GARMENT_CATEGORIES

logger = logging.getLogger("twgtm")

TWGTMParser = io.Custom("TWGTM_PARSER")


class ParserWeights(torch.nn.Module):
    """The SegFormer inside a plain module: ComfyUI's ModelPatcher sets attributes (`device`) that transformers
    models keep read-only."""

    def __init__(self, segformer: torch.nn.Module):
        super().__init__()
        self.segformer = segformer


class LoadedParser:
    """The TWGTM_PARSER value: a ModelPatcher around the SegFormer and the parser that runs it."""

    def __init__(self, patcher, parser: ClothesParser):
        self.patcher = patcher
        self.parser = parser

    def ready(self) -> ClothesParser:
        """Load the parser onto its device through ComfyUI; return it."""
        mm.load_models_gpu([self.patcher], force_full_load=True)
        return self.parser


PARSER_LOADER = "TWGTM Parser Loader"


@loader_files("TWGTMParserLoader", PARSER_LOADER)
def _parser_files(values: dict) -> list:
    """The node's model file: a parser folder in models/twgtm/parsers/."""
    return [("parser_name", PARSERS, values.get("parser_name") or "", "segformer-b3-clothes")]


class TWGTMParserLoader(io.ComfyNode):
    """Loads a clothes parser folder from models/twgtm/parsers/."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        parsers = list_parsers()
        return io.Schema(
            node_id="TWGTMParserLoader",
            display_name=PARSER_LOADER,
            category=f"{CATEGORY}/loaders",
            description=(
                "Loads a SegFormer clothes parser (ATR labels, e.g. sayeed99/segformer_b3_clothes: config.json, "
                "model.safetensors, preprocessor_config.json) from a folder in models/twgtm/parsers/ for TWGTM Auto Mask. "
                "No downloads, no detectron2."
            ),
            inputs=[
                io.Combo.Input("parser_name", options=parsers, default=parsers[0] if parsers else None,
                               tooltip="A parser folder in models/twgtm/parsers/ (press 'r' after adding one)."),
                io.Combo.Input("device", options=["auto", "cpu"], default="auto",
                               tooltip="auto: ComfyUI's device (the GPU when there is one); cpu: always on the CPU."),
            ],
            outputs=[TWGTMParser.Output("parser", display_name="parser", tooltip="The clothes parser, for TWGTM Auto Mask.")],
            hidden=[io.Hidden.prompt, io.Hidden.unique_id],  # a missing parser's error names what other loaders lack
        )

    @classmethod
    def validate_inputs(cls, parser_name) -> bool:
        """Accept any name here, so a missing parser fails at run time with our message (where to put one)."""
        return True

    @classmethod
    def execute(cls, parser_name: str, device: str = "auto") -> io.NodeOutput:
        """Load the parser on the CPU and wrap it in a ModelPatcher."""
        folder = loader_paths("TWGTMParserLoader", dict(parser_name=parser_name), cls.hidden.prompt, cls.hidden.unique_id)
        loaded = load_parser(folder["parser_name"])
        load_device = torch.device("cpu") if device == "cpu" else mm.get_torch_device()
        offload = mm.unet_offload_device() if load_device.type != "cpu" else torch.device("cpu")
        patcher = comfy.model_patcher.ModelPatcher(ParserWeights(loaded.model), load_device=load_device,
                                                   offload_device=offload)
        return io.NodeOutput(LoadedParser(patcher, loaded))


class TWGTMAutoMask(io.ComfyNode):
    """The try-on agnostic mask or the try-off garment mask of each person, from the clothes parser."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """The node's inputs, outputs and texts."""
        return io.Schema(
            node_id="TWGTMAutoMask",
            display_name="TWGTM Auto Mask",
            category=f"{CATEGORY}/masks",
            description=(
                "Masks from a clothes parser. tryon: where a new garment of the category is drawn (the garment and the "
                "arms or legs it covers, filled and grown; face, hair, hands, feet and the other garments kept). tryoff: "
                "the garment to take off (tops: upper clothes and dresses; lower: skirts and trousers), as TryOffAnyone."
            ),
            inputs=[
                TWGTMParser.Input("parser", tooltip="The clothes parser from TWGTM Parser Loader."),
                io.Image.Input("image", tooltip="The person image(s); one mask per image, at its size."),
                io.Combo.Input("task", options=list(MASK_TASKS), default="tryon",
                               tooltip="tryon: the region to dress; tryoff: the garment to take off."),
                io.Combo.Input("category", options=GARMENT_CATEGORIES, default="upper",
                               tooltip="Which garment: upper (tops), lower (trousers, skirts) or dress."),
            ],
            outputs=[io.Mask.Output("mask", display_name="mask", tooltip="The mask, 1 = region to generate.")],
        )

    @classmethod
    def execute(cls, parser, image, task: str = "tryon", category: str = "upper") -> io.NodeOutput:
        """Parse each image and apply the mask rule."""
        if not isinstance(parser, LoadedParser):
            raise InputError(f"expected a TWGTM_PARSER from 'TWGTM Parser Loader', got {type(parser).__name__}")
        pixels = image_to_pixels(image, name="image")  # (B,3,H,W)
        mask = auto_mask(parser.ready(), pixels, task, category)  # (B,1,H,W)
        logger.info("TWGTM Auto Mask: %s %s mask of %d image(s)", category, task, pixels.shape[0])
        return io.NodeOutput(tensor_to_mask(mask.cpu()).to(mm.intermediate_device()))


AUTO_MASK_NODES = [TWGTMParserLoader, TWGTMAutoMask]
