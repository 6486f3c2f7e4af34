"""Shared test set-up: everything runs offline on tiny configurations."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

# ---------------------------------------------------------------- a real ComfyUI server and browser
# Fixtures for end-to-end tests (see tests/comfy_env.py): they install ComfyUI 0.3.75, Chromium
# and playwright-core themselves on first use. Browser tests skip only with TWGTM_SKIP_BROWSER=1.
import pytest  # noqa: E402

from .comfy_env import REPO, EnvSetupError, ComfyServer, ensure_browser, ensure_comfyui  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "comfy: needs a real ComfyUI (installed on first use, ~1 min)")
    config.addinivalue_line("markers", "browser: needs headless Chromium + playwright-core (TWGTM_SKIP_BROWSER=1 skips)")


@pytest.fixture(scope="session")
def pack_dir():
    """The repository root, which is the ComfyUI pack."""
    return REPO


@pytest.fixture(scope="session")
def comfyui_dir():
    """The ComfyUI 0.3.75 tree in .cache/comfyui, with its requirements in this environment."""
    try:
        return ensure_comfyui()
    except EnvSetupError as exc:
        pytest.fail(f"Cannot install ComfyUI for the tests: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def comfy_server(comfyui_dir, tmp_path_factory):
    """A running ComfyUI server with the pack loaded; yields a tests.comfy_env.ComfyClient.

    `client.models_dir` is the server's `twgtm` model folder; `client.server.log()` its log.
    """
    server = ComfyServer(comfyui_dir, tmp_path_factory.mktemp("comfyui"))
    try:
        client = server.start()
    except EnvSetupError as exc:
        pytest.fail(f"Cannot start ComfyUI: {exc}", pytrace=False)
    try:
        yield client
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser_env():
    """(chromium path, node_modules dir) for tests/browser/*.mjs; skipped only with TWGTM_SKIP_BROWSER=1."""
    import os

    if os.environ.get("TWGTM_SKIP_BROWSER") == "1":
        pytest.skip("TWGTM_SKIP_BROWSER=1")
    try:
        return ensure_browser()
    except EnvSetupError as exc:
        pytest.fail(f"Cannot set up the browser: {exc}", pytrace=False)
