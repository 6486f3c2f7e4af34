"""Write the shipped Any2AnyTryon workflows (workflows/a2a_*.json) with make_workflows.build and a server's /object_info.

    python -m tests.comfy.make_a2a_workflows      # starts a ComfyUI server for /object_info

Each workflow is what a FLUX.1-dev user runs: UNETLoader (flux1-dev) -> LoraLoaderModelOnly
(Any2AnyTryon LoRA) -> Any2AnyTryon Patch Flux -> ModelSamplingFlux (width/height from the canvas)
-> KSampler (cfg 1, euler, simple); DualCLIPLoader (clip_l + t5xxl, flux) -> CLIPTextEncode ->
FluxGuidance 3.5 -> Any2AnyTryon Conditioning (with the images and the VAE); VAEDecode -> Crop Back.
"""
from __future__ import annotations

import json
from pathlib import Path

from twgtm.weights.registry import REGISTRY

from .make_workflows import WORKFLOW_DIR, build

# File names as the model registry (and the README's table) places them.
UNET, LORA, VAE = (REGISTRY[n].comfy_name for n in ("flux1-dev", "a2a-alltasks", "flux-ae"))
CLIP_L, T5 = REGISTRY["clip-l"].comfy_name, REGISTRY["t5xxl-fp16"].comfy_name
PROMPTS = {
    "tryon": "<MODEL> a person with fashion garment. <GARMENT> a garment. <TARGET> model with fashion garment",
    "modelfree": "<GARMENT> The image shows a fashion garment. <TARGET> a smiling person with the garment in white background",
    "reconstruct": "<MODEL> a person with fashion garment. <TARGET> the same garment laid flat.",
    "layered": "<MODEL> a person wearing a t-shirt. <GARMENT> an outer garment. <TARGET> model wearing the outer "
               "garment over the t-shirt",
}
SAMPLER = {"seed": 42, "steps": 30, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}
TARGET = {"width": 384, "height": 512, "joint_encoding": True}


def _loaders(x=20):
    return [
        {"id": 1, "type": "UNETLoader", "pos": [x, 30], "size": [300, 90], "widgets": {"unet_name": UNET}},
        {"id": 2, "type": "LoraLoaderModelOnly", "pos": [x, 160], "size": [300, 90],
         "widgets": {"lora_name": LORA, "strength_model": 1.0}},
        {"id": 3, "type": "DualCLIPLoader", "pos": [x, 290], "size": [300, 130],
         "widgets": {"clip_name1": CLIP_L, "clip_name2": T5, "type": "flux"}},
        {"id": 4, "type": "VAELoader", "pos": [x, 460], "size": [300, 60], "widgets": {"vae_name": VAE}},
    ]


def _pass(base, task, images, x, y, title=""):
    """The nodes and links of one Any2AnyTryon pass; node ids start at `base`. `images`: input name -> (node, slot)."""
    p, c, s, z, ks, dec, crop = (base + i for i in range(7))
    guid = base + 7
    nodes = [
        {"id": p, "type": "CLIPTextEncode", "pos": [x, y], "size": [360, 150], "widgets": {"text": PROMPTS[task]},
         "title": f"{title}prompt ({task})"},
        {"id": guid, "type": "FluxGuidance", "pos": [x, y + 190], "size": [300, 60], "widgets": {"guidance": 3.5}},
        {"id": c, "type": "TWGTMA2AConditioning", "pos": [x + 400, y], "size": [320, 230],
         "widgets": {"task": task, **TARGET}, "title": f"{title}Any2AnyTryon Conditioning"},
        {"id": s, "type": "TWGTMA2APatchFlux", "pos": [x + 400, y + 270], "size": [300, 60], "widgets": {"task": task}},
        {"id": z, "type": "ModelSamplingFlux", "pos": [x + 760, y + 270], "size": [300, 130],
         "widgets": {"max_shift": 1.15, "base_shift": 0.5}},
        {"id": base + 8, "type": "ConditioningZeroOut", "pos": [x + 760, y + 440], "size": [260, 30]},
        {"id": ks, "type": "KSampler", "pos": [x + 760, y], "size": [300, 260], "widgets": SAMPLER},
        {"id": dec, "type": "VAEDecode", "pos": [x + 1100, y], "size": [220, 50]},
        {"id": crop, "type": "TWGTMA2ACropBack", "pos": [x + 1100, y + 90], "size": [260, 50]},
    ]
    links = [(3, 0, p, "clip"), (p, 0, guid, "conditioning"), (guid, 0, c, "conditioning"), (4, 0, c, "vae"),
             (2, 0, s, "model"), (s, 0, z, "model"), (c, 3, z, "width"), (c, 4, z, "height"),
             (z, 0, ks, "model"), (c, 0, ks, "positive"), (c, 0, base + 8, "conditioning"), (base + 8, 0, ks, "negative"),
             (c, 1, ks, "latent_image"), (ks, 0, dec, "samples"), (4, 0, dec, "vae"), (dec, 0, crop, "image"),
             (c, 2, crop, "layout")]
    links += [(node, slot, c, name) for name, (node, slot) in images.items()]
    return nodes, links, crop


def _load(node_id, name, pos):
    return {"id": node_id, "type": "LoadImage", "pos": pos, "widgets": {"image": name}, "size": [260, 330]}


def _save(node_id, prefix, pos):
    return {"id": node_id, "type": "SaveImage", "pos": pos, "widgets": {"filename_prefix": prefix}, "size": [300, 330]}


def _single(task, images):
    loads = [_load(90 + i, name, [20, 560 + 360 * i]) for i, (name, _) in enumerate(images)]
    nodes, links, crop = _pass(10, task, {inp: (90 + i, 0) for i, (_, inp) in enumerate(images)}, 360, 30)
    return {"nodes": _loaders() + loads + nodes + [_save(99, f"a2a_{task}", [1820, 30])],
            "links": [(1, 0, 2, "model")] + links + [(crop, 0, 99, "images")]}


def _round_trip():
    """Reconstruct person A's garment, then dress person B in it: the TWGTM round trip's counterpart."""
    loads = [_load(90, "person_a.png", [20, 560]), _load(91, "person_b.png", [20, 920])]
    first, links1, crop1 = _pass(10, "reconstruct", {"model_image": (90, 0)}, 360, 30, "1: ")
    second, links2, crop2 = _pass(30, "tryon", {"model_image": (91, 0), "garment": (crop1, 0)}, 360, 560, "2: ")
    saves = [_save(98, "a2a_roundtrip_garment", [1820, 30]), _save(99, "a2a_roundtrip", [1820, 560])]
    return {"nodes": _loaders() + loads + first + second + saves,
            "links": [(1, 0, 2, "model")] + links1 + links2 + [(crop1, 0, 98, "images"), (crop2, 0, 99, "images")]}


SPECS = {
    "a2a_tryon": _single("tryon", [("person_a.png", "model_image"), ("garment_upper.png", "garment")]),
    "a2a_modelfree": _single("modelfree", [("garment_lower.png", "garment")]),
    "a2a_reconstruct": _single("reconstruct", [("person_b.png", "model_image")]),
    "a2a_layered": _single("layered", [("person_a.png", "model_image"), ("garment_upper.png", "garment")]),
    "a2a_roundtrip": _round_trip(),
}


def write_all(object_info: dict, out_dir: Path = WORKFLOW_DIR) -> list[Path]:
    """Write every workflow in SPECS; return the paths."""
    paths = []
    for name, spec in SPECS.items():
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(build(spec, object_info), indent=2) + "\n")
        paths.append(path)
    return paths


def main(argv=None) -> None:
    """Start a ComfyUI server with the pack, read /object_info, write the Any2AnyTryon workflows."""
    import argparse
    import tempfile

    from .comfy_env import ComfyServer, ensure_comfyui

    argparse.ArgumentParser(prog="python -m tests.comfy.make_a2a_workflows", description=main.__doc__).parse_args(argv)

    server = ComfyServer(ensure_comfyui(), Path(tempfile.mkdtemp(prefix="twgtm-a2a-wf-")))
    client = server.start()
    try:
        for path in write_all(client.object_info()):
            print(path)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
