"""Shared test set-up: everything runs offline on tiny configurations."""
import ipaddress
import os
import socket

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


class NetworkBlocked(RuntimeError):
    """Raised when a test tries to reach a non-loopback address."""


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if not isinstance(host, str):
        return True
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: would need DNS, i.e. the network


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NetworkBlocked(f"test tried to connect to {address!r}: tests run offline")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NetworkBlocked(f"test tried to connect to {address!r}: tests run offline")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test runs with connections to anything but loopback refused."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield


# ---------------------------------------------------------------- a real ComfyUI server and browser
# Fixtures for end-to-end tests (see tests/comfy/comfy_env.py): they install ComfyUI 0.3.75, Chromium
# and playwright-core themselves on first use. Browser tests skip only with TWGTM_SKIP_BROWSER=1.
from .comfy.comfy_env import REPO, EnvSetupError, ComfyServer, ensure_browser, ensure_comfyui  # noqa: E402

from .support import slow_tests  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "comfy: needs a real ComfyUI (installed on first use, ~1 min)")
    config.addinivalue_line("markers", "browser: needs headless Chromium + playwright-core (TWGTM_SKIP_BROWSER=1 skips)")
    # Slow tests (ComfyUI, the browser, Python processes of their own) are marked so that none escapes
    # `make test-fast`.
    config.pluginmanager.register(slow_tests, "twgtm-slow-tests")


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
    """(chromium path, node_modules dir) for tests/comfy/browser/*.mjs; skipped only with TWGTM_SKIP_BROWSER=1."""
    import os

    if os.environ.get("TWGTM_SKIP_BROWSER") == "1":
        pytest.skip("TWGTM_SKIP_BROWSER=1")
    try:
        return ensure_browser()
    except EnvSetupError as exc:
        pytest.fail(f"Cannot set up the browser: {exc}", pytrace=False)


@pytest.fixture
def encoder_calls(monkeypatch):
    """`encoder_calls(model)` wraps model.sam / model.srm to count their calls; returns the live counts dict."""
    def install(model) -> dict:
        calls = {"sam": 0, "srm": 0}
        for part in calls:
            module = getattr(model, part)
            original = module.forward

            def counted(*args, _original=original, _part=part, **kwargs):
                calls[_part] += 1
                return _original(*args, **kwargs)
            monkeypatch.setattr(module, "forward", counted)
        return calls
    return install


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on shared cores: one intra-op thread avoids OpenMP spin contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
