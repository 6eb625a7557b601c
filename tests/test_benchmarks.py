"""The benchmark scripts run end to end and report what they promise (tiny sizes: figures, not speed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_engines_benchmark_reports_every_ratio_and_both_memories():
    command = [sys.executable, str(BENCHMARKS / "engines.py"), "--sizes", "6,2,3,4", "--cells", "lstm", "gru_cho",
               "--repeats", "1", "--warmup", "0", "--json"]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, timeout=300).stdout)
    (entry,) = result["sizes"]
    assert [row["cell"] for row in entry["cells"]] == ["lstm", "gru_cho"]
    for row in entry["cells"]:
        for engine in ("bptt", "bptt-recompute", "autograd"):
            # One round: the paired ratio is the two times of that round.
            assert row[f"{engine}/fused"] == pytest.approx(row[f"{engine}_ms"] / row["fused_ms"])
            assert row[f"{engine}_saved_MB"] > 0
        assert row["bptt/autograd"] == pytest.approx(row["bptt_ms"] / row["autograd_ms"])
        # Only the states are kept by bptt-recompute: less than autograd's gates and states.
        assert row["saved bptt-recompute/autograd"] < 1
        peaks = [row[f"{engine}_peak_MB"] for engine in ("fused", "bptt", "bptt-recompute", "autograd")]
        if sys.platform.startswith("linux"):
            assert all(math.isfinite(peak) and peak >= 0 for peak in peaks)
    assert {floor["gates"] for floor in entry["gemm_floor"]} == {3, 4}
