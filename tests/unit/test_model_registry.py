"""The model registry: its data, the tables the README and docs/models.md show, the templates' model metadata, and
the presence checks of `python -m twgtm models list`."""
import hashlib
import json
import re
from pathlib import Path

import pytest

from twgtm.cli import main
from twgtm.errors import ConfigError
from twgtm.weights.model_files import FileStatus, entry_root, entry_status, file_status, summary
from twgtm.weights.registry import (ENTRIES, METRICS, PACK, PICKLE_SUFFIXES, REGISTRY, ModelFile, entry_for,
                                    fetch_command, get_entry, readme_table, template_models)

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- generated from twgtm/weights/registry.py (readme_table); a test keeps it equal -->\n", \
    "<!-- end of the generated table -->"


def _block(path: Path) -> str:
    text = path.read_text()
    assert BEGIN in text and END in text, f"{path.name} has no generated model table"
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def test_the_readme_and_docs_tables_are_the_registry():
    assert _block(ROOT / "README.md") == readme_table(), "README table is stale: paste readme_table()"
    assert _block(ROOT / "docs" / "models.md") == readme_table(metrics=True), \
        "docs/models.md table is stale: paste `python -m twgtm models list --markdown`"


def test_every_entry_is_complete_and_safe():
    assert len(REGISTRY) == len(ENTRIES)
    names = [e.comfy_name for e in ENTRIES if e.comfy_name]
    assert len(names) == len(set(names)), "two entries would share a ComfyUI name"
    for entry in ENTRIES:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", entry.name) and entry.title and entry.loaded_by, entry.name
        if not entry.on_hub:
            assert entry.how, f"{entry.name}: say how to get it"
            continue
        assert entry.licence and entry.licence_url.startswith("https://"), entry.name
        if "non-commercial" in entry.licence.lower() or entry.licence.startswith("other"):
            assert entry.accept, f"{entry.name}: a restrictive licence must be accepted"
        for file in entry.files:
            assert file.local.endswith((".safetensors", ".json")), (entry.name, file)
            assert file.pickle == file.path.endswith(PICKLE_SUFFIXES) and (not file.pickle or file.save_as)
            assert file.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", file.sha256), entry.name
            assert file.size is None or file.size > 0
    assert REGISTRY["sd15-inpainting-diffusers"].repos[1] == "booksforcharlie/stable-diffusion-inpainting"
    assert REGISTRY["flux1-dev"].gated and REGISTRY["catvton"].accept and not REGISTRY["sd-vae-ft-mse"].accept


def test_names_urls_and_commands():
    catvton = get_entry("CatVTON")
    assert catvton.comfy_name == "catvton/mix-48k-1024/attention/model.safetensors"
    assert catvton.url() == "https://huggingface.co/zhengchong/CatVTON/resolve/main/mix-48k-1024/attention/model.safetensors"
    assert entry_for("twgtm", "twgtm-demo.safetensors") is REGISTRY["demo"]
    assert entry_for("twgtm", "segformer_b3_clothes") is REGISTRY["segformer-b3-clothes"]
    assert entry_for("checkpoints", "my-own.safetensors") is None
    with pytest.raises(ConfigError, match="unknown model 'idm-vton'.*catvton"):
        get_entry("idm-vton")
    assert fetch_command(["sd-vae-ft-mse", "catvton", "catvton"], comfyui="/a b/ComfyUI") == \
        "python -m twgtm models fetch sd-vae-ft-mse catvton --comfyui '/a b/ComfyUI' --accept-licence"
    flux_ae = "https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/ae.safetensors"
    assert template_models("ae.safetensors") == [{"name": "ae.safetensors", "url": flux_ae, "directory": "vae"}]
    assert template_models("segformer_b3_clothes") is None  # a folder: the frontend's dialog takes single files
    assert template_models("twgtm-demo.safetensors") is None  # ships with the pack


def test_shipped_workflows_carry_the_frontends_model_metadata():
    """Every node that names a registry file carries its metadata (name, url, directory), and no other node does."""
    with_models = set()
    for path in sorted((ROOT / "workflows").glob("*.json")):
        for node in json.loads(path.read_text())["nodes"]:
            expected = [m for v in node["widgets_values"] if isinstance(v, str) for m in template_models(v) or []]
            assert node["properties"].get("models", []) == expected, (path.name, node["type"])
            if expected:
                with_models.add(path.stem)
                assert all(m["url"].startswith("https://huggingface.co/") and m["name"].endswith(".safetensors")
                           for m in expected)
    assert with_models == {"catvton_tryon", "tryoffanyone_tryoff", "public_roundtrip", "a2a_tryon", "a2a_modelfree",
                           "a2a_reconstruct", "a2a_layered", "a2a_roundtrip"}


def _file(tmp_path, data: bytes, **published):
    path = tmp_path / "x.safetensors"
    path.write_bytes(data)
    return path, ModelFile("x.safetensors", **published)


def test_presence_is_checked_by_size_and_sha256(tmp_path):
    data = b"\1" * 100
    sha = hashlib.sha256(data).hexdigest()
    path, file = _file(tmp_path, data, size=100, sha256=sha)
    assert file_status(file, path) == FileStatus(path, "ok", "size and sha256 checked")
    assert file_status(file, path, check_hash=False).detail == "size checked; sha256 not checked"
    assert file_status(ModelFile("x.safetensors", size=99), path).detail == "100 bytes, expected 99"
    wrong = file_status(ModelFile("x.safetensors", 100, "0" * 64), path)
    assert wrong.state == "wrong" and sha in wrong.detail and not wrong.present
    assert file_status(ModelFile("x.safetensors"), path).state == "unchecked"
    absent = tmp_path / "y.safetensors"
    assert file_status(file, absent).state == "missing"
    (tmp_path / ".y.safetensors.0123.part").write_bytes(data[:25])
    partial = file_status(file, absent)
    assert partial.state == "partial" and "25 bytes downloaded (25 %)" in partial.detail
    assert summary([partial, file_status(file, path)]) == "partial" and summary([]) == "-"


def test_where_entries_go(tmp_path):
    assert entry_root(REGISTRY["catvton"], comfyui=tmp_path) == tmp_path / "models" / "twgtm"
    assert entry_root(REGISTRY["catvton"], dest=tmp_path) == tmp_path
    assert entry_root(REGISTRY["catvton"]) is None
    assert entry_root(REGISTRY["demo"]).name == "weights" and REGISTRY["demo"].folder == PACK
    assert entry_root(REGISTRY["dinov2-base"], dest=tmp_path) == tmp_path and REGISTRY["dinov2-base"].folder == METRICS
    with pytest.raises(ConfigError, match="metric network, not a ComfyUI model: give --dest"):
        entry_root(REGISTRY["dinov2-base"], comfyui=tmp_path)
    parser = REGISTRY["segformer-b3-clothes"]
    assert [p for _, p in parser.targets(tmp_path / "models" / "twgtm")] == [
        tmp_path / "models/twgtm/parsers/segformer_b3_clothes" / n
        for n in ("config.json", "model.safetensors", "preprocessor_config.json")]
    assert summary(entry_status(parser, tmp_path)) == "missing"
    assert summary(entry_status(REGISTRY["demo"], entry_root(REGISTRY["demo"]))) == "present"


def test_models_list_command(tmp_path, capsys):
    (tmp_path / "models" / "vae").mkdir(parents=True)
    (tmp_path / "models" / "vae" / "vae-ft-mse-840000-ema-pruned.safetensors").write_bytes(b"\0" * 10)
    assert main(["models", "list", "--comfyui", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^sd-vae-ft-mse +0\.33 GB +no +wrong ", out, re.M), out
    assert "10 bytes, expected 334641190" in out and re.search(r"^catvton .* missing ", out, re.M)
    assert main(["models", "list", "--dest", str(tmp_path), "--json", "--quick"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["flux1-dev"]["gated"] and rows["flux1-dev"]["sha256"][0].startswith("4610115b")
    assert rows["segformer-b3-clothes"]["root"] == str(tmp_path) and rows["dinov2-base"]["present"] == "missing"
    assert main(["models", "list", "--markdown"]) == 0
    assert capsys.readouterr().out == readme_table(metrics=True)
