"""A template without its files, in a real ComfyUI 0.3.75: one run names every file the workflow lacks (the loader's
own and the other loaders'), each with its folder, and the exact `python -m twgtm models fetch` command; running
that command (against a hub on 127.0.0.1) brings them, and the template then runs."""
import json
import os
import shlex
import subprocess

import pytest

from ..support.hub_server import FakeHub
from ..support.profile_files import random_modules, write_base_file, write_catvton_file, write_tiny_parser, write_vae_file
from .comfy_env import REPO, ComfyServer, EnvSetupError
from .make_workflows import BASE_FILE, VAE_FILE
from .workflow_api import convert, widget_inputs

pytestmark = pytest.mark.comfy


class SessionComfy(ComfyServer):
    """A server whose base directory is its session folder: every model folder is its own (models/<folder>)."""

    def command(self) -> list[str]:
        return super().command() + ["--base-directory", str(self.root)]


@pytest.fixture(scope="module")
def server(comfyui_dir, tmp_path_factory):
    comfy = SessionComfy(comfyui_dir, tmp_path_factory.mktemp("comfyui_missing"))
    try:
        client = comfy.start()
    except EnvSetupError as exc:
        pytest.fail(f"Cannot start ComfyUI: {exc}", pytrace=False)
    yield client
    comfy.stop()


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
