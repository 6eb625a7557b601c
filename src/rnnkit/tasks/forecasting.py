"""Forecasting: the next H values of one or several series from their last L, judged against baselines.

The data is a CSV file or a series statsmodels ships (:mod:`rnnkit.forecasting.data`), cut in
time into training, validation and test parts (:mod:`rnnkit.forecasting.windows`). The model —
the recurrent :class:`~rnnkit.models.forecaster.Forecaster` or the ES-RNN hybrid — trains on
windows drawn from the training part only, scaled by statistics of the training part only; the
validation part's mean absolute error (in the data's units) selects the best checkpoint; the test
part is for :func:`evaluate_run`: rolling-origin forecasts from every test origin, scored by MASE,
sMAPE and RMSE beside the baselines of :mod:`rnnkit.forecasting.baselines`, fitted on the same
training part. With several target columns (a panel) one model forecasts them all, each window
reading one series (ES-RNN keeps per-series smoothing coefficients). Known columns (``known``:
values known in advance, such as a planned promotion) are inputs over the lookback and, beside the
calendar, over the horizon; :func:`forecast_file` reads their future from the H rows after the data.

Artefact: ``forecast.json`` (columns, frequency, period, scaler, split), which
:func:`forecast_file` needs to forecast past the end of a file.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..data import DataError
from ..forecasting import baselines as baseline_models
from ..forecasting.data import DATASETS, FILLS, Series, calendar_features, load_dataset, read_csv
from ..forecasting.metrics import scores
from ..forecasting.windows import Scaler, gather, split_series
from ..models.esrnn import ESRNN
from ..models.forecaster import Forecaster, ForecasterConfig, pinball_loss
from ..training import Batch, CheckpointError, Selection, Shard, Task, TrainConfig, read_json, write_json
from ..training.batches import SampledBatches
from ..training.task import State

ARTEFACT = "forecast.json"
DEFAULT_STEPS = 1000
PREDICT_CHUNK = 1024          # windows per forward when predicting


@dataclass(frozen=True)
class ForecastData:
    """Which series, which columns, and how far back and ahead."""

    dataset: str | None = None          # a series bundled with statsmodels: co2, sunspots, nile, elnino, macrodata
    path: str | None = None             # or a CSV file
    target: tuple[str, ...] = ()        # target column(s) (a panel when several); default: the data set's
    time: str | None = None             # the CSV's time column (dates, or integer steps); None: rows 0, 1, …
    features: tuple[str, ...] = ()      # other input columns (past values only); a data set's own by default
    known: tuple[str, ...] = ()         # columns known in advance: inputs over the lookback and the horizon
    fill: str = "none"                  # gaps and empty cells: an error ("none"), "interpolate" or "ffill"
    horizon: int = 12                   # H: steps forecast
    lookback: int = 36                  # L: past steps each window reads
    period: int | None = None           # seasonal period; None: from the frequency, else detected
    val_fraction: float = 0.1           # the validation part (at least H rows)
    test_fraction: float = 0.2          # the test part (at least H rows), for rolling-origin evaluation
    origin_step: int = 1                # steps between rolling test origins

    def __post_init__(self) -> None:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give exactly one source of data: --data FILE.csv or --dataset "
                             f"({', '.join(DATASETS)})")
        if self.dataset is not None and self.dataset not in DATASETS:
            raise ValueError(f"unknown data set {self.dataset!r}; choose one of: {', '.join(DATASETS)}")
        if self.path is not None and not self.target:
            raise ValueError("a CSV file needs --target COLUMN (the column to forecast)")
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}; got {self.fill!r}")
        for name in self.known:
            if name in self.target or name in self.features or self.known.count(name) > 1:
                raise ValueError(f"known column {name!r} is also a target, a feature or given twice; a column is "
                                 f"one of --target, --features or --known")
        for name in ("horizon", "lookback", "origin_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive number of steps, got {getattr(self, name)}")
        if self.period is not None and self.period < 1:
            raise ValueError(f"period must be a positive integer, got {self.period}")
        for name in ("val_fraction", "test_fraction"):
            if not 0 <= getattr(self, name) < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5), got {getattr(self, name)}")


def load_series(data: ForecastData) -> Series:
    """The series ``data`` names, with the columns it asks for."""
    if data.path is not None:
        return read_csv(data.path, data.target, data.time, data.features, data.fill, data.known)
    series = load_dataset(data.dataset)
    if not data.target and not data.features and not data.known:
        return series
    columns = [*series.targets, *series.features]
    targets = list(data.target) or series.targets
    known = list(data.known)
    features = list(data.features) or [c for c in series.features if c not in targets and c not in known]
    for name in [*targets, *features, *known]:
        if name not in columns:
            raise ValueError(f"data set {data.dataset!r} has no column {name!r}; its columns are: {', '.join(columns)}")
    picked = series.values[:, [columns.index(name) for name in [*targets, *features, *known]]]
    return Series(picked, targets, features, series.index, series.freq, series.step, series.source, known,
                  np.zeros((0, len(known))))


class Prepared:
    """A series made ready for a model: scaled with ``scaler``, with the calendar, padded by H rows
    so that windows may end at the last row (forecasting past the end): unknowns, but for the known
    columns' future values the series holds."""

    def __init__(self, series: Series, scaler: Scaler, period: int, calendar: bool, horizon: int,
                 shift: tuple[float, ...]) -> None:
        self.series, self.horizon = series, horizon
        self.targets = len(series.targets)
        index = series.index.append(series.future_index(horizon))
        self.calendar = (calendar_features(index, series.freq, period, series.step) if calendar
                         else np.zeros((len(index), 0)))
        padding = np.full((horizon, series.values.shape[1]), np.nan)
        future = series.future[:horizon]
        padding[: len(future), series.values.shape[1] - len(series.known):] = future
        self.scaled = scaler.transform(np.concatenate([series.values, padding]))
        # ES-RNN's positive series (S, T): the targets plus each one's shift.
        self.positive = (series.target_values + np.asarray(shift)).T.copy()

    def windows(self, items: list[tuple[int, int]], lookback: int) -> dict[str, np.ndarray]:
        return gather(self.scaled, self.calendar, self.targets, items, lookback, self.horizon,
                      len(self.series.known))


class ForecastTask(Task):
    """Multi-step forecasting of a time series or a panel (module docstring)."""

    name = "forecast"
    unit = "windows"
    throughput_key = "windows_per_s"
    display_metric = "mae"
    sections = {"data": ForecastData, "model": ForecasterConfig, "train": TrainConfig}
    selection = Selection("mae", higher_is_better=False)

    @classmethod
    def settings_from_record(cls, record: dict, derived: bool = False) -> dict[str, Any]:
        train = record.get("train", {})
        if isinstance(train, dict) and "steps" not in train and "minutes" not in train:
            record = record | {"train": train | {"steps": DEFAULT_STEPS}}
        return super().settings_from_record(record, derived)

    def __init__(self, settings: dict[str, Any], cache_dir: Path) -> None:
        super().__init__(settings, cache_dir)
        data, model = settings["data"], settings["model"]
        if data.known and model.kind == "esrnn":
            raise ValueError("--known needs --model rnn: ES-RNN's network reads only its series' own "
                             "de-seasonalised past, so it cannot use known future values")
        self.series = load_series(data)
        self.split = split_series(len(self.series), data.lookback, data.horizon, data.val_fraction,
                                  data.test_fraction)
        train_rows = self.series.values[: self.split.train_end]
        self.period = baseline_models.detect_period(train_rows[:, 0], self.series.period(), data.period)
        self.scaler = Scaler.fit(train_rows)
        self.shift = positive_shift(train_rows[:, : len(self.series.targets)])
        self.prepared = Prepared(self.series, self.scaler, self.period, model.calendar, data.horizon, self.shift)
        self.train_items = self.items("train")
        self.val_items = self.items("val")

    def items(self, part: str) -> list[tuple[int, int]]:
        """(series, origin) of every window of ``part``."""
        data = self.settings["data"]
        step = data.origin_step if part == "test" else 1
        origins = self.split.origins(part, data.lookback, data.horizon, step)
        return [(s, o) for s in range(len(self.series.targets)) for o in origins]

    def build_model(self) -> nn.Module:
        data, config = self.settings["data"], self.settings["model"]
        if config.kind == "esrnn":
            return ESRNN(config, len(self.series.targets), self.period, data.lookback, data.horizon)
        calendar, known = self.prepared.calendar.shape[1], len(self.series.known)
        return Forecaster(config, 1 + len(self.series.features) + known + calendar, known + calendar, data.horizon)

    def train_batches(self, shard: Shard) -> SampledBatches:
        train = self.settings["train"]
        return SampledBatches(len(self.train_items), train.batch_size,
                              lambda indices: self.batch([self.train_items[i] for i in indices], training=True),
                              train.seed, shard)

    def batch(self, items: list[tuple[int, int]], training: bool = False) -> Batch:
        """The tensors of windows ``items``; in training, ES-RNN smooths the training rows only."""
        windows = self.prepared.windows(items, self.settings["data"].lookback)
        if self.settings["model"].relative and self.settings["model"].kind == "rnn":
            anchor = windows["inputs"][:, -1:, 0].copy()                          # (N, 1) the last value
            windows["inputs"][..., 0] -= anchor
            windows["targets"] = windows["targets"] - anchor
            windows["anchor"] = anchor
        data = {name: torch.from_numpy(windows[name]).float() for name in ("inputs", "known", "targets", "anchor")
                if name in windows}
        data |= {name: torch.from_numpy(windows[name]) for name in ("series", "origins")}
        if self.settings["model"].kind == "esrnn":
            end = self.split.train_end if training else self.prepared.positive.shape[1]
            data["values"] = torch.from_numpy(self.prepared.positive[:, :end]).float()
            future = windows["origins"][:, None] + np.arange(self.prepared.horizon)
            known = np.minimum(future, self.prepared.positive.shape[1] - 1)
            data["raw_targets"] = torch.from_numpy(self.prepared.positive[windows["series"][:, None], known]).float()
        return Batch(data, len(items))

    def loss(self, model: nn.Module, batch: Batch, state: State) -> tuple[Tensor, State]:
        config = self.settings["model"]
        if config.kind == "esrnn":
            log_quantiles, normaliser, penalty = model(batch["values"], batch["series"], batch["origins"])
            target = torch.log(batch["raw_targets"] / normaliser)
            return pinball_loss(log_quantiles, target, config.levels) + config.level_penalty * penalty, None
        teacher = batch["targets"] if config.head == "seq2seq" else None
        prediction = model(batch["inputs"], batch["known"], teacher)
        return pinball_loss(prediction, batch["targets"], config.levels), None

    def predict(self, model: nn.Module, items: list[tuple[int, int]]) -> np.ndarray:
        """(N, H, Q) quantile forecasts in the data's units for windows ``items`` (model in eval mode)."""
        device = next(model.parameters()).device
        config = self.settings["model"]
        chunks = []
        with torch.no_grad():
            for start in range(0, len(items), PREDICT_CHUNK):
                part = items[start: start + PREDICT_CHUNK]
                batch = self.batch(part).to(device)
                series = np.array([s for s, _ in part])
                if config.kind == "esrnn":
                    log_quantiles, normaliser, _ = model(batch["values"], batch["series"], batch["origins"])
                    values = (log_quantiles.exp() * normaliser.unsqueeze(-1)).double().cpu().numpy()
                    chunks.append(values - np.asarray(self.shift)[series][:, None, None])
                else:
                    scaled = model(batch["inputs"], batch["known"]).double().cpu().numpy()
                    if "anchor" in batch.data:
                        scaled = scaled + batch["anchor"].double().cpu().numpy()[:, :, None]
                    chunks.append(self.scaler.inverse(scaled, series))
        return np.concatenate(chunks)

    def validation_sums(self, model: nn.Module, shard: Shard) -> dict[str, float]:
        mine = self.val_items[shard.rank::shard.world_size]
        median = self.predict(model, mine)[..., self.settings["model"].median_index]
        truth = self.truth(mine)
        return {"abs_error": float(np.abs(median - truth).sum()), "count": float(truth.size)}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"mae": sums["abs_error"] / sums["count"]}

    def truth(self, items: list[tuple[int, int]]) -> np.ndarray:
        """(N, H): the true values of the windows' horizons."""
        horizon = self.settings["data"].horizon
        return np.stack([self.series.target_values[o: o + horizon, s] for s, o in items])

    def write_artefacts(self, run_dir: Path) -> None:
        write_json(run_dir / ARTEFACT, self.artefact())

    def artefact(self) -> dict[str, Any]:
        return {"targets": self.series.targets, "features": self.series.features, "known": self.series.known,
                "freq": self.series.freq,
                "step": self.series.step, "period": self.period, "source": self.series.source,
                "scaler": {"mean": list(self.scaler.mean), "scale": list(self.scaler.scale)},
                "shift": list(self.shift), "rows": len(self.series), "train_end": self.split.train_end,
                "val_end": self.split.val_end, "last_time": str(self.series.index[-1])}

    def check_resume(self, run_dir: Path) -> None:
        saved = read_json(run_dir / ARTEFACT)
        if saved["scaler"] != self.artefact()["scaler"]:
            raise CheckpointError(f"the data of {run_dir} changed since the run started (its training part's "
                                  f"statistics differ from {run_dir / ARTEFACT})")

    def describe(self, model: nn.Module) -> str:
        data, split = self.settings["data"], self.split
        parts = (f"train {split.train_end}, val {split.val_end - split.train_end}, "
                 f"test {len(self.series) - split.val_end}")
        return (f"{super().describe(model)} on {self.series.source}: {len(self.series.targets)} series, "
                f"{len(self.series)} rows ({parts}), lookback {data.lookback}, horizon {data.horizon}, "
                f"period {self.period}")


def positive_shift(targets: np.ndarray) -> tuple[float, ...]:
    """Per series, what to add so that the training part is positive (ES-RNN's multiplicative
    recursion): 0 when it already is, else −min + its standard deviation (+1 if that is 0)."""
    shifts = []
    for column in targets.T:
        low = float(column.min())
        shifts.append(0.0 if low > 0 else -low + (float(column.std()) or 1.0))
    return tuple(shifts)


def load_run(run_dir: str | Path) -> tuple[ForecastTask, nn.Module]:
    """A forecast run's task (its data read again and checked) and its best model, in eval mode."""
    from ..training import load_weights
    from . import runs

    run_dir = Path(run_dir)
    config = runs.read_config(run_dir)
    task = ForecastTask(ForecastTask.settings_from_record(config, derived=True), run_dir)
    task.check_resume(run_dir)
    model = task.build_model()
    load_weights(run_dir / "model.safetensors", model)
    return task, model.eval()


def evaluate(task: ForecastTask, model: nn.Module | None,
             methods: tuple[str, ...] = baseline_models.BASELINES) -> dict[str, Any]:
    """Rolling-origin test scores (MASE, sMAPE, RMSE) of the model (unless None) and of the baselines
    ``methods`` fitted on the training part, averaged over the series; with the forecasts from the
    last origin, for the plot."""
    items = task.items("test")
    if not items:
        raise ValueError("the test part holds no window: give a larger --test-fraction")
    horizon = task.settings["data"].horizon
    origins = sorted({o for _, o in items})
    rows: dict[str, list[dict[str, float]]] = {}
    last: dict[str, list] = {}
    if model is not None:
        started = time.perf_counter()
        quantiles = task.predict(model, items)                                      # (N, H, Q)
        seconds = (time.perf_counter() - started) / len(task.series.targets)
        truth, median = task.truth(items), quantiles[..., task.settings["model"].median_index]
        for s in range(len(task.series.targets)):
            mine = [i for i, (series, _) in enumerate(items) if series == s]
            rows.setdefault("model", []).append(scores(truth[mine], median[mine], _insample(task, s), task.period)
                                                | {"seconds": seconds})
            last.setdefault("model", []).append(quantiles[mine[-1]].tolist())
    for name in methods:
        for s in range(len(task.series.targets)):
            started = time.perf_counter()
            fitted = baseline_models.fit(name, _insample(task, s), task.period)
            values = task.series.target_values[:, s]
            forecasts = baseline_models.rolling_forecasts(fitted, values, origins, horizon)
            truth = np.stack([values[o: o + horizon] for o in origins])
            rows.setdefault(name, []).append(scores(truth, forecasts, _insample(task, s), task.period)
                                             | {"seconds": time.perf_counter() - started})
            last.setdefault(name, []).append(forecasts[-1].tolist())
    return {"origins": len(origins), "horizon": horizon, "period": task.period, "series": task.series.targets,
            "methods": {name: {key: float(np.mean([row[key] for row in per_series])) for key in per_series[0]}
                        for name, per_series in rows.items()},
            "last_origin": {"origin": origins[-1], "forecasts": last}}


def _insample(task: ForecastTask, series: int) -> np.ndarray:
    """The training part of target ``series``: what the baselines fit and MASE scales by."""
    return task.series.target_values[: task.split.train_end, series]


def evaluate_run(run_dir: str | Path, methods: tuple[str, ...] = baseline_models.BASELINES,
                 plot: bool = True) -> dict[str, Any]:
    """:func:`evaluate` for a run directory; writes ``eval.json`` and (with ``plot``) ``forecast.png`` there."""
    task, model = load_run(run_dir)
    result = evaluate(task, model, methods)
    write_json(Path(run_dir) / "eval.json", result)
    if plot:
        from ..forecasting.plots import plot_forecasts

        result["plot"] = str(plot_forecasts(task, result, Path(run_dir) / "forecast.png"))
    return result


def forecast_file(run_dir: str | Path, path: str | Path | None = None) -> pd.DataFrame:
    """The next H values after the end of ``path`` (default: the run's own data), with the
    timestamps continuing its frequency, and the quantiles when the model has them."""
    task, model = load_run(run_dir)
    saved = read_json(Path(run_dir) / ARTEFACT)
    data = task.settings["data"]
    series = task.series if path is None else read_csv(path, saved["targets"], data.time, saved["features"],
                                                       data.fill, data.known)
    if len(series) < data.lookback:
        raise ValueError(f"{path} has {len(series)} rows; the model reads the last {data.lookback} (its lookback)")
    _check_future(series, data.horizon)
    task.series, task.prepared = series, Prepared(series, task.scaler, task.period, task.settings["model"].calendar,
                                                  data.horizon, task.shift)
    items = [(s, len(series)) for s in range(len(series.targets))]
    quantiles = task.predict(model, items)                              # (S, H, Q)
    config = task.settings["model"]
    frame = pd.DataFrame(index=series.future_index(data.horizon))
    frame.index.name = data.time or ("time" if series.freq else "step")
    for s, name in enumerate(series.targets):
        frame[name] = quantiles[s, :, config.median_index]
        for k, level in enumerate(config.quantiles):
            frame[f"{name}_q{level:g}"] = quantiles[s, :, k]
    return frame


def _check_future(series: Series, horizon: int) -> None:
    """A forecast with known columns needs their values over all H steps after the data."""
    if not series.known or len(series.future) >= horizon:
        return
    ahead = series.future_index(horizon)
    raise DataError(f"{series.source}: known column(s) {', '.join(series.known)} need their values for the "
                    f"{horizon} steps after the last target value ({series.index[-1]}), but only "
                    f"{len(series.future)} row(s) follow it; add the rows {ahead[len(series.future)]} … {ahead[-1]} "
                    f"(the target empty, {', '.join(series.known)} filled)")


def summary_table(result: dict[str, Any]) -> str:
    """The scores of an evaluation as an aligned text table."""
    lines = [f"{'method':16s} {'MASE':>8s} {'sMAPE':>8s} {'RMSE':>10s}"]
    for name, row in result["methods"].items():
        lines.append(f"{name:16s} {row['mase']:8.3f} {row['smape']:8.2f} {row['rmse']:10.4g}")
    return "\n".join(lines)


def dumps(result: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in result.items() if k != "last_origin"})
