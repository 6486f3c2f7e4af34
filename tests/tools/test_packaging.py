"""Packaging: pyproject and requirements.txt agree, torch is never pinned for users, ComfyUI metadata."""
import re
import tomllib
from pathlib import Path

from PIL import Image

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
    for needed in ("diffusers", "transformers", "timm", "safetensors", "accelerate", "numpy", "pillow"):
        assert needed in deps
    assert _names(project["optional-dependencies"]["torch"]) == {"torch": "torch", "torchvision": "torchvision"}


def test_requirements_never_touch_torch():
    """ComfyUI's own torch build is used: requirements.txt names no torch package, not even in a comment."""
    text = (ROOT / "requirements.txt").read_text()
    assert "torch" not in text.lower()
    assert not any(name.startswith("torch") for name in _names(text.splitlines()))
    assert not (ROOT / "install.py").exists()


def test_comfy_registry_metadata():
    """The fields the ComfyUI registry reads (docs.comfy.org/registry/specifications)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project, comfy = data["project"], data["tool"]["comfy"]
    for key in ("PublisherId", "DisplayName", "Icon", "requires-comfyui"):
        assert comfy.get(key), key
    version = tuple(int(x) for x in re.findall(r"\d+", comfy["requires-comfyui"])[:3])
    assert version >= (0, 3, 75)
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"]) and project["license"] == {"file": "LICENSE"}
    repository = project["urls"]["Repository"]
    for key in ("Repository", "Documentation", "Bug Tracker"):
        assert project["urls"][key].startswith("https://"), key
    assert project["urls"]["Bug Tracker"] == f"{repository}/issues"
    classifiers = project["classifiers"]
    assert "Operating System :: OS Independent" in classifiers
    assert "Environment :: GPU :: NVIDIA CUDA" in classifiers
    assert "License :: OSI Approved :: MIT License" in classifiers and "MIT License" in (ROOT / "LICENSE").read_text()
    owner_repo = repository.removeprefix("https://github.com/")
    prefix = f"https://raw.githubusercontent.com/{owner_repo}/main/"
    assert comfy["Icon"].startswith(prefix), comfy["Icon"]
    icon = ROOT / comfy["Icon"].removeprefix(prefix)
    assert icon.is_file(), f"the Icon URL points to {icon}, which is not in the repository"
    with Image.open(icon) as im:
        assert im.format == "PNG" and im.width == im.height and im.width <= 400


def test_readme_opens_with_comfyui_use():
    """A Manager user finds the install lines, the model folders and the templates first; the two commands, one
    Python example and the links after; the screenshots are on the ComfyUI page."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250, "the README is the five-minute front page: details go to docs/"
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Use it in ComfyUI", "## A fresh machine: two commands", "## Python", "## Catalogue jobs",
                        "## More"], headings
    assert re.search(r"!\[[^\]]*\]\(docs/demo_grid\.png\)", text.split("## ")[0])  # one picture: the demo grid
    assert (ROOT / "docs" / "demo_grid.png").is_file()
    comfy = text[text.index("## Use it in ComfyUI"):text.index(headings[1])]
    subheadings = [line for line in comfy.splitlines() if line.startswith("### ")]
    assert subheadings == ["### Install", "### Which model file goes in which folder", "### Getting the model files",
                           "### Templates", "### The nodes"], subheadings
    for needed in ("ComfyUI Manager", "comfy node install comfyui-twgtm", "git clone", "pip install -r",
                   r"python_embeded\python.exe -m pip install -r", "models/twgtm/", "models/checkpoints/",
                   "workflows/examples/", "/api/workflow_templates"):
        assert needed in comfy, needed
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert f"comfy node install {name}" in comfy
    for workflow in (ROOT / "workflows").glob("*.json"):
        assert workflow.name in comfy, f"{workflow.name} is not described in the README's ComfyUI section"
    page = (ROOT / "docs" / "comfyui.md").read_text()
    shots = re.findall(r"\]\((screenshots/[^)]+\.png)\)", page)
    assert len(shots) >= 4 and all((ROOT / "docs" / shot).is_file() for shot in shots), shots
    assert text.count("```python") == 1  # one Python example
    for page in ("comfyui", "command-line", "real-photos", "any2anytryon", "training", "evaluation", "performance",
                 "design", "testing"):
        assert f"](docs/{page}.md)" in text, page
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test"):  # the README's two commands
        assert f"make {target}" in text and re.search(rf"^{target}: ", makefile, re.M), target
