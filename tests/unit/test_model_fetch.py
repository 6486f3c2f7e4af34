"""`twgtm.weights.fetch` with the real huggingface_hub client against a hub on 127.0.0.1 (tests/support/hub_server.py):
download and check, resume, checksum mismatch, missing file and gone repository (alternatives), gated files,
offline, pickles refused or converted, and the CLI end to end in a subprocess."""
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save

from twgtm.cli import main
from twgtm.errors import CheckpointError, ConfigError
from twgtm.weights.fetch import FetchError, fetch_entry
from twgtm.weights.model_files import entry_status, summary
from twgtm.weights.registry import ModelEntry, ModelFile

from ..support.hub_server import FakeHub

REPO = Path(__file__).resolve().parents[2]


def _weights(seed: int, n: int = 4096) -> bytes:
    """A small real safetensors file."""
    torch.manual_seed(seed)
    return save({"w": torch.randn(n), "b": torch.arange(7, dtype=torch.float32)})


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


WEIGHTS, CONFIG = _weights(0), b'{"model_type": "tiny"}\n'
CHUNK = 4096


def _entry(repos=("org/tiny",), sha=True, size=True, files=None, **kw) -> ModelEntry:
    files = files or (ModelFile("config.json"),
                      ModelFile("sub/model.safetensors", len(WEIGHTS) if size else None, _sha(WEIGHTS) if sha else None))
    return ModelEntry("tiny", "a tiny model", "tests", files, "checkpoints", "tiny", repos=tuple(repos), **kw)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A running fake hub, HF_ENDPOINT pointing at it, downloads on, no token."""
    from huggingface_hub import constants

    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", CHUNK)  # the client keeps what it wrote, chunk by chunk
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server


def test_fetch_downloads_checks_and_lands_in_place(hub, tmp_path):
    hub.add("org/tiny", {"config.json": CONFIG, "sub/model.safetensors": WEIGHTS})
    done = fetch_entry(_entry(), tmp_path)
    target = tmp_path / "tiny" / "sub" / "model.safetensors"
    assert [d.action for d in done] == ["downloaded", "downloaded"] and all(d.repo == "org/tiny" for d in done)
    assert target.read_bytes() == WEIGHTS and (tmp_path / "tiny" / "config.json").read_bytes() == CONFIG
    assert not list(tmp_path.rglob("*.part"))
    weights_gets = hub.gets("model.safetensors")
    assert len(weights_gets) == 1 and weights_gets[0]["host"].startswith("127.0.0.2")  # from the CDN host
    assert summary(entry_status(_entry(), tmp_path)) == "ok"
    before = len(hub.requests)
    assert [d.action for d in fetch_entry(_entry(), tmp_path)] == ["kept", "kept"]
    assert len(hub.requests) == before  # present and checked: nothing asked of the hub


def test_a_cut_connection_resumes_with_a_range_request(hub, tmp_path):
    hub.add("org/tiny", {"config.json": CONFIG, "sub/model.safetensors": WEIGHTS})
    hub.cut("model.safetensors", after=2 * CHUNK + 100)  # the client keeps the whole chunks it received
    fetch_entry(_entry(), tmp_path)
    assert (tmp_path / "tiny" / "sub" / "model.safetensors").read_bytes() == WEIGHTS
    assert [g["range"] for g in hub.gets("model.safetensors")] == [None, f"bytes={2 * CHUNK}-"]


def test_an_interrupted_run_leaves_a_partial_file_that_the_next_run_resumes(hub, tmp_path):
    hub.add("org/tiny", {"config.json": CONFIG, "sub/model.safetensors": WEIGHTS})
    hub.cut("model.safetensors", after=3 * CHUNK)
    hub.fail_ranges("model.safetensors")  # the retry in the same run fails too
    with pytest.raises(FetchError, match="run the same fetch again to resume"):
        fetch_entry(_entry(), tmp_path)
    target = tmp_path / "tiny" / "sub" / "model.safetensors"
    parts = list(target.parent.glob(".model.safetensors.*.part"))
    assert not target.exists() and len(parts) == 1 and parts[0].stat().st_size == 3 * CHUNK
    assert summary(entry_status(_entry(), tmp_path)) == "partial"
    hub.range_failures.clear()
    fetch_entry(_entry(), tmp_path)
    assert target.read_bytes() == WEIGHTS and not parts[0].exists()
    assert hub.gets("model.safetensors")[-1]["range"] == f"bytes={3 * CHUNK}-"


def test_a_checksum_mismatch_deletes_the_file_and_says_so(hub, tmp_path):
    other = _weights(1)
    hub.add("org/tiny", {"config.json": CONFIG, "sub/model.safetensors": other})
    entry = _entry(size=False)  # the published sha256 is WEIGHTS', the repository serves another file
    with pytest.raises(FetchError) as err:
        fetch_entry(entry, tmp_path)
    message = str(err.value)
    assert "checksum mismatch" in message and _sha(other) in message and _sha(WEIGHTS) in message
    assert "the published sha256" in message and "deleted" in message
    assert not list((tmp_path / "tiny").rglob("*.safetensors")) and not list(tmp_path.rglob("*.part"))


def test_without_a_published_sha256_the_hubs_own_is_checked(hub, tmp_path):
    hub.add("org/tiny", {"config.json": CONFIG, "sub/model.safetensors": WEIGHTS})
    hub.lie_sha("model.safetensors", "0" * 64)  # the bytes arrive, but not those the hub announced
    with pytest.raises(FetchError, match="the sha256 the hub reports is 0000"):
        fetch_entry(_entry(sha=False, size=False), tmp_path)
    assert not (tmp_path / "tiny" / "sub" / "model.safetensors").exists()


def test_a_wrong_file_already_there_is_fetched_again(hub, tmp_path):
    hub.add("org/tiny", {"config.json": CONFIG, "sub/model.safetensors": WEIGHTS})
    target = tmp_path / "tiny" / "sub" / "model.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(_weights(2))
    (tmp_path / "tiny" / "config.json").write_bytes(CONFIG)
    assert summary(entry_status(_entry(), tmp_path)) == "wrong"
    done = fetch_entry(_entry(), tmp_path)
    assert [d.action for d in done] == ["kept", "downloaded"] and target.read_bytes() == WEIGHTS


def test_a_gone_repository_or_missing_file_falls_back_to_the_next_repository(hub, tmp_path):
    hub.add("org/lacks-a-file", {"config.json": CONFIG})
    hub.add("mirror/tiny", {"config.json": CONFIG, "sub/model.safetensors": WEIGHTS})
    entry = _entry(repos=("org/deleted", "org/lacks-a-file", "mirror/tiny"))
    done = fetch_entry(entry, tmp_path)
    assert {d.repo for d in done} == {"mirror/tiny"}
    assert (tmp_path / "tiny" / "sub" / "model.safetensors").read_bytes() == WEIGHTS
    assert not hub.gets("lacks-a-file/resolve/main/config.json")  # nothing is taken from a repository that lacks a file


def test_when_no_repository_serves_the_error_lists_each_with_why(hub, tmp_path):
    hub.add("org/lacks-a-file", {"config.json": CONFIG})
    hub.add("org/old", {"config.json": CONFIG, "sub/model.safetensors": WEIGHTS}, revision="v1")
    with pytest.raises(FetchError) as err:
        fetch_entry(_entry(repos=("org/deleted", "org/lacks-a-file", "org/old")), tmp_path)
    message = str(err.value)
    assert "org/deleted: repository not found" in message
    assert "org/lacks-a-file: file not found (HTTP 404)" in message
    assert "org/old: no such revision" in message
    assert not (tmp_path / "tiny").exists()
    done = fetch_entry(_entry(repos=("org/old",)), tmp_path, revision="v1")  # --revision
    assert {d.action for d in done} == {"downloaded"}


def test_a_gated_file_needs_hf_token(hub, tmp_path, monkeypatch):
    hub.add("org/gated", {"config.json": CONFIG, "sub/model.safetensors": WEIGHTS}, gated_token="hf_secret")
    entry = _entry(repos=("org/gated",), gated=True)
    with pytest.raises(FetchError) as err:
        fetch_entry(entry, tmp_path)
    assert "access refused (HTTP 401)" in str(err.value) and "set HF_TOKEN" in str(err.value)
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(FetchError, match=r"access refused \(HTTP 403\) for your token \(HF_TOKEN\)"):
        fetch_entry(entry, tmp_path)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    fetch_entry(entry, tmp_path)
    assert (tmp_path / "tiny" / "sub" / "model.safetensors").read_bytes() == WEIGHTS
    assert hub.gets("resolve/main/config.json")[-1]["authorization"] == "Bearer hf_secret"


def test_offline_names_every_file_its_url_and_its_folder(hub, tmp_path, monkeypatch):
    hub.add("org/tiny", {"config.json": CONFIG, "sub/model.safetensors": WEIGHTS})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FetchError) as err:
        fetch_entry(_entry(), tmp_path)
    message = str(err.value)
    assert "HF_HUB_OFFLINE" in message and f"{hub.url}/org/tiny/resolve/main/sub/model.safetensors" in message
    assert str(tmp_path / "tiny" / "sub") in message and str(tmp_path / "tiny") in message
    assert not hub.requests


def test_licences_to_accept_and_entries_not_on_the_hub(hub, tmp_path):
    with pytest.raises(ConfigError, match="--accept-licence"):
        fetch_entry(_entry(accept=True, licence="NC"), tmp_path)
    with pytest.raises(FetchError, match="not on the Hugging Face hub: get it elsewhere"):
        fetch_entry(ModelEntry("x", "x", "tests", (ModelFile("a.pth"),), "metrics", how="get it elsewhere"), tmp_path)
    assert not hub.requests


def test_a_file_that_is_not_safetensors_is_refused(hub, tmp_path):
    page = b"<html>" + b"x" * 500 + b"</html>"
    hub.add("org/tiny", {"config.json": CONFIG, "sub/model.safetensors": page})
    with pytest.raises(FetchError, match="is not a safetensors file .*; it was deleted"):
        fetch_entry(_entry(sha=False, size=False), tmp_path)
    assert not list((tmp_path / "tiny").rglob("*.safetensors"))


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _pickle_entry() -> ModelEntry:
    return ModelEntry("tiny", "tiny", "tests", (ModelFile("pytorch_model.bin", save_as="model.safetensors"),),
                      "metrics", "clip", repos=("org/pickled",))


def test_a_published_pickle_is_refused_or_converted_with_weights_only(hub, tmp_path):
    state = {"vision.weight": torch.randn(3, 4), "vision.bias": torch.zeros(3)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    hub.add("org/pickled", {"pytorch_model.bin": buffer.getvalue()})
    with pytest.raises(FetchError, match="only as a pickle.*--convert"):
        fetch_entry(_pickle_entry(), tmp_path)
    assert not list(tmp_path.rglob("*.*"))
    done = fetch_entry(_pickle_entry(), tmp_path, convert=True)
    assert [d.action for d in done] == ["converted"]
    loaded = load_file(tmp_path / "clip" / "model.safetensors")
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob(".*"))


def test_a_pickle_with_code_is_never_run(hub, tmp_path):
    hub.add("org/pickled", {"pytorch_model.bin": pickle.dumps({"w": _Evil()}, protocol=2)})
    with pytest.raises(CheckpointError, match="weights_only"):
        fetch_entry(_pickle_entry(), tmp_path, convert=True)
    assert not list(tmp_path.rglob("*.safetensors")) and not list(tmp_path.rglob("*.part"))


# ------------------------------------------------------------------------------------------- the CLI
def _main(capsys, *args) -> tuple[int, str, str]:
    """`python -m twgtm models ARGS` in this process (the hub fixture set the HF_* settings)."""
    code = main(["models", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_fetches_registry_models_into_comfyui_folders(hub, tmp_path, capsys, caplog):
    """The real registry names against repositories of the same ids: the licence, the gone first base repository."""
    comfy = tmp_path / "ComfyUI"
    (comfy / "models").mkdir(parents=True)
    catvton = _weights(3)
    hub.add("zhengchong/CatVTON", {"mix-48k-1024/attention/model.safetensors": catvton})
    base_files = {"unet/config.json": b"{}", "unet/diffusion_pytorch_model.safetensors": _weights(4),
                  "vae/config.json": b"{}", "vae/diffusion_pytorch_model.safetensors": _weights(5),
                  "scheduler/scheduler_config.json": b"{}"}
    hub.add("booksforcharlie/stable-diffusion-inpainting", base_files)  # stable-diffusion-v1-5's is "gone" here
    code, out, err = _main(capsys, "fetch", "catvton", "sd15-inpainting-diffusers", "--comfyui", str(comfy))
    assert code == 2 and "CC BY-NC-SA 4.0" in out and "--accept-licence" in err and not hub.requests
    code, out, err = _main(capsys, "fetch", "catvton", "sd15-inpainting-diffusers", "--comfyui", str(comfy),
                           "--accept-licence")
    assert code == 0, err
    assert (comfy / "models/twgtm/catvton/mix-48k-1024/attention/model.safetensors").read_bytes() == catvton
    base = comfy / "models/diffusers/stable-diffusion-inpainting"
    assert all((base / name).read_bytes() == data for name, data in base_files.items())
    assert "stable-diffusion-v1-5/stable-diffusion-inpainting cannot serve it" in caplog.text
    assert "downloaded from booksforcharlie/stable-diffusion-inpainting" in out
    code, out, _ = _main(capsys, "list", "--comfyui", str(comfy), "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["catvton"]["present"] == "present" and rows["sd15-inpainting-diffusers"]["present"] == "present"
    assert rows["sd-vae-ft-mse"]["present"] == "missing" and rows["flux1-dev"]["gated"] is True
    code, _, err = _main(capsys, "fetch", "flux-ae", "--dest", str(tmp_path / "flux"), "--accept-licence")
    assert code == 2 and "FLUX.1-dev: repository not found" in err and "FLUX.1-schnell" in err


def _cli(args, hub, home, **env):
    """`python -m twgtm models ARGS` in a fresh process (the hub client reads HF_* at import), no stored token."""
    full = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    full.update({"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(home),
                 "HF_HUB_DISABLE_PROGRESS_BARS": "1", **env})
    return subprocess.run([sys.executable, "-m", "twgtm", "models", *args], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=180)


@pytest.mark.slow  # a Python process of its own
def test_cli_in_a_fresh_process_reads_the_hub_settings_from_the_environment(hub, tmp_path):
    hub.add("black-forest-labs/FLUX.1-dev", {"ae.safetensors": _weights(6)}, gated_token="hf_ok")
    home, dest = tmp_path / "hf", tmp_path / "models"
    offline = _cli(["fetch", "sd-vae-ft-mse", "--dest", str(dest)], hub, home, HF_HUB_OFFLINE="1")
    assert offline.returncode == 2 and "HF_HUB_OFFLINE is set" in offline.stderr
    assert "vae-ft-mse-840000-ema-pruned.safetensors" in offline.stderr and str(dest) in offline.stderr
    token = _cli(["fetch", "flux-ae", "--dest", str(dest), "--accept-licence"], hub, home, HF_TOKEN="hf_ok")
    assert token.returncode == 0, token.stderr
    assert (dest / "ae.safetensors").is_file() and "downloaded from black-forest-labs/FLUX.1-dev" in token.stdout
    assert hub.gets("ae.safetensors")[0]["authorization"] is None  # the token never leaves the hub for the CDN
