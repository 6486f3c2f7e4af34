"""Every model file the pack knows: where it is published, where it goes, its licence (pure data).

One `ModelEntry` per thing a user gets: a single file (CatVTON's weights, the VAE, a FLUX part) or a
folder of files (the clothes parser, a diffusers base). For each: the Hugging Face repositories that
publish it (the first, then alternatives tried in order when one is gone), the revision, the path of
each file in the repository with its size and sha256 where they are published, the ComfyUI model
folder it goes in (`folder`, plus `subfolder`), the node input or CLI option that reads it, its licence
and whether the hub gates it.

Sizes and sha256 values are those published for the exact file (the hub's LFS object id is the sha256),
found in at least two independent public sources; where they could not be checked they are None and
the download is checked against the sha256 the hub itself reports for the file instead.

Used by `python -m twgtm models list|fetch` (`twgtm.weights.fetch`), the README's model table
(`readme_table`), the model metadata of the shipped workflows (`template_models`) and the
missing-file errors of the CLI and the nodes (`fetch_command`, `entry_for`). No torch, no ComfyUI.
"""
from __future__ import annotations

import os
import posixpath
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..errors import ConfigError

HUB = "https://huggingface.co"
PACK = "pack"  # `folder` of files shipped inside the pack (its weights/ folder)
METRICS = "metrics"  # `folder` of metric networks: the metrics weights folder (`python -m twgtm.eval --weights-dir`)
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl", ".pickle")
NON_COMMERCIAL = "non-commercial"


@dataclass(frozen=True)
class ModelFile:
    """One file of an entry: its path in the repository, published size and sha256 (None: not known)."""

    path: str
    size: int | None = None
    sha256: str | None = None
    save_as: str | None = None  # name on disk when it differs from `path` (a pickle converted to safetensors)

    @property
    def local(self) -> str:
        """The file's path below the entry's folder."""
        return self.save_as or self.path

    @property
    def pickle(self) -> bool:
        """Whether the published file is a pickle (read only after an explicit conversion)."""
        return self.path.lower().endswith(PICKLE_SUFFIXES)


@dataclass(frozen=True)
class ModelEntry:
    """Something a user downloads once: one file or a folder of files, from one of `repos`."""

    name: str  # the `python -m twgtm models fetch` name
    title: str
    group: str  # "TWGTM", "CatVTON / TryOffAnyone", "Any2AnyTryon (FLUX.1-dev)", "metrics"
    files: tuple[ModelFile, ...]
    folder: str  # ComfyUI model folder ("twgtm", "checkpoints", "vae", ...), PACK or METRICS
    subfolder: str = ""  # below `folder`
    repos: tuple[str, ...] = ()  # Hugging Face repositories, the first preferred; empty: not on the hub
    revision: str = "main"
    licence: str = ""
    licence_url: str = ""
    accept: bool = False  # the licence must be accepted (--accept-licence): non-commercial or restrictive
    gated: bool = False  # the hub asks for an account that accepted the terms (HF_TOKEN)
    loaded_by: str = ""  # the node input and CLI option that read it
    widget: str | None = None  # the value a node's list shows for it (None: the file's path below `folder`)
    how: str = ""  # for entries not on the hub: how to get them instead

    @property
    def on_hub(self) -> bool:
        """Whether `python -m twgtm models fetch` can download it."""
        return bool(self.repos)

    @property
    def comfy_folder(self) -> str | None:
        """The ComfyUI model folder whose list shows it (the pack's own files are listed under "twgtm")."""
        return None if self.folder == METRICS else "twgtm" if self.folder == PACK else self.folder

    @property
    def comfy_name(self) -> str | None:
        """The name a ComfyUI node's list shows (relative to the model folder); None when no node lists it."""
        if self.comfy_folder is None or not self.files:
            return None
        if self.widget is not None:
            return self.widget or None
        return posixpath.join(self.subfolder, self.files[0].local) if self.subfolder else self.files[0].local

    @property
    def location(self) -> str:
        """Where it goes, e.g. `models/twgtm/catvton/mix-48k-1024/attention/`."""
        if self.folder == PACK:
            base = "custom_nodes/comfyui-twgtm/weights"
        elif self.folder == METRICS:
            base = "<metrics weights folder>"
        else:
            base = f"models/{self.folder}"
        return posixpath.join(base, self.subfolder) + "/" if self.subfolder else base + "/"

    def url(self, file: ModelFile | None = None, repo: str | None = None, revision: str | None = None,
            endpoint: str = HUB) -> str:
        """The download URL of a file (default: the first) in a repository (default: the first)."""
        file = file or self.files[0]
        revision = quote(revision or self.revision, safe="")  # a branch such as refs/pr/3
        return f"{endpoint.rstrip('/')}/{repo or self.repos[0]}/resolve/{revision}/{quote(file.path)}"

    def target_dir(self, root: str | Path) -> Path:
        """The entry's folder below `root` (a ComfyUI model folder or a --dest folder)."""
        return Path(root, *self.subfolder.split("/")) if self.subfolder else Path(root)

    def targets(self, root: str | Path) -> list[tuple[ModelFile, Path]]:
        """(file, path on disk) of every file below `root`."""
        folder = self.target_dir(root)
        return [(f, folder.joinpath(*f.local.split("/"))) for f in self.files]

    @property
    def size(self) -> int | None:
        """Total published size in bytes (None when a size is not known)."""
        sizes = [f.size for f in self.files]
        return None if not sizes or any(s is None for s in sizes) else sum(sizes)


FLUX_DEV_LICENCE = ("FLUX.1 [dev] Non-Commercial License", f"{HUB}/black-forest-labs/FLUX.1-dev/blob/main/LICENSE.md")
A2A_LOADED_BY = "core LoraLoaderModelOnly (lora_name); CLI --lora"
SD15_LICENCE = ("CreativeML OpenRAIL-M", f"{HUB}/spaces/CompVis/stable-diffusion-license")

ENTRIES: tuple[ModelEntry, ...] = (
    # ---- TWGTM
    ModelEntry(
        "demo", "TWGTM demo model (a toy trained on drawn clothes, not photos)", "TWGTM",
        (ModelFile("twgtm-demo.safetensors"),), PACK, licence="MIT (this pack)",
        loaded_by="TWGTM Model Loader (ckpt_name); the CLI's default model",
        how="ships with the pack in its weights/ folder: reinstall the pack if it is missing"),
    ModelEntry(
        "twgtm-checkpoint", "any other TWGTM checkpoint", "TWGTM", (), "twgtm",
        loaded_by="TWGTM Model Loader (ckpt_name); CLI --checkpoint",
        how="no public TWGTM checkpoint exists yet: train one (python -m training.run) and export it"),
    ModelEntry(
        "clip-vision", "for checkpoints without the CLIP image encoder: a CLIP vision file", "TWGTM", (),
        "clip_vision",
        loaded_by="TWGTM Model Loader (clip_vision); CLI --clip",
        how="a CLIPVisionModelWithProjection file of the checkpoint's size (ViT-L/14 at SD1.5 size); its error names it"),
    # ---- public weights on the SD1.5-inpainting backbone
    ModelEntry(
        "catvton", "CatVTON try-on weights (mix-48k-1024, the attn1 layers)", "CatVTON / TryOffAnyone",
        (ModelFile("mix-48k-1024/attention/model.safetensors"),), "twgtm", "catvton",
        repos=("zhengchong/CatVTON",), licence=f"CC BY-NC-SA 4.0 ({NON_COMMERCIAL})",
        licence_url="https://creativecommons.org/licenses/by-nc-sa/4.0/", accept=True,
        loaded_by="TWGTM Public Model Loader (weights, profile catvton); CLI --profile catvton --weights"),
    ModelEntry(
        "tryoffanyone", "TryOffAnyone try-off weights (whole transformer blocks)", "CatVTON / TryOffAnyone",
        (ModelFile("model.safetensors"),), "twgtm", "tryoffanyone",
        repos=("ixarchakos/tryOffAnyone",), licence="other: Server Side Public License (per its model card)",
        licence_url=f"{HUB}/ixarchakos/tryOffAnyone", accept=True,
        loaded_by="TWGTM Public Model Loader (weights, profile tryoffanyone); CLI --profile tryoffanyone --weights"),
    ModelEntry(
        "sd15-inpainting", "SD1.5-inpainting base, one original-format file", "CatVTON / TryOffAnyone",
        (ModelFile("sd-v1-5-inpainting.safetensors", 4_265_203_873,
              "0ec8f8585b104417a8c34a9fbcc1e922a70b8c15490ec4553087f01c8cf33673"),), "checkpoints",
        repos=("webui/stable-diffusion-inpainting",), licence=SD15_LICENCE[0], licence_url=SD15_LICENCE[1],
        loaded_by="TWGTM Public Model Loader (base_model), TWGTM Model Loader (base_model); CLI --base"),
    ModelEntry(
        "sd15-inpainting-diffusers", "SD1.5-inpainting base as a diffusers folder (unet/, vae/, scheduler/)",
        "CatVTON / TryOffAnyone",
        (ModelFile("unet/config.json"), ModelFile("unet/diffusion_pytorch_model.safetensors"), ModelFile("vae/config.json"),
         ModelFile("vae/diffusion_pytorch_model.safetensors"), ModelFile("scheduler/scheduler_config.json")),
        "diffusers", "stable-diffusion-inpainting",
        # runwayml's original was deleted; CatVTON's scripts name the booksforcharlie copy; a mirror (HF_ENDPOINT)
        # may still serve the original name.
        repos=("stable-diffusion-v1-5/stable-diffusion-inpainting", "booksforcharlie/stable-diffusion-inpainting",
               "runwayml/stable-diffusion-inpainting"),
        licence=SD15_LICENCE[0], licence_url=SD15_LICENCE[1], widget="",
        loaded_by="CLI --base FOLDER (the profiles read its DDIM config)"),
    ModelEntry(
        "sd-vae-ft-mse", "sd-vae-ft-mse VAE (both projects use it; optional)", "CatVTON / TryOffAnyone",
        (ModelFile("vae-ft-mse-840000-ema-pruned.safetensors", 334_641_190,
              "735e4c3a447a3255760d7f86845f09f937809baa529c17370d83e4c3758f3c75"),), "vae",
        repos=("stabilityai/sd-vae-ft-mse-original",), licence="MIT",
        licence_url=f"{HUB}/stabilityai/sd-vae-ft-mse-original",
        loaded_by="TWGTM Public Model Loader (vae); CLI --vae"),
    ModelEntry(
        "segformer-b3-clothes", "SegFormer clothes parser (automatic masks)", "CatVTON / TryOffAnyone",
        (ModelFile("config.json"), ModelFile("model.safetensors"), ModelFile("preprocessor_config.json")),
        "twgtm", "parsers/segformer_b3_clothes", repos=("sayeed99/segformer_b3_clothes",), licence="MIT",
        licence_url=f"{HUB}/sayeed99/segformer_b3_clothes", widget="segformer_b3_clothes",
        loaded_by="TWGTM Parser Loader (parser_name); CLI --parser"),
    # ---- Any2AnyTryon on FLUX.1-dev (ComfyUI's own loaders)
    ModelEntry(
        "flux1-dev", "FLUX.1-dev transformer", "Any2AnyTryon (FLUX.1-dev)",
        (ModelFile("flux1-dev.safetensors", 23_802_932_552,
              "4610115bb0c89560703c892c59ac2742fa821e60ef5871b33493ba544683abd7"),), "diffusion_models",
        repos=("black-forest-labs/FLUX.1-dev",), licence=f"{FLUX_DEV_LICENCE[0]} ({NON_COMMERCIAL})",
        licence_url=FLUX_DEV_LICENCE[1], accept=True, gated=True,
        loaded_by="core UNETLoader (unet_name); CLI a2a --transformer"),
    ModelEntry(
        "flux-ae", "FLUX.1 autoencoder", "Any2AnyTryon (FLUX.1-dev)", (ModelFile("ae.safetensors"),), "vae",
        repos=("black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1-schnell"),
        licence=f"{FLUX_DEV_LICENCE[0]} ({NON_COMMERCIAL})", licence_url=FLUX_DEV_LICENCE[1], accept=True, gated=True,
        loaded_by="core VAELoader (vae_name)"),
    ModelEntry(
        "clip-l", "CLIP-L text encoder (FLUX)", "Any2AnyTryon (FLUX.1-dev)",
        (ModelFile("clip_l.safetensors", 246_144_152, "660c6f5b1abae9dc498ac2d21e1347d2abdb0cf6c0c0c8576cd796491d9a6cdd"),),
        "text_encoders", repos=("comfyanonymous/flux_text_encoders",), licence="MIT (OpenAI CLIP)",
        licence_url=f"{HUB}/comfyanonymous/flux_text_encoders", loaded_by="core DualCLIPLoader (clip_name1)"),
    ModelEntry(
        "t5xxl-fp16", "T5-XXL text encoder, fp16 (FLUX)", "Any2AnyTryon (FLUX.1-dev)",
        (ModelFile("t5xxl_fp16.safetensors", 9_787_841_024,
              "6e480b09fae049a72d2a8c5fbccb8d3e92febeb233bbe9dfe7256958a9167635"),),
        "text_encoders", repos=("comfyanonymous/flux_text_encoders",), licence="Apache-2.0 (Google T5 v1.1)",
        licence_url=f"{HUB}/comfyanonymous/flux_text_encoders", loaded_by="core DualCLIPLoader (clip_name2)"),
    *(ModelEntry(
        f"a2a-{key}", f"Any2AnyTryon LoRA: {what}", "Any2AnyTryon (FLUX.1-dev)",
        (ModelFile(f"{file}.safetensors"),), "loras", repos=("loooooong/Any2anyTryon",),
        licence=f"a LoRA of FLUX.1-dev: {FLUX_DEV_LICENCE[0]} ({NON_COMMERCIAL})", licence_url=FLUX_DEV_LICENCE[1],
        accept=True, loaded_by=A2A_LOADED_BY)
      for key, file, what in (
          ("alltasks", "dev_lora_any2any_alltasks", "all tasks (the workflows' default)"),
          ("tryon", "dev_lora_any2any_tryon", "try-on"),
          ("garment-reconstruction", "dev_lora_garment_reconstruction", "garment reconstruction"),
          ("tryon-vitonhd-512", "dev_lora_tryon_vitonhd_512", "try-on, VITON-HD 512"))),
    # ---- metric networks (python -m twgtm.eval --weights-dir DIR)
    ModelEntry(
        "dinov2-base", "DINOv2 ViT-B/14 (DINO similarity)", "metrics",
        (ModelFile("config.json"), ModelFile("model.safetensors"), ModelFile("preprocessor_config.json")), METRICS, "dino",
        repos=("facebook/dinov2-base",), licence="Apache-2.0", licence_url=f"{HUB}/facebook/dinov2-base",
        loaded_by="metric dino"),
    ModelEntry(
        "clip-vit-base-patch32", "CLIP ViT-B/32 (CLIP-FID)", "metrics",
        (ModelFile("config.json"), ModelFile("pytorch_model.bin", save_as="model.safetensors"),
         ModelFile("preprocessor_config.json")),
        METRICS, "clip-vit-base-patch32", repos=("openai/clip-vit-base-patch32",), licence="MIT",
        licence_url=f"{HUB}/openai/clip-vit-base-patch32", loaded_by="metric clip_fid"),
    ModelEntry(
        "fid-inception", "FID Inception (pytorch-fid)", "metrics",
        (ModelFile("pt_inception-2015-12-05-6726825d.pth", save_as="pt_inception-2015-12-05.safetensors"),), METRICS,
        licence="Apache-2.0 (pytorch-fid)", loaded_by="metrics fid, kid",
        how="download https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            "pt_inception-2015-12-05-6726825d.pth, then: python -m twgtm.metrics.convert "
            "pt_inception-2015-12-05-6726825d.pth DIR/pt_inception-2015-12-05.safetensors"),
    *(ModelEntry(
        net, f"torchvision ImageNet {label} ({use})", "metrics",
        (ModelFile(pth, save_as=f"{net}.safetensors"),), METRICS, licence="BSD-3-Clause (torchvision)",
        loaded_by=f"metric {use}",
        how=f"download https://download.pytorch.org/models/{pth}, then: python -m twgtm.metrics.convert {pth} "
            f"DIR/{net}.safetensors")
      for net, label, pth, use in (("alexnet", "AlexNet", "alexnet-owt-7be5be79.pth", "lpips"),
                                   ("vgg16", "VGG16", "vgg16-397923af.pth", "lpips_vgg, dists"))),
    ModelEntry(
        "metric-heads", "LPIPS / ST-LPIPS linear layers and DISTS weights (shipped by pip packages)", "metrics",
        tuple(ModelFile(n) for n in ("lpips_alex.safetensors", "lpips_vgg.safetensors", "stlpips_alex.safetensors",
                                "stlpips_vgg.safetensors", "dists_alpha_beta.safetensors")), METRICS,
        licence="BSD-2-Clause (LPIPS), MIT (DISTS, ST-LPIPS)", loaded_by="metrics lpips, lpips_vgg, stlpips, dists",
        how="python -m twgtm.metrics.convert --from-packages DIR (from torchmetrics and stlpips-pytorch)"),
)
REGISTRY: dict[str, ModelEntry] = {entry.name: entry for entry in ENTRIES}


def get_entry(name: str) -> ModelEntry:
    """An entry by its fetch name; a ConfigError lists the names."""
    key = str(name).strip().lower()
    if key not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; `python -m twgtm models list` shows them all: "
                          f"{', '.join(e.name for e in ENTRIES if e.on_hub)}")
    return REGISTRY[key]


def entry_for(folder: str, name: str) -> ModelEntry | None:
    """The entry whose file a ComfyUI node lists as `name` in model folder `folder` (None: not one of ours)."""
    wanted = str(name).replace("\\", "/")
    return next((e for e in ENTRIES if e.comfy_folder == folder and e.comfy_name == wanted), None)


def fetch_command(names, *, comfyui: str | Path | None = None, dest: str | Path | None = None,
                  python: str = "python") -> str:
    """The exact `python -m twgtm models fetch ...` command line for entries (names or ModelEntry)."""
    entries = [n if isinstance(n, ModelEntry) else get_entry(n) for n in names]
    words = [python, "-m", "twgtm", "models", "fetch", *dict.fromkeys(e.name for e in entries)]
    if comfyui is not None:
        words += ["--comfyui", str(comfyui)]
    elif dest is not None:
        words += ["--dest", str(dest)]
    if any(e.accept for e in entries):
        words.append("--accept-licence")
    return quote_command(words)


def quote_command(words: list[str]) -> str:
    """A command line for this system's shell (cmd.exe's quoting on Windows, POSIX quoting elsewhere)."""
    return subprocess.list2cmdline(words) if os.name == "nt" else shlex.join(words)


def licence_note(entries) -> str:
    """'name: licence' for the entries whose licence must be accepted ('' when none)."""
    return "; ".join(f"{e.name}: {e.licence}" for e in dict.fromkeys(entries) if e.accept)


def template_models(name: str) -> list[dict] | None:
    """The ComfyUI frontend's model metadata (`properties.models` of a workflow node) of a node's file `name`.

    The frontend's missing-models dialog lists each entry whose `name` is one of the node's widget values
    and is absent from model folder `directory`, with the `url` to download; it takes one file per entry,
    from huggingface.co, ending in .safetensors. None when `name` is no such file of the registry.
    """
    wanted = str(name).replace("\\", "/")
    entry = next((e for e in ENTRIES if e.comfy_name == wanted), None)
    if entry is None or not entry.on_hub or len(entry.files) != 1 or not wanted.endswith(".safetensors"):
        return None
    return [{"name": wanted, "url": entry.url(), "directory": entry.comfy_folder}]


def _size_text(size: int | None) -> str:
    if size is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def files_text(entry: ModelEntry) -> str:
    """Where the entry's file(s) go, as the README shows it: the full path, or the folder and the file names."""
    names = [f.local for f in entry.files]
    if not names:
        return f"any `.safetensors` in `{entry.location}`"
    if len(names) == 1:
        return f"`{entry.location}{names[0]}`"
    shown = ", ".join(names[:3]) + (f", … ({len(names)} files)" if len(names) > 3 else "")
    return f"`{entry.location}` ({shown})"


def readme_table(metrics: bool = False) -> str:
    """The "which model file goes in which folder" table (Markdown), one row per entry.

    The README shows the ComfyUI files (`metrics=False`); docs/models.md every entry.
    """
    rows = ["| model | `models fetch` name | file(s) | size | loaded by | licence |", "|---|---|---|---|---|---|"]
    for entry in ENTRIES:
        if entry.folder == METRICS and not metrics:
            continue
        name = f"`{entry.name}`" if entry.on_hub else "(ships with the pack)" if entry.folder == PACK else "(not on the hub)"
        licence = f"[{entry.licence}]({entry.licence_url})" if entry.licence_url else entry.licence
        if entry.gated:
            licence += "; gated: HF_TOKEN"
        rows.append(f"| {entry.title} | {name} | {files_text(entry)} | {_size_text(entry.size)} | {entry.loaded_by} "
                    f"| {licence or '-'} |")
    return "\n".join(rows) + "\n"
