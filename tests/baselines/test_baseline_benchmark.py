"""benchmarks/predecessors.py runs end to end on a tiny text and reports every model (figures, not speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("hmmlearn", reason="the HMM baseline needs hmmlearn (pip install rnnkit[baselines])")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "predecessors.py"


@pytest.mark.slow
def test_predecessors_benchmark_reports_every_model(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("".join(f"all the world's a stage {i % 5}\nand all the men and women merely players\n"
                            for i in range(80)))
    out = tmp_path / "out"
    command = [sys.executable, str(SCRIPT), "--data", str(text), "--states", "2,4", "--hmm-iterations", "2",
               "--max-order", "4", "--window-minutes", "0.01", "--lstm-minutes", "0.01", "--hidden", "8",
               "--sample", "20", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "SUMMARY predecessors:" in result.stdout
    rows = json.loads((out / "results.json").read_text())
    assert [row["kind"] for row in rows] == ["ngram", "hmm", "hmm", "window", "rnn"]
    assert len({row["tokens"] for row in rows if row["kind"] != "rnn"}) == 1
    assert (out / "bpc.png").stat().st_size > 0
