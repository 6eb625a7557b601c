"""benchmarks/forecast.py runs end to end and reports every method it was asked for (tiny budget)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "forecast.py"


@pytest.mark.slow
def test_forecast_benchmark_reports_scores_and_times(tmp_path):
    command = [sys.executable, str(BENCHMARK), "--datasets", "macrodata", "--methods", "naive,seasonal_naive,gru",
               "--steps", "30", "--hidden", "8", "--layers", "1", "--json", "--out", str(tmp_path)]
    table = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout)
    rows = table["macrodata"]
    assert list(rows) == ["naive", "seasonal_naive", "gru"]
    for row in rows.values():
        assert row["mase"] > 0 and 0 <= row["smape"] <= 200 and row["seconds"] >= 0
