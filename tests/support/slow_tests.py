"""Slow tests, marked so that none escapes `make test-fast` (`pytest -m "not slow"`); tests/conftest.py installs this.

A test is slow when it needs ComfyUI (in-process or as a server) or the browser: it is marked here from
the fixtures it uses, however indirectly, or from its `comfy` / `browser` marker. A test that starts a
Python process (a command line, torchrun) must carry `@pytest.mark.slow` itself: one that does not fails
with a message that says so, in `make test` too, so a new one cannot slip into the fast run. A test that
takes more than about 30 s in-process is marked by hand (`make test-fast` lists the five slowest).
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

SLOW_MARKER = ("slow: a ComfyUI server, the browser, a Python process of its own or more than ~30 s: "
               "`make test-fast` (pytest -m 'not slow') leaves it out")
SLOW_FIXTURES = ("comfyui_dir", "comfy_server", "browser_env")
SLOW_MARKS = ("comfy", "browser")


def pytest_collection_modifyitems(config, items):
    """Mark slow every test that uses a ComfyUI or browser fixture or carries a comfy / browser marker."""
    for item in items:
        used = sorted(set(SLOW_FIXTURES) & set(getattr(item, "fixturenames", ())))
        used += [name for name in SLOW_MARKS if item.get_closest_marker(name) is not None]
        if used:
            item.add_marker(pytest.mark.slow(reason=f"uses {', '.join(used)}"))


def starts_python(args) -> bool:
    """Whether a subprocess command line starts a Python interpreter (or a launcher of Python processes)."""
    words = shlex.split(args) if isinstance(args, str) else [os.fspath(a) for a in args]
    if not words:
        return False
    program = os.path.basename(words[0])
    return words[0] == sys.executable or program.startswith("python") or program in ("torchrun", "accelerate")


@pytest.fixture(autouse=True)
def python_processes_are_slow(request, monkeypatch):
    """A test not marked slow that starts a Python process fails, naming the marker it needs."""
    if request.node.get_closest_marker("slow") is not None:
        yield
        return
    original = subprocess.Popen.__init__

    def guarded(self, args, *rest, **kwargs):
        if starts_python(args):
            self._child_created = False  # for Popen.__del__: no process was started
            raise AssertionError(f"{request.node.nodeid} starts a Python process ({args!r:.120}): mark the test "
                                 "@pytest.mark.slow so that `make test-fast` leaves it out")
        original(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)
    yield
