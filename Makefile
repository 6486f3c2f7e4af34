# `make test` and `make demo` create .venv when it is missing, then run.
PY := .venv/bin/python
export HF_HUB_OFFLINE := 1

.PHONY: venv test test-fast demo info clean-venv

venv: .venv/.complete

.venv/.complete: requirements.txt requirements-dev.txt .ci/constraints.txt .ci/venv.sh
	bash .ci/venv.sh

test: venv
	$(PY) -m pytest -q tests

# The suite without the ComfyUI server, the browser and the tests that start Python processes (marked slow).
test-fast: venv
	$(PY) -m pytest -q -m "not slow" --durations=5 tests

demo: venv
	$(PY) -m twgtm demo --out outputs/demo

info: venv
	$(PY) -m twgtm info --preset sd15

clean-venv:
	rm -rf .venv
