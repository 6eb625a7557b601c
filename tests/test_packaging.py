"""Packaging: ``python -m rnnkit``, the licence the metadata declares, and what the Makefile runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD = os.environ | {"OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("args", [["--version"], ["cells"]])
def test_python_dash_m_rnnkit_runs_the_command_line(args):
    result = subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=120,
                            env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_python_dash_m_rnnkit_passes_the_exit_status_through():
    result = subprocess.run([sys.executable, "-m", "rnnkit"], capture_output=True, text=True, timeout=120,
                            env=ONE_THREAD)
    assert result.returncode == 2 and "usage: rnnkit" in result.stderr


def test_the_mit_licence_is_shipped_and_declared_as_an_spdx_expression():
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    # setuptools reads a string licence with license-files from version 77 on (PEP 639).
    (setuptools,) = [r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")]
    assert setuptools == "setuptools>=77"
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License\n\nCopyright (c) 2026 the rnnkit developers\n")
    assert "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND" in licence


@pytest.fixture
def make_dir(tmp_path) -> Path:
    """A directory holding the Makefile, a pyproject.toml and a venv's python, for ``make -n``."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("")
    return tmp_path


def dry_run(directory: Path, *args: str) -> list[str]:
    """The commands ``make -n`` would run, one per line."""
    # Run as a make of its own, also when the suite itself runs under `make test` (no inherited flags).
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    result = subprocess.run(["make", "--no-print-directory", "-n", *args], cwd=directory, capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.replace("\\\n", " ").splitlines()


def test_make_test_installs_once_and_again_only_when_pyproject_changes(make_dir):
    stamp, pyproject = make_dir / ".venv" / ".rnnkit-installed", make_dir / "pyproject.toml"
    first = dry_run(make_dir, "test")
    assert any('pip install --quiet -e ".[dev]"' in line for line in first)
    assert first[-1] == ".venv/bin/python -m pytest -q"

    stamp.touch()
    os.utime(pyproject, (1_000_000, 1_000_000))                 # installed after the last change
    assert dry_run(make_dir, "test") == [".venv/bin/python -m pytest -q"]

    os.utime(pyproject, None)                                   # changed since
    os.utime(stamp, (1_000_000, 1_000_000))
    assert any("pip install --quiet -e" in line for line in dry_run(make_dir, "test"))


def test_make_installs_torch_only_when_missing_from_the_chosen_index(make_dir):
    (torch_line,) = [line for line in dry_run(make_dir, "setup") if "import torch" in line]
    assert "pip install --quiet torch==2.13.0" in torch_line and "--index-url" not in torch_line
    assert torch_line.startswith('.venv/bin/python -c "import torch" 2>/dev/null ||')
    (torch_line,) = [line for line in dry_run(make_dir, "setup", "TORCH=torch==2.4.1", "TORCH_INDEX_URL=INDEX")
                     if "import torch" in line]
    assert torch_line.endswith("pip install --quiet torch==2.4.1 --index-url INDEX")


def test_make_test_on_a_fresh_clone_creates_the_venv_then_installs_then_tests(make_dir):
    shutil.rmtree(make_dir / ".venv")
    assert [line.split()[:4] for line in dry_run(make_dir, "test")] == [
        ["python3", "-m", "venv", ".venv"],
        [".venv/bin/python", "-m", "pip", "install"],                 # --upgrade pip
        [".venv/bin/python", "-c", '"import', 'torch"'],              # || pip install torch
        [".venv/bin/python", "-m", "pip", "install"],                 # -e ".[dev]"
        ["touch", ".venv/.rnnkit-installed"],
        [".venv/bin/python", "-m", "pytest", "-q"],
    ]
