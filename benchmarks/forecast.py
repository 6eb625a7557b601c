"""Recurrent forecasters against the classical baselines on the real series statsmodels ships.

For each data set (co2: monthly means of the weekly record, horizon 24; sunspots: yearly, horizon
11; elnino: monthly, horizon 12; macrodata: quarterly real GDP growth with the other macro series
as inputs, horizon 8) and each method — naive, seasonal naive, ETS, ARIMA, Theta, the Kalman-filter
local level, and LSTM, GRU (the recurrent Forecaster) and ES-RNN — the table gives the test MASE
and sMAPE over rolling origins (every origin of the last 20 % of the series) and the time to fit
(baselines: fit plus every origin's forecast; recurrent models: training, with the trainer's
validations). Every method is fitted
on the same training part (the first 70 %); the recurrent models select their checkpoint on the
next 10 %.

    python benchmarks/forecast.py                                   # everything: 1000 steps per model
    python benchmarks/forecast.py --datasets co2 --methods naive,lstm,esrnn --minutes 0.5 --json

Training uses one CPU thread; times depend on the machine and what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.forecasting.baselines import BASELINES
from rnnkit.tasks import forecasting, runs

# Data set → (horizon, lookback, relative). GDP growth is stationary and noisy: anchoring each window
# to its last value (``relative``, which lets co2's trend extrapolate) only adds that value's noise.
DATASETS = {"co2": (24, 72, True), "sunspots": (11, 44, True), "elnino": (12, 48, True), "macrodata": (8, 16, False)}
# Recurrent method → model settings.
RECURRENT = {
    "lstm": {"kind": "rnn", "cell": "lstm"},
    "gru": {"kind": "rnn", "cell": "gru"},
    "esrnn": {"kind": "esrnn", "cell": "lstm"},
}
METHODS = (*BASELINES, *RECURRENT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated (default: all four)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of: {', '.join(METHODS)}")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, default=1000, help="training steps per recurrent model (default 1000)")
    budget.add_argument("--minutes", type=float, help="or a time budget per recurrent model")
    parser.add_argument("--hidden", type=int, default=64, help="hidden units (default 64)")
    parser.add_argument("--layers", type=int, default=2, help="recurrent layers (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="keep the run directories here (default: a temporary directory)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    datasets, methods = args.datasets.split(","), args.methods.split(",")
    for name in datasets:
        if name not in DATASETS:
            parser.error(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    for name in methods:
        if name not in METHODS:
            parser.error(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.out or scratch)
        table = {name: run_dataset(name, methods, args, root) for name in datasets}
    if args.json:
        print(json.dumps(table))
    else:
        print_table(table, methods)
    return 0


def run_dataset(name: str, methods: list[str], args: argparse.Namespace, root: Path) -> dict[str, dict]:
    """Scores and seconds of every method on data set ``name``."""
    horizon, lookback, relative = DATASETS[name]
    budget = {"minutes": args.minutes} if args.minutes is not None else {"steps": args.steps}
    data = {"dataset": name, "horizon": horizon, "lookback": lookback}
    results: dict[str, dict] = {}
    baselines = tuple(m for m in methods if m in BASELINES)
    for method in methods:
        if method not in RECURRENT:
            continue
        model = RECURRENT[method] | {"hidden_size": args.hidden, "num_layers": args.layers, "relative": relative}
        settings = forecasting.ForecastTask.settings_from_record(
            {"data": data, "model": model, "train": budget | {"seed": args.seed}})
        run_dir = root / f"{name}-{method}"
        print(f"{name}: training {method} ({', '.join(f'{k} {v:g}' for k, v in budget.items())}) …", file=sys.stderr,
              flush=True)
        started = time.perf_counter()
        runs.train("forecast", settings, run_dir, callbacks=[], handle_signals=False, device="cpu")
        seconds = time.perf_counter() - started
        task, fitted = forecasting.load_run(run_dir)
        results[method] = forecasting.evaluate(task, fitted, ())["methods"]["model"] | {"seconds": seconds}
    if baselines:
        print(f"{name}: fitting {', '.join(baselines)} …", file=sys.stderr, flush=True)
        settings = forecasting.ForecastTask.settings_from_record({"data": data})
        task = forecasting.ForecastTask(settings, root)
        results |= forecasting.evaluate(task, None, baselines)["methods"]
    return {method: results[method] for method in methods}


def print_table(table: dict[str, dict[str, dict]], methods: list[str]) -> None:
    """Data set × method: MASE / sMAPE / seconds, the best recurrent model against the baselines."""
    print(f"{'data set':10s} {'method':15s} {'MASE':>7s} {'sMAPE':>7s} {'seconds':>8s}")
    for name, rows in table.items():
        for method, row in rows.items():
            print(f"{name:10s} {method:15s} {row['mase']:7.3f} {row['smape']:7.2f} {row['seconds']:8.1f}")
        recurrent = [m for m in rows if m in RECURRENT]
        if recurrent:
            best = min(recurrent, key=lambda m: rows[m]["mase"])
            beaten = [m for m in rows if m in BASELINES and rows[m]["mase"] > rows[best]["mase"]]
            print(f"{'':10s} best recurrent: {best} (MASE {rows[best]['mase']:.3f}); beats "
                  f"{', '.join(beaten) or 'no baseline'}")
        print()


if __name__ == "__main__":
    sys.exit(main())
