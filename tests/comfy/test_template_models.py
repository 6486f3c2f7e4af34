"""The shipped templates without their files, in a real ComfyUI 0.3.75.

- The frontend (headless Chromium) opens each template and shows its missing-models dialog; its rows must be the
  model registry's files (download URL and folder) and the README table's.
- One run names every file the workflow lacks (the loader's own and the other loaders'), each with its folder, and
  the exact `python -m twgtm models fetch` command; that command (against a hub on 127.0.0.1) brings them, and the
  template then runs.
"""
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from twgtm.weights.registry import template_models

from ..support.hub_server import FakeHub
from ..support.profile_files import random_modules, write_base_file, write_catvton_file, write_tiny_parser, write_vae_file
from .comfy_env import REPO, SCREENSHOT_DIR, ComfyServer, EnvSetupError
from .make_workflows import BASE_FILE, VAE_FILE
from .workflow_api import convert, widget_inputs

pytestmark = pytest.mark.comfy
WORKFLOWS = sorted(p.stem for p in (REPO / "workflows").glob("*.json"))
SCRIPT = Path(__file__).resolve().parent / "browser" / "missing_models.mjs"


class SessionComfy(ComfyServer):
    """A server whose base directory is its session folder: every model folder is its own (models/<folder>)."""

    def command(self) -> list[str]:
        return super().command() + ["--base-directory", str(self.root)]


def _start(comfyui_dir, root):
    server = SessionComfy(comfyui_dir, root)
    try:
        return server, server.start()
    except EnvSetupError as exc:
        pytest.fail(f"Cannot start ComfyUI: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def bare_server(comfyui_dir, tmp_path_factory):
    """A ComfyUI server of its own with empty model folders (the pack's demo model only)."""
    server, client = _start(comfyui_dir, tmp_path_factory.mktemp("comfyui_bare"))
    yield client
    server.stop()


def _dialogs(server, browser_env, names, screenshots=None) -> dict:
    """{template: rows of its missing-models dialog, or None when none opened}, read in the frontend."""
    chromium, modules = browser_env
    extra = ["--screenshot", str(screenshots)] if screenshots else []
    proc = subprocess.run([shutil.which("node"), str(SCRIPT), "--url", server.url, "--templates", ",".join(names),
                           "--chromium", str(chromium), *extra], capture_output=True, text=True, timeout=300,
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


@pytest.mark.browser
def test_each_template_names_its_missing_files_in_the_frontend_dialog(bare_server, browser_env):
    shown = _dialogs(bare_server, browser_env, WORKFLOWS, SCREENSHOT_DIR)  # missing_models_<template>.png
    extra = os.environ.get("TWGTM_SCREENSHOT_DIR")
    if extra:  # docs/models.md shows the CatVTON template's dialog
        shutil.copy(SCREENSHOT_DIR / "missing_models_catvton_tryon.png", extra)
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


@pytest.mark.browser
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


# ---------------------------------------------------------------------------- errors that fetch
def _catvton_prompt(server) -> dict:
    """The shipped catvton_tryon template as an API prompt, with 1 sampling step."""
    info = server.object_info()
    workflow = json.loads((REPO / "workflows" / "catvton_tryon.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "TWGTMTryOn":
            names = [name for name, _spec, taken, _upload in widget_inputs(info["TWGTMTryOn"]) for _ in range(taken)]
            node["widgets_values"][names.index("steps")] = 1
    return convert(workflow, info)


def _error(server, prompt) -> str:
    entry = server.run(prompt, timeout=300)
    assert entry["status"]["status_str"] == "error", entry["status"]
    return server.error_message(entry)


def _command(message: str) -> list[str]:
    """The `cd PACK && PYTHON -m twgtm models fetch ...` line of an error, as (cwd, argv)."""
    line = next(l.strip() for l in message.splitlines() if "-m twgtm models fetch" in l)
    cd, command = line.split(" && ", 1)
    return shlex.split(cd)[1], shlex.split(command)


@pytest.fixture(scope="module")
def server(comfyui_dir, tmp_path_factory):
    """Another server of its own: the test below fills its model folders."""
    server, client = _start(comfyui_dir, tmp_path_factory.mktemp("comfyui_missing"))
    yield client
    server.stop()


def test_one_run_names_every_missing_file_and_the_command_that_fetches_them(server, tmp_path):
    prompt = _catvton_prompt(server)
    models = server.server.root / "models"
    message = _error(server, prompt)
    assert "CheckpointError" in message and "model files are missing" in message, message
    for line in (f"input 'weights' (CatVTON try-on weights (mix-48k-1024, the attn1 layers)): "
                 f"'catvton/mix-48k-1024/attention/model.safetensors' not found in {models / 'twgtm'}{os.sep}",
                 f"input 'base_model' (SD1.5-inpainting base, one original-format file): '{BASE_FILE}' not found in "
                 f"{models / 'checkpoints'}{os.sep}",
                 f"input 'vae' (sd-vae-ft-mse VAE (both projects use it; optional)): '{VAE_FILE}' not found in "
                 f"{models / 'vae'}{os.sep}",
                 f"input 'parser_name' (SegFormer clothes parser (automatic masks)): 'segformer_b3_clothes' not found "
                 f"in {models / 'twgtm' / 'parsers'}{os.sep}"):
        assert line in message, (line, message)
    cwd, argv = _command(message)
    assert cwd == str(REPO) and argv[1:] == ["-m", "twgtm", "models", "fetch", *argv[5:9], "--comfyui",
                                             str(server.server.root), "--accept-licence"]
    assert sorted(argv[5:9]) == ["catvton", "sd-vae-ft-mse", "sd15-inpainting", "segformer-b3-clothes"]
    assert "read the licences first: catvton: CC BY-NC-SA 4.0 (non-commercial)" in message

    # The user has the base and the VAE already: the next run names the two files still missing.
    unet, vae = random_modules(21)
    write_base_file(models / "checkpoints" / BASE_FILE, unet, vae)
    write_vae_file(models / "vae" / VAE_FILE, random_modules(22)[1])
    message = _error(server, prompt)
    assert "base_model" not in message and "input 'vae'" not in message, message
    cwd, argv = _command(message)
    assert sorted(argv[5:7]) == ["catvton", "segformer-b3-clothes"] and argv[7:] == [
        "--comfyui", str(server.server.root), "--accept-licence"]

    # That exact command, against a hub that serves the two files, brings them where the nodes look.
    write_catvton_file(tmp_path / "catvton.safetensors")
    write_tiny_parser(tmp_path / "parser", "Upper-clothes")
    with FakeHub() as hub:
        hub.add("zhengchong/CatVTON", {"mix-48k-1024/attention/model.safetensors":
                                       (tmp_path / "catvton.safetensors").read_bytes()})
        hub.add("sayeed99/segformer_b3_clothes", {p.name: p.read_bytes() for p in (tmp_path / "parser").iterdir()})
        env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
        env.update(HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_PROGRESS_BARS="1")
        fetched = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert (models / "twgtm" / "catvton" / "mix-48k-1024" / "attention" / "model.safetensors").is_file()
    assert sorted(p.name for p in (models / "twgtm" / "parsers" / "segformer_b3_clothes").iterdir()) == [
        "config.json", "model.safetensors", "preprocessor_config.json"]
    entry = server.run(prompt, timeout=600)
    assert entry["status"]["status_str"] == "success", server.error_message(entry)
    assert len(server.output_images(entry)) == 2
