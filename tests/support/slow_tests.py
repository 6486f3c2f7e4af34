"""Slow tests, marked so that none escapes `make test-fast` (`pytest -m "not slow"`); tests/conftest.py registers
this module as a plugin.

A test is slow when it needs ComfyUI (in-process or as a server) or the browser: it is marked here from
the fixtures it uses, however indirectly, or from its `comfy` / `browser` marker. A test that starts a
Python process (a command line, torchrun, a shell script) must carry `@pytest.mark.slow` itself: one that
does not fails with a message that says so, in `make test` too, whether the process starts in the test or
in a fixture it sets up, so a new one cannot slip into the fast run. A test that takes more than about
30 s in-process is marked by hand (`make test-fast` lists the five slowest).
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
LAUNCHERS = ("torchrun", "accelerate", "bash", "sh")  # programs that start Python processes (a shell: its script)
_installed = pytest.StashKey[bool]()


def pytest_configure(config):
    config.addinivalue_line("markers", SLOW_MARKER)
    if not getattr(subprocess.Popen.__init__, "guards_slow_tests", False):
        _guard_processes()
        config.stash[_installed] = True


def pytest_unconfigure(config):
    if config.stash.get(_installed, False):
        subprocess.Popen.__init__ = subprocess.Popen.__init__.unguarded


def pytest_collection_modifyitems(config, items):
    """Mark slow every test that uses a ComfyUI or browser fixture or carries a comfy / browser marker."""
    for item in items:
        used = sorted(set(SLOW_FIXTURES) & set(getattr(item, "fixturenames", ())))
        used += [name for name in SLOW_MARKS if item.get_closest_marker(name) is not None]
        if used:
            item.add_marker(pytest.mark.slow(reason=f"uses {', '.join(used)}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """The test whose setup, call or teardown runs now (its fixtures' processes are its own), on the guard's stack
    (one for every copy of this module: a pytester session inside a test runs its own tests on it)."""
    running = subprocess.Popen.__init__.running
    running.append(item)
    try:
        yield
    finally:
        running.pop()


def starts_python(args) -> bool:
    """Whether a subprocess command line starts a Python interpreter, or a launcher or shell that starts some."""
    words = shlex.split(args) if isinstance(args, str) else [os.fspath(a) for a in args]
    if not words:
        return False
    program = os.path.basename(words[0])
    return words[0] == sys.executable or program.startswith("python") or program in LAUNCHERS


def _guard_processes() -> None:
    """Popen refuses a Python process to a test not marked slow (for the whole session)."""
    unguarded = subprocess.Popen.__init__
    running = []  # the test items being run, innermost last

    def guarded(self, args, *rest, **kwargs):
        item = running[-1] if running else None
        if item is not None and item.get_closest_marker("slow") is None and starts_python(args):
            self._child_created = False  # for Popen.__del__: no process was started
            raise AssertionError(f"{item.nodeid} starts a Python process ({args!r:.120}), in the test or a fixture: "
                                 "mark the test @pytest.mark.slow so that `make test-fast` leaves it out")
        unguarded(self, args, *rest, **kwargs)

    guarded.guards_slow_tests = True
    guarded.unguarded, guarded.running = unguarded, running
    subprocess.Popen.__init__ = guarded
