"""The shipped templates name the files they need: ComfyUI 0.3.75's frontend, in headless Chromium, opens each
template on an install without those files and shows its missing-models dialog; its rows must be the model
registry's files (download URL and folder) and the README table's."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from twgtm.weights.registry import template_models

from .comfy_env import REPO, ComfyServer, EnvSetupError

pytestmark = [pytest.mark.comfy, pytest.mark.browser]
WORKFLOWS = sorted(p.stem for p in (REPO / "workflows").glob("*.json"))
SCRIPT = Path(__file__).resolve().parent / "browser" / "missing_models.mjs"


@pytest.fixture(scope="module")
def bare_server(comfyui_dir, tmp_path_factory):
    """A ComfyUI server of its own with empty model folders (the pack's demo model only)."""
    server = ComfyServer(comfyui_dir, tmp_path_factory.mktemp("comfyui_bare"))
    try:
        client = server.start()
    except EnvSetupError as exc:
        pytest.fail(f"Cannot start ComfyUI: {exc}", pytrace=False)
    yield client
    server.stop()


def _dialogs(server, browser_env, names) -> dict:
    """{template: rows of its missing-models dialog, or None when none opened}, read in the frontend."""
    chromium, modules = browser_env
    proc = subprocess.run([shutil.which("node"), str(SCRIPT), "--url", server.url, "--templates", ",".join(names),
                           "--chromium", str(chromium)], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin:/usr/local/bin", "NODE_PATH": str(modules), "HOME": "/tmp"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _expected(name: str) -> list[dict]:
    """The rows the registry says the template's dialog shows on an empty install (one per URL, in node order)."""
    workflow = json.loads((REPO / "workflows" / f"{name}.json").read_text())
    rows = {}
    for node in workflow["nodes"]:
        for value in node["widgets_values"]:
            for model in (template_models(value) if isinstance(value, str) else None) or []:
                rows.setdefault(model["url"], {"label": f"{model['directory']} / {model['name']}", "url": model["url"],
                                               "error": None})
    return list(rows.values())


def test_each_template_names_its_missing_files_in_the_frontend_dialog(bare_server, browser_env):
    shown = _dialogs(bare_server, browser_env, WORKFLOWS)
    readme = (REPO / "README.md").read_text()
    with_downloads = set()
    for name in WORKFLOWS:
        expected = _expected(name)
        if not expected:  # the TWGTM templates run on the shipped demo model
            assert shown[name] is None, (name, shown[name])
            continue
        with_downloads.add(name)
        assert sorted(shown[name], key=lambda r: r["url"]) == sorted(expected, key=lambda r: r["url"]), name
        for row in shown[name]:
            directory, file = row["label"].split(" / ", 1)
            assert f"`models/{directory}/{file}`" in readme, row  # the README's table puts it there too
    assert with_downloads == {"catvton_tryon", "tryoffanyone_tryoff", "public_roundtrip", "a2a_tryon", "a2a_modelfree",
                              "a2a_reconstruct", "a2a_layered", "a2a_roundtrip"}
    assert [r["label"] for r in shown["catvton_tryon"]] == [
        "twgtm / catvton/mix-48k-1024/attention/model.safetensors", "checkpoints / sd-v1-5-inpainting.safetensors",
        "vae / vae-ft-mse-840000-ema-pruned.safetensors"]
    assert {r["label"] for r in shown["a2a_tryon"]} == {
        "diffusion_models / flux1-dev.safetensors", "loras / dev_lora_any2any_alltasks.safetensors",
        "text_encoders / clip_l.safetensors", "text_encoders / t5xxl_fp16.safetensors", "vae / ae.safetensors"}


def test_files_already_there_are_left_out_of_the_dialog(bare_server, browser_env):
    weights = bare_server.models_dir / "catvton" / "mix-48k-1024" / "attention" / "model.safetensors"
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"\0" * 16)  # the frontend checks names only
    (bare_server.vae_dir / "vae-ft-mse-840000-ema-pruned.safetensors").write_bytes(b"\0" * 16)
    try:
        shown = _dialogs(bare_server, browser_env, ["catvton_tryon"])
    finally:
        shutil.rmtree(bare_server.models_dir / "catvton")
        (bare_server.vae_dir / "vae-ft-mse-840000-ema-pruned.safetensors").unlink()
    assert [r["label"] for r in shown["catvton_tryon"]] == ["checkpoints / sd-v1-5-inpainting.safetensors"]
