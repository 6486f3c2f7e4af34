"""`make test-fast` leaves out every slow test and none can slip in: tests/support/slow_tests.py in a pytest
session of its own (pytester), with a ComfyUI fixture and tests that start Python processes."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.slow_tests import starts_python

pytest_plugins = ["pytester"]

CONFTEST = '''
import pytest
from tests.support import slow_tests

def pytest_configure(config):
    config.addinivalue_line("markers", "browser: the browser")
    config.pluginmanager.register(slow_tests, "twgtm-slow-tests")

@pytest.fixture
def comfyui_dir(tmp_path):
    return tmp_path

@pytest.fixture
def server(comfyui_dir):  # a fixture that needs ComfyUI, as tests/comfy's server does
    return comfyui_dir

@pytest.fixture(scope="module")
def made_by_a_command():  # a module fixture that runs a command line, as a job's reference output
    import subprocess, sys
    return subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True, text=True).stdout
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

def test_a_command_line_in_a_module_fixture(made_by_a_command):
    pass

@pytest.mark.slow
def test_a_command_line_marked():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
'''


@pytest.mark.slow  # its session's marked test starts a Python process
def test_fast_runs_leave_out_what_needs_comfyui_or_a_browser_and_unmarked_processes_fail(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sample=TESTS)
    fast = pytester.runpytest_inprocess("-m", "not slow", "-p", "no:cacheprovider")
    fast.assert_outcomes(passed=1, failed=1, errors=1, deselected=3)
    fast.stdout.fnmatch_lines(["*test_a_command_line_unmarked starts a Python process*mark the test "
                               "@pytest.mark.slow*"])
    fast.stdout.fnmatch_lines(["*test_a_command_line_in_a_module_fixture starts a Python process*"])
    full = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    full.assert_outcomes(passed=4, failed=1, errors=1)  # `make test` fails on the unmarked ones too
    subprocess_ok = subprocess.run([sys.executable, "-c", "pass"], check=True)  # the guard is gone with its session
    assert subprocess_ok.returncode == 0


def test_what_counts_as_a_python_process():
    assert starts_python([sys.executable, "-m", "twgtm"]) and starts_python("python3 -c pass")
    assert starts_python(["torchrun", "--nproc_per_node", "2", "-m", "training.run"])
    assert starts_python(["bash", "training/scripts/demo_gpu.sh"])
    assert not starts_python(["git", "status"]) and not starts_python("node browser.mjs") and not starts_python([])
