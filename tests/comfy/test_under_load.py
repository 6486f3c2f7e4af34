"""Under load: 31 prompts, good and bad mixed, on one real ComfyUI server of its own.

Every good prompt succeeds; every bad one ends in the history with an error that names the node and
the input (a cancelled run: the node); the server keeps serving; its memory afterwards is back within
10 % of the warm level (resident set of the server process, read from /proc).
"""
import copy
import time
from pathlib import Path

import pytest

from .comfy_env import ComfyServer
from .graphs import EXAMPLES, SIZE, add_node, node_id, workflow
from .workflow_api import convert

pytestmark = pytest.mark.comfy

CHANNELS_PACK = Path(__file__).resolve().parents[1] / "support" / "comfy_channels_node"
STEPS = 2


def _rss(pid: int) -> int:
    """Resident set size of a process in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@pytest.fixture(scope="module")
def own_server(comfyui_dir, tmp_path_factory):
    """A fresh server with the TWGTM pack, a test pack whose node outputs 2-channel images, and a tiny checkpoint."""
    from twgtm.model.network import build_model
    from twgtm.weights.checkpoint import save_checkpoint

    server = ComfyServer(comfyui_dir, tmp_path_factory.mktemp("comfyui-load"))
    (server.dirs["custom_nodes"] / "channels_test_node").symlink_to(CHANNELS_PACK, target_is_directory=True)
    client = server.start()
    save_checkpoint(build_model("tiny"), client.models_dir / "twgtm-demo.safetensors")
    (client.models_dir / "junk.safetensors").write_bytes(b"\x00" * 64)
    try:
        yield client
    finally:
        server.stop()


def _graphs(client, pack_dir):
    """The shipped workflows as API prompts with few steps."""
    info = client.object_info()
    graphs = {}
    for name in ("tryon", "tryoff", "roundtrip", "layered_tryon", "garment_mask", "conditioner_sampler", "mask_to_bbox"):
        graph = convert(workflow(pack_dir, name, f"load_{name}"), info)
        for node in graph.values():
            if "steps" in node["inputs"]:
                node["inputs"]["steps"] = STEPS
        graphs[name] = graph
    return graphs


def _bad(graphs):
    """(prompt, node type, text its error must hold) for each kind of bad prompt."""
    bad = []
    g = copy.deepcopy(graphs["tryon"])  # a mask of another size, resize off
    tryon = node_id(g, "TWGTMTryOn")
    g[tryon]["inputs"].update(mask=[add_node(g, "SolidMask", value=1.0, width=50, height=70), 0], mask_resize=False)
    bad.append((g, "TWGTMTryOn", "input 'mask' is 70x50"))
    g = copy.deepcopy(graphs["tryon"])  # an empty mask
    g[node_id(g, "TWGTMTryOn")]["inputs"]["mask"] = [add_node(g, "SolidMask", value=0.0, width=SIZE[0], height=SIZE[1]), 0]
    bad.append((g, "TWGTMTryOn", "input 'mask': item(s) [0] are empty"))
    g = copy.deepcopy(graphs["roundtrip"])  # an empty mask_b
    g[node_id(g, "TWGTMRoundTrip")]["inputs"]["mask_b"] = [add_node(g, "SolidMask", value=0.0, width=SIZE[0],
                                                                   height=SIZE[1]), 0]
    bad.append((g, "TWGTMRoundTrip", "input 'mask_b': item(s) [0] are empty"))
    for name in ("no_such_model.safetensors", "junk.safetensors"):  # a missing and a corrupt weights file
        g = copy.deepcopy(graphs["tryoff"])
        g[node_id(g, "TWGTMModelLoader")]["inputs"]["ckpt_name"] = name
        bad.append((g, "TWGTMModelLoader", "input 'ckpt_name'" if name.startswith("no_such") else name))
    for target, field in (("TWGTMTryOn", "garment"), ("TWGTMTryOff", "person")):  # 5-channel images
        g = copy.deepcopy(graphs["tryon" if target == "TWGTMTryOn" else "tryoff"])
        node = node_id(g, target)
        g[node]["inputs"][field] = [add_node(g, "TestImageChannels", image=g[node]["inputs"][field], channels=5), 0]
        bad.append((g, target, f"input '{field}': expected a ComfyUI IMAGE"))
    g = copy.deepcopy(graphs["conditioner_sampler"])  # SAM Encode of the person where the garment belongs
    g[node_id(g, "TWGTMSAMEncode")]["inputs"]["image"] = [node_id(g, "LoadImage", 0), 0]
    bad.append((g, "TWGTMSampler", "another image than this job's garment"))
    g = copy.deepcopy(graphs["tryon"])  # 2 persons, 3 masks
    tryon = node_id(g, "TWGTMTryOn")
    person = g[tryon]["inputs"]["person"]
    g[tryon]["inputs"]["person"] = [add_node(g, "ImageBatch", image1=person, image2=person), 0]
    masks = g[node_id(g, "ImageToMask")]["inputs"]["image"]
    two = add_node(g, "ImageBatch", image1=masks, image2=masks)
    g[node_id(g, "ImageToMask")]["inputs"]["image"] = [add_node(g, "ImageBatch", image1=[two, 0], image2=masks), 0]
    bad.append((g, "TWGTMTryOn", "input 'mask': has a batch of 3 but 2 is needed"))
    return bad


def _error(entry):
    """(node type, message) of a failed history entry's execution error, or of its interruption."""
    for kind, data in entry["status"]["messages"]:
        if kind == "execution_error":
            return data["node_type"], f"{data['exception_type']}: {data['exception_message']}"
        if kind == "execution_interrupted":
            return data["node_type"], "interrupted"
    return None, ""


def test_thirty_mixed_prompts_keep_the_server_serving_and_memory_flat(own_server, pack_dir):
    client = own_server
    for name in EXAMPLES:
        assert (client.input_dir / name).is_file()
    graphs = _graphs(client, pack_dir)
    for graph in graphs.values():  # warm-up: one of each, then the warm memory level
        entry = client.run(graph, timeout=180)
        assert entry["status"]["status_str"] == "success", client.error_message(entry)
    time.sleep(1.0)
    warm = _rss(client.server.proc.pid)

    bad = _bad(graphs)
    good = []
    for seed in range(3):
        for name, graph in graphs.items():
            g = copy.deepcopy(graph)
            for node in g.values():
                if "seed" in node["inputs"]:
                    node["inputs"]["seed"] = 1000 + seed
            good.append(g)
    long_run = copy.deepcopy(graphs["tryon"])
    long_run[node_id(long_run, "TWGTMTryOn")]["inputs"].update(steps=400, seed=77)
    queued = []  # (prompt_id, expectation) in queue order: good and bad interleaved
    kinds = [("good", g) for g in good] + [("bad", b) for b in bad]
    order = sorted(range(len(kinds)), key=lambda i: (i * 7) % len(kinds))
    for position, i in enumerate(order):
        kind, item = kinds[i]
        if position == len(order) // 2:
            queued.append((client.queue(long_run), ("cancelled", "TWGTMTryOn", "interrupted")))
        if kind == "good":
            queued.append((client.queue(item), ("good",)))
        else:
            graph, node_type, text = item
            queued.append((client.queue(graph), ("bad", node_type, text)))
    assert len(queued) >= 30

    cancel_id = next(pid for pid, exp in queued if exp[0] == "cancelled")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # interrupt the long run once it runs
        running = [item[1] for item in client.get_json("/queue")["queue_running"]]
        if cancel_id in running:
            time.sleep(0.5)
            client.post_json("/interrupt", {})
            break
        time.sleep(0.05)
    failures = []
    for prompt_id, expectation in queued:
        entry = client.wait(prompt_id, timeout=600)
        status = entry["status"]["status_str"]
        if expectation[0] == "good":
            if status != "success":
                failures.append(("good prompt failed", client.error_message(entry)))
            continue
        node_type, message = _error(entry)
        if status != "error" or node_type != expectation[1] or expectation[2] not in message:
            failures.append((expectation, status, node_type, message[:400]))
    assert not failures, failures

    assert client.get_json("/system_stats")["system"]  # still serving
    entry = client.run(graphs["tryon"], timeout=180)
    assert entry["status"]["status_str"] == "success"
    time.sleep(1.0)
    after = _rss(client.server.proc.pid)
    assert abs(after - warm) <= 0.10 * warm, f"RSS warm {warm / 2**20:.0f} MiB, after the run {after / 2**20:.0f} MiB"
    print(f"{len(queued)} prompts; RSS warm {warm / 2**20:.0f} MiB, after {after / 2**20:.0f} MiB")
