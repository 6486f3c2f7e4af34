"""`make test-fast` leaves out every slow test and none can slip in: tests/support/slow_tests.py in a pytest
session of its own (pytester), with a ComfyUI fixture and tests that start Python processes."""
from __future__ import annotations

import pytest

from tests.support.slow_tests import starts_python

pytest_plugins = ["pytester"]

CONFTEST = '''
import pytest
from tests.support.slow_tests import SLOW_MARKER, pytest_collection_modifyitems, python_processes_are_slow

def pytest_configure(config):
    config.addinivalue_line("markers", SLOW_MARKER)
    config.addinivalue_line("markers", "browser: the browser")

@pytest.fixture
def comfyui_dir(tmp_path):
    return tmp_path

@pytest.fixture
def server(comfyui_dir):  # a fixture that needs ComfyUI, as tests/comfy's server does
    return comfyui_dir
'''
TESTS = '''
import subprocess, sys
import pytest

def test_plain():
    subprocess.run(["true"], check=True)  # a process that is not Python is fine

def test_through_a_fixture(server):
    pass

@pytest.mark.browser
def test_in_the_browser():
    pass

def test_a_command_line_unmarked():
    subprocess.run([sys.executable, "-c", "pass"], check=True)

@pytest.mark.slow
def test_a_command_line_marked():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
'''


@pytest.mark.slow  # its session's marked test starts a Python process
def test_fast_runs_leave_out_what_needs_comfyui_or_a_browser_and_unmarked_processes_fail(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sample=TESTS)
    fast = pytester.runpytest_inprocess("-m", "not slow", "-p", "no:cacheprovider")
    fast.assert_outcomes(passed=1, failed=1, deselected=3)
    fast.stdout.fnmatch_lines(["*test_a_command_line_unmarked starts a Python process*mark the test "
                               "@pytest.mark.slow*"])
    full = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    full.assert_outcomes(passed=4, failed=1)  # `make test` fails on the unmarked one too


def test_what_counts_as_a_python_process():
    import sys

    assert starts_python([sys.executable, "-m", "twgtm"]) and starts_python("python3 -c pass")
    assert starts_python(["torchrun", "--nproc_per_node", "2", "-m", "training.run"])
    assert not starts_python(["git", "status"]) and not starts_python("node browser.mjs") and not starts_python([])
