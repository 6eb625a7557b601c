# Two entry points for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test demo clean

# PyTorch's CPU build is installed first, and only when the venv has no torch,
# so that pip never pulls the multi-gigabyte CUDA build.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"

test: setup
	$(BIN)/python -m pytest -q

# The demo's run directory is its own: a second `make demo` starts afresh.
demo: setup
	rm -rf runs/demo
	$(BIN)/rnnkit train lm --minutes 3 --out runs/demo
	$(BIN)/rnnkit sample runs/demo --prompt "def " --length 600 --temperature 0.8

clean:
	rm -rf $(VENV) runs .pytest_cache
