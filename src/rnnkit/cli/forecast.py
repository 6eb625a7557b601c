"""Forecasting on the command line: the flags of ``rnnkit train forecast``, its evaluation in
``rnnkit eval``, and ``rnnkit forecast RUN_DIR --data FILE.csv``, which writes the next H values."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ..data import DataError
from ..forecasting.baselines import BASELINES
from ..forecasting.data import DATASETS, FILLS
from ..models.forecaster import HEADS, KINDS, ForecasterConfig
from ..tasks import forecasting, runs
from ..training import CheckpointError
from . import options
from .flags import Flag, train_flags


def columns(text: str) -> tuple[str, ...]:
    """argparse type: comma-separated column names."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def levels(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated quantile levels."""
    try:
        return tuple(float(level) for level in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.1,0.5,0.9, got {text!r}") \
            from None


def forecast_flags() -> dict[str, list[Flag]]:
    d, m = forecasting.ForecastData, ForecasterConfig
    data = [
        Flag("data", "data", "path", "a CSV file with a header row", str, metavar="FILE.csv"),
        Flag("dataset", "data", "dataset", "or a real series bundled with statsmodels (no download)", str,
             choices=DATASETS),
        Flag("target", "data", "target", "the column(s) to forecast, comma-separated (several: a panel)", columns,
             metavar="COLUMN"),
        Flag("time", "data", "time", "the time column: dates (frequency inferred) or integer steps (default: rows "
             "0, 1, …)", str, metavar="COLUMN"),
        Flag("features", "data", "features", "other input columns, comma-separated (their past only)", columns,
             metavar="COLUMNS"),
        Flag("known", "data", "known", "columns known in advance (a promotion, a holiday, a price), comma-separated: "
             "inputs over the lookback and the horizon; `rnnkit forecast` needs their H future rows", columns,
             metavar="COLUMNS"),
        Flag("fill", "data", "fill", "fill gaps in the time index and empty cells instead of refusing them", str, d,
             choices=FILLS),
        Flag("horizon", "data", "horizon", "steps to forecast", int, d, metavar="H"),
        Flag("lookback", "data", "lookback", "past steps each forecast reads", int, d, metavar="L"),
        Flag("period", "data", "period", "seasonal period (default: from the frequency, else detected)", int,
             metavar="M"),
        Flag("val-fraction", "data", "val_fraction", "last part before the test part, for checkpoint selection",
             float, d, metavar="F"),
        Flag("test-fraction", "data", "test_fraction", "last part of the series, for rolling-origin evaluation",
             float, d, metavar="F"),
        Flag("origin-step", "data", "origin_step", "steps between rolling test origins", int, d, metavar="N"),
    ]
    model = [
        Flag("model", "model", "kind", "rnn: the recurrent forecaster; esrnn: exponential smoothing + RNN (Smyl "
             "2020)", str, m, choices=KINDS),
        Flag("cell", "model", "cell", "recurrent cell, any of `rnnkit cells`", str, m),
        Flag("hidden", "model", "hidden_size", "hidden units per layer", int, m, metavar="H"),
        Flag("layers", "model", "num_layers", "stacked layers", int, m, metavar="L"),
        Flag("head", "model", "head", "direct: all H values from the last state; seq2seq: a decoder rolls the "
             "horizon out", str, m, choices=HEADS),
        Flag("dropout", "model", "dropout", "dropout between stacked layers", float, m, metavar="P"),
        Flag("quantiles", "model", "quantiles", "quantile levels, e.g. 0.1,0.5,0.9 (pinball loss; default: a "
             "point forecast)", levels, metavar="Q,Q,…"),
        Flag("calendar", "model", "calendar", "feed the position in the season (sin, cos)", owner=m, switch=True),
        Flag("relative", "model", "relative", "rnn: forecast changes from each window's last value", owner=m,
             switch=True),
        Flag("level-penalty", "model", "level_penalty", "ES-RNN: weight of the level-wiggliness penalty", float, m,
             metavar="W"),
        Flag("engine", "model", "engine", "engine: auto, fused, bptt, bptt-recompute, autograd", str, m),
    ]
    flags = train_flags(lm=False)
    flags["budget"][0] = dataclasses.replace(flags["budget"][0], default=forecasting.DEFAULT_STEPS)
    return {"data": data, "model": model} | flags


EXAMPLES = """examples:
  rnnkit train forecast --dataset co2 --horizon 24 --lookback 72 --out runs/co2
      an LSTM forecasts 24 months of Mauna Loa CO2 (statsmodels' series, no download)
  rnnkit train forecast --dataset elnino --model esrnn --horizon 12 --lookback 36
      Smyl's ES-RNN hybrid: learned level and seasonality smoothing with a recurrent network
  rnnkit train forecast --data sales.csv --time date --target sales --features price,promo \\
      --horizon 14 --lookback 56 --quantiles 0.1,0.5,0.9 --cell gru
      your own CSV, other columns as inputs, with a 10–90 % band (pinball loss)
  rnnkit train forecast --data sales.csv --time date --target sales --known promo,holiday --horizon 14
      planned promotions and holidays, known in advance, read for the forecast's 14 days too
  rnnkit train forecast --data sales.csv --time date --target north,south,east --fill interpolate
      a panel of three series forecast by one model; gaps and empty cells interpolated
  rnnkit eval runs/co2
      MASE, sMAPE and RMSE over rolling test origins, beside naive, seasonal naive, ETS, ARIMA, Theta and a
      Kalman-filter local level fitted on the same training part (eval.json, forecast.png)
  rnnkit forecast runs/co2 --out next.csv
      the next H values after the end of the data, with their timestamps

exit status as for `rnnkit train lm`.
"""

SUMMARY = ("forecast time series (recurrent forecasters and ES-RNN against classical baselines)", forecast_flags,
           "Train a recurrent forecaster on a CSV file or a real series: windows of the past L steps predict the next "
           "H, the series cut in time into training, validation (checkpoint selection) and test (rolling-origin "
           "evaluation) parts, scaled by the training part only.", EXAMPLES)


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit eval``'s options for a forecast run."""
    # Shared by every task that has baselines: a bare --baselines means all of them.
    parser.add_argument("--baselines", type=columns, nargs="?", const=("all",), metavar="NAMES",
                        help="the baselines to score beside the model, comma-separated, or all when no names are "
                             f"given: forecast runs {','.join(BASELINES)} (default all); language-model runs "
                             "ngram,hmm,window (default none)")


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit eval RUN_DIR`` of a forecast run: the scores table, eval.json and forecast.png."""
    methods = getattr(args, "baselines", None) or BASELINES
    methods = BASELINES if tuple(methods) == ("all",) else methods
    unknown = [name for name in methods if name not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline {unknown[0]!r}; choose from: {', '.join(BASELINES)}")
    print(f"fitting baselines ({', '.join(methods)}) on the training part and forecasting every test origin …",
          file=sys.stderr, flush=True)
    result = forecasting.evaluate_run(args.run_dir, tuple(methods))
    if args.json:
        print(forecasting.dumps(result))
        return 0
    print(f"test part: {result['origins']} rolling origins, horizon {result['horizon']}, period {result['period']}, "
          f"{len(result['series'])} series")
    print(forecasting.summary_table(result))
    print(f"plot: {result['plot']}")
    return 0


FORECAST_EXAMPLES = """examples:
  rnnkit forecast runs/co2
      the next H values after the end of the run's own data, as CSV on stdout
  rnnkit forecast runs/sales --data sales_latest.csv --out next.csv
      after the end of a newer file with the same columns (the last --lookback rows are read); a run
      trained with --known needs H more rows there, the target empty and the known columns filled
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forecast", help="write the next H values after the end of a series (a `train forecast` run)",
        description="Forecast the next H steps after the end of a CSV file (or the run's own data) with the best "
                    "checkpoint of a forecast run; timestamps continue the file's frequency, and quantile columns "
                    "NAME_qLEVEL follow when the model has them.",
        epilog=FORECAST_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `rnnkit train forecast`")
    parser.add_argument("--data", metavar="FILE.csv", help="the series to continue (default: the run's own data)")
    parser.add_argument("--out", metavar="FILE.csv", help="write the forecast here (default: stdout)")
    options.add_threads(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config_task = runs.read_config(args.run_dir)["task"]
        if config_task != forecasting.ForecastTask.name:
            raise CheckpointError(f"{args.run_dir} holds a {config_task!r} run, not a forecast run")
        frame = forecasting.forecast_file(args.run_dir, args.data)
    except (DataError, CheckpointError, ValueError) as error:
        print(f"rnnkit forecast: error: {error}", file=sys.stderr)
        return 2
    if args.out is None:
        sys.stdout.write(frame.to_csv())
    else:
        frame.to_csv(args.out)
        print(f"wrote {len(frame)} steps to {args.out}", file=sys.stderr)
    return 0

