# Two entry points for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
# The PyTorch to install when the venv has none. On Linux the package index's torch is the CUDA
# build (gigabytes of NVIDIA libraries); for the CPU build, set TORCH_INDEX_URL to PyTorch's CPU
# wheel index (its install page gives the URL): make test TORCH_INDEX_URL=...
TORCH ?= torch==2.13.0
TORCH_INDEX_URL ?=
VENV := .venv
BIN := $(VENV)/bin
# Stamp of the editable install: rnnkit is reinstalled only when pyproject.toml changes (an editable
# install reads the sources in place). It lives in the venv, so a new venv has none.
INSTALLED := $(VENV)/.rnnkit-installed

.PHONY: setup test demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, and only when the venv has none, so that an existing torch (CPU or CUDA) is kept.
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet $(TORCH) $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(INSTALLED)

test: setup
	$(BIN)/python -m pytest -q

# The demo's run directory is its own: a second `make demo` starts afresh.
demo: setup
	rm -rf runs/demo
	$(BIN)/rnnkit train lm --minutes 3 --out runs/demo
	$(BIN)/rnnkit sample runs/demo --prompt "def " --length 600 --temperature 0.8

clean:
	rm -rf $(VENV) runs .pytest_cache
