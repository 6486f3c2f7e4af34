"""Packaging: pyproject and requirements.txt agree, torch is never pinned for users, ComfyUI metadata."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _names(lines):
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        name = re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower()
        out[name] = line
    return out


def test_requirements_mirror_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = _names(project["dependencies"])
    reqs = _names((ROOT / "requirements.txt").read_text().splitlines())
    assert deps == reqs
    for needed in ("torch", "diffusers", "transformers", "timm", "safetensors", "accelerate", "numpy", "pillow"):
        assert needed in deps


def test_user_torch_is_never_replaced():
    """torch/torchvision carry no version bound, so any installed build satisfies them."""
    reqs = _names((ROOT / "requirements.txt").read_text().splitlines())
    assert reqs["torch"] == "torch" and reqs["torchvision"] == "torchvision"
    assert not (ROOT / "install.py").exists()


def test_comfy_metadata():
    comfy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["comfy"]
    for key in ("PublisherId", "DisplayName", "Icon", "requires-comfyui"):
        assert comfy.get(key), key
    version = tuple(int(x) for x in re.findall(r"\d+", comfy["requires-comfyui"])[:3])
    assert version >= (0, 3, 75)
