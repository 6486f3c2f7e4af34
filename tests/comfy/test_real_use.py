"""The pack in real use, in a real ComfyUI 0.3.75: templates, example images, masks, previews, memory, references."""
import asyncio
import copy
import io
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .graphs import DEMO, SIZE, add_node, node_id, ok, sizes, workflow
from .workflow_api import convert

pytestmark = pytest.mark.comfy

PACK = "comfyui-twgtm"
PREVIEW_IMAGE = 1  # server.BinaryEventTypes.PREVIEW_IMAGE


def _images(client, entry, node):
    """The images (as arrays) a node of a finished prompt saved."""
    out = []
    for image in entry["outputs"][node]["images"]:
        with Image.open(io.BytesIO(client.view(image))) as im:
            out.append(np.asarray(im.convert("L")))
    return out


def _save_mask(graph, source, slot, prefix):
    """MaskToImage -> SaveImage of a MASK output; returns the SaveImage node id."""
    shown = add_node(graph, "MaskToImage", mask=[source, slot])
    return add_node(graph, "SaveImage", images=[shown, 0], filename_prefix=prefix)


# ---------------------------------------------------------------------------------------------- templates
def test_every_workflow_is_a_template_with_a_thumbnail_and_its_images(server, pack_dir):
    names = sorted(p.stem for p in (pack_dir / "workflows").glob("*.json"))
    listed = server.get_json("/api/workflow_templates")
    assert sorted(listed[PACK]) == names
    log = server.server.log(10**9)
    assert "TWGTM: copied" in log and "example image(s) for the shipped workflows" in log
    for name in names:
        served = json.loads(server.request(f"/api/workflow_templates/{PACK}/{name}.json"))
        assert served == json.loads((pack_dir / "workflows" / f"{name}.json").read_text())
        thumbnail = server.request(f"/api/workflow_templates/{PACK}/{name}.jpg")
        assert thumbnail[:3] == b"\xff\xd8\xff", f"{name}.jpg is not a JPEG"
        with Image.open(io.BytesIO(thumbnail)) as im:
            assert im.format == "JPEG" and im.width >= 256
        for node in served["nodes"]:  # every image a workflow loads is in the fresh server's input folder
            if node["type"] == "LoadImage":
                image = node["widgets_values"][0]
                assert (pack_dir / "workflows" / "examples" / image).is_file(), (name, image)
                assert (server.input_dir / image).read_bytes() == (pack_dir / "workflows" / "examples" / image).read_bytes()


def test_one_workflow_per_node_family(server, pack_dir):
    """Every node of the pack (as the server lists it) appears in at least one shipped workflow."""
    used = set()
    for path in (pack_dir / "workflows").glob("*.json"):
        used |= {node["type"] for node in json.loads(path.read_text())["nodes"]}
    ours = {name for name, info in server.object_info().items() if info.get("python_module") == f"custom_nodes.{PACK}"}
    assert {"TWGTMSAMEncode", "TWGTMGarmentMask", "TWGTMConditioner", "TWGTMSampler", "TWGTMProfileLoader",
            "TWGTMAutoMask", "TWGTMA2AConditioning"} <= ours
    assert not ours - used, f"no shipped workflow uses {sorted(ours - used)}"


# ---------------------------------------------------------------------------------------------- masks
def test_masks_are_resized_grown_and_feathered_like_core(server, pack_dir):
    graph = convert(workflow(pack_dir, "tryon", "masks"), server.object_info())
    tryon = node_id(graph, "TWGTMTryOn")
    graph[tryon]["inputs"]["steps"] = 2
    half = add_node(graph, "ImageScale", image=[node_id(graph, "LoadImage", 2), 0], upscale_method="nearest-exact",
                    width=SIZE[0] // 2, height=SIZE[1] // 2, crop="disabled")
    graph[node_id(graph, "ImageToMask")]["inputs"]["image"] = [half, 0]  # a mask of half the person's size
    saved = _save_mask(graph, tryon, 1, "masks_used")
    areas = {}
    for grow in (0, 6, -6):
        run = copy.deepcopy(graph)
        run[tryon]["inputs"]["mask_grow"] = grow
        entry = server.run(run, timeout=120)
        ok(server, entry)
        used = _images(server, entry, saved)[0]
        assert used.shape == (SIZE[1], SIZE[0])  # resized to the person
        areas[grow] = int((used >= 128).sum())
    assert areas[6] > areas[0] > areas[-6] > 0
    with Image.open(pack_dir / "workflows" / "examples" / "person_a_mask.png") as im:
        small = np.asarray(im.convert("RGB"))[1::2, 1::2, 0] >= 128  # what the half-size mask holds (nearest-exact)
    expected = np.kron(small, np.ones((2, 2), dtype=bool))  # nearest back to the person's size: the same blocks
    assert areas[0] == int(expected.sum())

    feathered = copy.deepcopy(graph)  # a soft edge: repaint blends through it, the generated region stays
    feathered[tryon]["inputs"].update(mask_feather=8, repaint=True)
    ok(server, server.run(feathered, timeout=120))


def test_an_empty_or_mis_sized_mask_names_the_input(server, pack_dir):
    graph = convert(workflow(pack_dir, "tryon", "badmask"), server.object_info())
    tryon = node_id(graph, "TWGTMTryOn")
    graph[tryon]["inputs"].update(steps=2, mask_resize=False)
    small = add_node(graph, "SolidMask", value=1.0, width=40, height=30)
    graph[tryon]["inputs"]["mask"] = [small, 0]
    entry = server.run(graph, timeout=60)
    assert entry["status"]["status_str"] == "error"
    error = next(data for kind, data in entry["status"]["messages"] if kind == "execution_error")
    assert error["node_type"] == "TWGTMTryOn" and error["node_id"] == tryon
    assert "input 'mask' is 30x40" in error["exception_message"], error["exception_message"]


# ---------------------------------------------------------------------------------------------- previews
async def _run_collecting_previews(client, prompt, timeout=120):
    """Queue `prompt` over a websocket of the client's id; return (history entry, preview JPEG payloads)."""
    import aiohttp  # one of ComfyUI's requirements: installed by the server fixture, after collection

    previews = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{client.url}/ws?clientId={client.client_id}") as ws:
            prompt_id = await asyncio.to_thread(client.queue, prompt)
            async with asyncio.timeout(timeout):
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.BINARY:
                        event, image_type = struct.unpack(">II", message.data[:8])
                        if event == PREVIEW_IMAGE and image_type == 1:
                            previews.append(message.data[8:])
                    elif message.type == aiohttp.WSMsgType.TEXT:
                        data = json.loads(message.data)
                        if data["type"] in ("executing", "execution_error", "execution_interrupted") and \
                                data["data"].get("prompt_id") == prompt_id and data["data"].get("node") is None:
                            break
                        if data["type"] in ("execution_error", "execution_success") and \
                                data["data"].get("prompt_id") == prompt_id:
                            break
    return await asyncio.to_thread(client.wait, prompt_id, 30), previews


@pytest.mark.parametrize("latents", ["fitted", "sd15"])
def test_sampler_sends_live_previews(server, pack_dir, latents):
    """--preview-method auto: one JPEG per step; the demo-like VAE through the fitted map, SD latents through core's."""
    from twgtm.model.network import build_model
    from twgtm.weights.checkpoint import save_checkpoint

    graph = convert(workflow(pack_dir, "tryon", f"preview_{latents}"), server.object_info())
    tryon = node_id(graph, "TWGTMTryOn")
    graph[tryon]["inputs"].update(steps=4, seed=5)
    if latents == "sd15":
        from twgtm.model.config import get_preset

        config = get_preset("tiny")
        config = config.replace(vae={**config.vae, "scaling_factor": 0.18215})
        save_checkpoint(build_model(config), server.models_dir / "tiny-sd-latents.safetensors")
        graph[node_id(graph, "TWGTMModelLoader")]["inputs"]["ckpt_name"] = "tiny-sd-latents.safetensors"
    entry, previews = asyncio.run(_run_collecting_previews(server, graph))
    ok(server, entry)
    assert len(previews) == 4
    for payload in previews:
        with Image.open(io.BytesIO(payload)) as im:
            assert im.format == "JPEG" and im.width >= 1 and im.height > im.width  # the person half: portrait
    assert re.search(r"TWGTM Try-On: 1 item\(s\) done; .* 4 preview\(s\)", server.server.log(10**9))


def test_working_resolution_sets_the_sampled_size_and_keeps_the_output_size(server, pack_dir):
    """working_width / working_height: the canvas is sampled at that size (the activation memory reserved through
    comfy.model_management grows with its area), the output keeps the person's size; 0 is the model's own."""
    graph = convert(workflow(pack_dir, "tryon", "working"), server.object_info())
    tryon = node_id(graph, "TWGTMTryOn")
    graph[tryon]["inputs"].update(steps=1, seed=2)
    reserved = {}
    for side in (0, 2):
        run = copy.deepcopy(graph)
        if side:
            run[tryon]["inputs"].update(working_width=SIZE[0] * side, working_height=SIZE[1] * side)
        before = len(server.server.log(10**9))
        entry = server.run(run, timeout=120)
        ok(server, entry)
        assert sizes(server, entry) == [SIZE]  # the person's size either way
        lines = re.findall(r"TWGTM: reserving ([\d.]+) MB for activations", server.server.log(10**9)[before:])
        assert len(lines) == 1, lines
        reserved[side] = float(lines[0])
    assert 3.0 < reserved[2] / reserved[0] < 5.0, reserved  # twice the sides: about four times the activations


# ---------------------------------------------------------------------------------------------- references, memory
def test_sam_encode_feeds_the_sampler_and_a_wrong_image_is_named(server, pack_dir):
    graph = convert(workflow(pack_dir, "conditioner_sampler", "reference"), server.object_info())
    graph[node_id(graph, "TWGTMSampler")]["inputs"]["steps"] = 2
    entry = server.run(graph, timeout=120)
    ok(server, entry)
    log = server.server.log(10**9)
    encode = re.findall(r"TWGTM SAM Encode: \d+ item\(s\) done; encoder cache on this model: (\d+) hit\(s\), (\d+) miss", log)
    sample = re.findall(r"TWGTM Sampler \(tryon\): \d+ item\(s\) done; encoder cache on this model: (\d+) hit\(s\), "
                        r"(\d+) miss", log)
    assert encode and sample and sample[-1] == encode[-1]  # the sampler ran no encoder: the counts did not move
    wrong = copy.deepcopy(graph)  # SAM Encode of the person, but a try-on's reference half is the garment
    wrong[node_id(wrong, "TWGTMSAMEncode")]["inputs"]["image"] = [node_id(wrong, "LoadImage", 0), 0]
    entry = server.run(wrong, timeout=120)
    assert entry["status"]["status_str"] == "error"
    assert "another image than this job's garment" in server.error_message(entry)
    assert "TWGTM: reserving" in log and "for activations on cpu" in log  # asked through comfy.model_management


_IN_PROCESS = r"""
import asyncio, json, sys
sys.argv = sys.argv[:1]
import comfy.options
comfy.options.enable_args_parsing(False)
import comfy.cli_args
comfy.cli_args.args.cpu = True
import nodes, torch
assert asyncio.run(nodes.load_custom_node(sys.stdin.readline().strip()))
memory = next(m for k, m in sys.modules.items() if k.endswith(".nodes.memory") and hasattr(m, "placement_for"))
runtime = next(m for k, m in sys.modules.items() if k.endswith(".nodes.runtime") and hasattr(m, "wrap_model"))
network = next(m for k, m in sys.modules.items() if k.endswith(".twgtm.model.network"))
pack = next(m for k, m in sys.modules.items() if k.endswith(".twgtm") and hasattr(m, "load_model"))
placement_mod = next(m for k, m in sys.modules.items() if k.endswith(".twgtm.sampling.placement"))
import comfy.model_management as mm
report = {}
cuda = torch.device("cuda")
for state in ("NORMAL_VRAM", "LOW_VRAM", "NO_VRAM"):
    mm.vram_state = getattr(mm.VRAMState, state)
    report[state] = [memory.parts_one_at_a_time(cuda), memory.parts_one_at_a_time(torch.device("cpu"))]
model = network.build_model("tiny")
hooks = memory.ComfyMemoryHooks(None, in_parts=True)
placed = memory.placement_for(model, hooks, cuda, torch.device("cpu"))
report["placement"] = [type(placed).__name__, str(placed.device), str(placed.offload_device)]
mm.vram_state = mm.VRAMState.LOW_VRAM
profile_model = network.build_model(network.get_preset("tiny").replace(profile="catvton"))
profiled = runtime.wrap_model(pack.ProfilePipeline(profile_model), cuda)  # its own sampler: loaded whole even so
twgtm_low = runtime.wrap_model(pack.TWGTMPipeline(network.build_model("tiny")), cuda)
report["lowvram_in_parts"] = [profiled.hooks.in_parts, type(profiled.pipeline.placement).__name__,
                              twgtm_low.hooks.in_parts, type(twgtm_low.pipeline.placement).__name__]
mm.vram_state = mm.VRAMState.DISABLED
loaded = runtime.wrap_model(pack.TWGTMPipeline(model), torch.device("cpu"))
report["cpu_placement"] = type(loaded.pipeline.placement).__name__
report["cache_device"] = str(loaded.pipeline.encoder_cache.store_device)
report["vae_dtype_cpu"] = str(memory.vae_dtype_for(torch.device("cpu")))
comfy.cli_args.args.bf16_vae = True
report["vae_dtype_bf16_flag"] = str(memory.vae_dtype_for(torch.device("cpu")))
bf16 = network.build_model("tiny").to(torch.bfloat16)
comfy.cli_args.args.bf16_vae = False
loaded = runtime.wrap_model(pack.TWGTMPipeline(bf16), torch.device("cpu"))
report["bf16_model_vae"] = str(loaded.pipeline.model.vae.dtype)
report["bf16_model_unet"] = str(next(loaded.pipeline.model.unet.parameters()).dtype)
image = torch.rand(1, 3, 64, 48) * 2 - 1
mask = torch.zeros(1, 1, 64, 48); mask[:, :, 16:48, 8:40] = 1
out = loaded.pipeline.tryon(image, image, mask, steps=1)
report["bf16_model_runs"] = bool(torch.isfinite(out.images).all())
print(json.dumps(report))
"""


def test_memory_modes_vae_dtype_and_cache_device_in_process(comfyui_dir, pack_dir, tmp_path):
    """--lowvram / --novram choose part-by-part loading; the VAE dtype follows core's rule; the cache stays off the GPU."""
    from .comfy_env import make_session_dirs

    link = make_session_dirs(tmp_path, pack_dir)["custom_nodes"] / PACK
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-c", _IN_PROCESS], cwd=comfyui_dir, input=f"{link}\n", capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["NORMAL_VRAM"] == [False, False]
    assert report["LOW_VRAM"] == [True, False] and report["NO_VRAM"] == [True, False]
    assert report["placement"] == ["SequentialPlacement", "cuda", "cpu"]
    assert report["lowvram_in_parts"] == [False, "Placement", True, "SequentialPlacement"]
    assert report["cpu_placement"] == "Placement" and report["cache_device"] == "cpu"
    assert report["vae_dtype_cpu"] == "torch.float32" and report["vae_dtype_bf16_flag"] == "torch.bfloat16"
    assert report["bf16_model_vae"] == "torch.float32" and report["bf16_model_unet"] == "torch.bfloat16"
    assert report["bf16_model_runs"]


# ---------------------------------------------------------------------------------------------- every input, bad values
TEST_PACK = Path(__file__).resolve().parents[1] / "support" / "comfy_channels_node"
SWEEP_PARSER = "tiny_parser"
FAULTS = ("nan", "inf", "negative", "huge", "channels", "tiny", "bomb")  # TestBadTensor's
# What ComfyUI itself makes of a value before any node sees it (docs/inputs.md): a BOOLEAN input takes the
# truth of any value, a STRING input the text of any value.
COERCED = {("BOOLEAN", "abc"), ("STRING", 12)}
# Nodes whose good graph needs weights this server has not (their runs are tested where they are): swept
# for refusals only.
NO_GOOD_GRAPH = {"TWGTMA2APatchFlux": "FLUX.1-dev (test_a2a_workflows)", "TWGTMA2AConditioning": "FLUX.1-dev",
                 "TWGTMA2ACropBack": "FLUX.1-dev", "TWGTMProfileLoader": "CatVTON files (test_profile_nodes)"}


@pytest.fixture(scope="module")
def sweep_server(comfyui_dir, tmp_path_factory):
    """A server of its own with the test pack (bad tensors, placeholder values), a tiny checkpoint and parser."""
    from twgtm.model.network import build_model
    from twgtm.weights.checkpoint import save_checkpoint

    from ..support.profile_files import write_tiny_parser
    from .comfy_env import ComfyServer

    server = ComfyServer(comfyui_dir, tmp_path_factory.mktemp("comfyui-sweep"))
    (server.dirs["custom_nodes"] / "twgtm_test_nodes").symlink_to(TEST_PACK, target_is_directory=True)
    client = server.start()
    save_checkpoint(build_model("tiny"), client.models_dir / DEMO)
    write_tiny_parser(client.models_dir / "parsers" / SWEEP_PARSER, "Upper-clothes")
    try:
        yield client
    finally:
        server.stop()


def _inputs(info: dict, node_type: str) -> dict:
    """name -> (io type, options) of every input of a node, required first."""
    spec = info[node_type]["input"]
    return {name: (declared[0], declared[1] if len(declared) > 1 else {})
            for section in ("required", "optional") for name, declared in spec.get(section, {}).items()}


def _widget_default(io_type, options: dict):
    if io_type in ("INT", "FLOAT", "BOOLEAN", "STRING"):
        return options.get("default", {"INT": 0, "FLOAT": 0.0, "BOOLEAN": False, "STRING": ""}[io_type])
    choices = io_type if isinstance(io_type, list) else options.get("options", [])
    return options.get("default") if options.get("default") is not None else (choices[0] if choices else "missing")


class SweepGraph:
    """API graphs in which one node of the pack gets all its inputs (good ones) and feeds an output node."""

    GOOD = {"steps": 1, "ckpt_name": DEMO, "device": "cpu", "dtype": "fp32", "parser_name": SWEEP_PARSER,
            "width": 256, "height": 256, "joint_encoding": False}  # pixel_space VAE: one panel at a time

    def __init__(self, info: dict):
        self.info = info

    @staticmethod
    def add(graph: dict, class_type: str, **inputs) -> str:
        """Add a node (to an empty graph too); its id."""
        node = str(max(map(int, graph), default=0) + 1)
        graph[node] = {"class_type": class_type, "inputs": inputs}
        return node

    def node(self, graph: dict, node_type: str, **links) -> str:
        """Add `node_type` with every widget at its good value (a link input from `links` or a source of its type)."""
        inputs = {}
        for name, (io_type, options) in _inputs(self.info, node_type).items():
            if name in links:
                inputs[name] = links[name]
            elif isinstance(io_type, list) or io_type in ("COMBO", "INT", "FLOAT", "BOOLEAN", "STRING"):
                inputs[name] = self.GOOD.get(name, _widget_default(io_type, options))
            elif name in self.info[node_type]["input"].get("required", {}) or io_type in ("IMAGE", "MASK"):
                inputs[name] = self.source(graph, io_type, name)
        return self.add(graph, node_type, **inputs)

    def source(self, graph: dict, io_type: str, name: str = "") -> list:
        """A link producing a good value of `io_type` (the garment image for inputs named so)."""
        if io_type == "IMAGE":
            return [self.add(graph, "LoadImage", image="garment_upper.png" if "garment" in name else "person_a.png"), 0]
        if io_type == "MASK":
            image = self.add(graph, "LoadImage", image="person_a_mask.png")
            return [self.add(graph, "ImageToMask", image=[image, 0], channel="red"), 0]
        if io_type == "TWGTM_MODEL":
            return [self.node(graph, "TWGTMModelLoader"), 0]
        if io_type == "TWGTM_REFERENCE":
            return [self.node(graph, "TWGTMSAMEncode", image=self.source(graph, "IMAGE", "garment")), 0]
        if io_type == "TWGTM_CONDITIONING":
            return [self.node(graph, "TWGTMConditioner"), 0]
        if io_type == "TWGTM_PARSER":
            return [self.node(graph, "TWGTMParserLoader"), 0]
        if io_type in ("MODEL", "CONDITIONING"):  # FLUX weights are not here: the test pack's placeholders
            return [self.add(graph, "TestPlaceholder"), 0 if io_type == "MODEL" else 1]
        if io_type == "VAE":
            return [self.add(graph, "VAELoader", vae_name="pixel_space"), 0]
        if io_type == "A2A_LAYOUT":
            return [self.node(graph, "TWGTMA2AConditioning"), 2]
        raise AssertionError(f"no source for input type {io_type}: teach the sweep one")

    def output(self, graph: dict, node: str, node_type: str) -> None:
        """Connect one output of `node` to an output node, through nodes that use it."""
        outputs = self.info[node_type]["output"]
        for wanted in ("IMAGE", "MASK", "TWGTM_REFERENCE", "TWGTM_MODEL", "TWGTM_CONDITIONING", "TWGTM_PARSER",
                       "A2A_LAYOUT", "MODEL"):
            if wanted in outputs:
                link = [node, outputs.index(wanted)]
                break
        else:
            raise AssertionError(f"{node_type} has no output the sweep can use: {outputs}")
        if wanted == "TWGTM_MODEL":
            link = [self.node(graph, "TWGTMSAMEncode", model=link), 0]
        if wanted in ("TWGTM_MODEL", "TWGTM_REFERENCE"):
            link = [self.node(graph, "TWGTMGarmentMask", reference=link), 0]
        elif wanted == "TWGTM_CONDITIONING":
            link = [self.node(graph, "TWGTMSampler", conditioning=link), 0]
        elif wanted == "TWGTM_PARSER":
            link = [self.node(graph, "TWGTMAutoMask", parser=link), 0]
        elif wanted == "A2A_LAYOUT":
            link = [self.node(graph, "TWGTMA2ACropBack", layout=link), 0]
        elif wanted == "MODEL":
            latent = self.add(graph, "EmptyLatentImage", width=64, height=64, batch_size=1)
            cond = self.source(graph, "CONDITIONING")
            sampled = self.add(graph, "KSampler", model=link, seed=0, steps=1, cfg=1.0, sampler_name="euler",
                               scheduler="simple", positive=cond, negative=cond, latent_image=[latent, 0], denoise=1.0)
            link = [self.add(graph, "VAEDecode", samples=[sampled, 0], vae=self.source(graph, "VAE")), 0]
        if wanted in ("MASK", "TWGTM_MODEL", "TWGTM_REFERENCE", "TWGTM_PARSER"):
            link = [self.add(graph, "MaskToImage", mask=link), 0]
        self.add(graph, "PreviewImage", images=link)

    def build(self, node_type: str) -> tuple[dict, str]:
        """A good graph around one `node_type` node; (graph, its id)."""
        graph = {}
        node = self.node(graph, node_type)
        self.output(graph, node, node_type)
        return graph, node


def _bad_values(io_type, options: dict) -> list:
    """Values no input of this declaration may take silently: out of vocabulary, NaN / inf, out of range, wrong type."""
    if isinstance(io_type, list) or io_type == "COMBO":
        return ["no-such-value", "", 12, "../../etc/passwd", "/etc/passwd"]
    if io_type in ("INT", "FLOAT"):
        low, high = options.get("min"), options.get("max")
        values = [float("nan"), float("inf"), "abc", -2 ** 70 if low is None else low - 1,
                  2 ** 70 if high is None else high + 1]
        return values + ([float("-inf")] if io_type == "FLOAT" else [])
    if io_type == "BOOLEAN":
        return ["abc"]
    if io_type == "STRING":
        return ["x" * 5000, "a\x00b", 12]
    return []  # IMAGE / MASK: TestBadTensor's faults; other types: a link of another type


def _prompts(sweep: SweepGraph, info: dict):
    """(graph, node id, node type, input, value) for every bad value of every input of every node of the pack."""
    ours = sorted(name for name, spec in info.items() if spec.get("python_module") == f"custom_nodes.{PACK}")
    coerced_once = set()  # ComfyUI's coercions make a picture: one of each is enough
    for node_type in ours:
        base, node = sweep.build(node_type)
        yield base, node, node_type, None, "good"
        for name, (io_type, options) in _inputs(info, node_type).items():
            coerced = {value for kind, value in COERCED if kind == io_type and (node_type in NO_GOOD_GRAPH or
                                                                               (kind, value) in coerced_once)}
            if node_type not in NO_GOOD_GRAPH:
                coerced_once |= {(kind, value) for kind, value in COERCED if kind == io_type}
            if io_type in ("IMAGE", "MASK"):
                for fault in FAULTS:
                    graph = copy.deepcopy(base)
                    bad = add_node(graph, "TestBadTensor", image=sweep.source(graph, "IMAGE"), fault=fault)
                    graph[node]["inputs"][name] = [bad, 0 if io_type == "IMAGE" else 1]
                    yield graph, node, node_type, name, fault
            elif not (isinstance(io_type, list) or io_type in ("COMBO", "INT", "FLOAT", "BOOLEAN", "STRING")):
                graph = copy.deepcopy(base)  # a link of another type
                graph[node]["inputs"][name] = sweep.source(graph, "MASK" if io_type != "MASK" else "IMAGE")
                yield graph, node, node_type, name, "wrong link type"
            for value in (v for v in _bad_values(io_type, options) if v not in coerced):
                graph = copy.deepcopy(base)
                graph[node]["inputs"][name] = value
                yield graph, node, node_type, name, value


def test_every_input_of_every_node_refuses_bad_values_or_coerces_them_as_documented(sweep_server):
    """Each node's inputs, read from the server's /object_info (a new input is swept without a change here), get
    out-of-vocabulary, NaN / inf, out-of-range, wrong-type values, broken tensors and wrongly typed links: each
    prompt ends in ComfyUI's rejection naming the input, or our error naming the node's input, or (only for a
    documented coercion) in a picture. The good graph of every node (checked first) runs."""
    from .comfy_env import PromptRejected

    client = sweep_server
    info = client.object_info()
    queued, rejected, failures = [], 0, []
    for graph, node, node_type, name, value in _prompts(SweepGraph(info), info):
        try:
            queued.append((client.queue(graph), node, node_type, name, value, graph))
        except PromptRejected as refusal:  # ComfyUI's own validation (types, min / max of INT and FLOAT)
            rejected += 1
            errors = refusal.body.get("node_errors", {}).get(node, {}).get("errors", [])
            named = [e for e in errors if e.get("extra_info", {}).get("input_name") == name or name in e.get("details", "")]
            if name is None or not named:
                failures.append((node_type, name, repr(value), "rejected without naming the input", refusal.body))
    swept = {entry[2] for entry in queued}
    assert {"TWGTMTryOn", "TWGTMModelLoader", "TWGTMA2AConditioning", "TWGTMAutoMask"} <= swept
    assert len(queued) + rejected > 500, (len(queued), rejected)
    for prompt_id, node, node_type, name, value, graph in queued:
        entry = client.wait(prompt_id, timeout=300)
        status = entry["status"]["status_str"]
        if name is None:  # the good graph
            if status != "success" and node_type not in NO_GOOD_GRAPH:
                failures.append((node_type, "good graph failed", client.error_message(entry)))
            continue
        if status == "success":
            io_type = _inputs(info, node_type)[name][0]
            if (io_type, value) not in COERCED:
                failures.append((node_type, name, repr(value)[:40], "a picture, not an error"))
            continue
        error = next(data for kind, data in entry["status"]["messages"] if kind == "execution_error")
        if error["node_type"] != node_type or name not in error["exception_message"]:
            failures.append((node_type, name, repr(value)[:40], error["node_type"], error["exception_message"][:300]))
    assert not failures, "\n".join(map(str, failures[:40])) + f"\n({len(failures)} in all)"
