"""Chronological splits, scaling fitted on the training part, and the windows a forecaster reads.

The series is cut in time, never shuffled across it::

    rows   0 ……………………… train_end ………… val_end ……………… T
           [    train          )[   validation  )[     test     )

A window at origin o reads the L rows before it and predicts the H rows from it::

    inputs  rows o−L … o−1      targets  rows o … o+H−1      (known columns, calendar: rows o … o+H−1)

Training origins keep inputs *and* targets inside the training part (L ≤ o ≤ train_end − H);
validation origins put the targets inside the validation part, test origins inside the test part
(every origin from val_end to T − H, ``origin_step`` apart: rolling-origin evaluation). The
scaler's mean and standard deviation are those of the training rows only. A training window's
known columns come from rows before train_end too, so no validation or test value reaches training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Row boundaries of the three parts (module docstring)."""

    train_end: int
    val_end: int
    length: int

    def origins(self, part: str, lookback: int, horizon: int, step: int = 1) -> list[int]:
        """The window origins of ``part`` ("train", "val" or "test")."""
        first, last = {"train": (lookback, self.train_end - horizon),
                       "val": (max(self.train_end, lookback), self.val_end - horizon),
                       "test": (max(self.val_end, lookback), self.length - horizon)}[part]
        return list(range(first, last + 1, step))


def split_series(length: int, lookback: int, horizon: int, val_fraction: float, test_fraction: float) -> Split:
    """Validation and test parts of at least ``horizon`` rows each (their fraction of the series
    otherwise), the rest for training, which must hold one window of L + H rows at least."""
    if horizon < 1:
        raise ValueError(f"horizon must be a positive number of steps, got {horizon}")
    if lookback < 1:
        raise ValueError(f"lookback must be a positive number of steps, got {lookback}")
    val = max(horizon, round(val_fraction * length))
    test = max(horizon, round(test_fraction * length))
    train = length - val - test
    if train < lookback + horizon:
        raise ValueError(f"the series has {length} rows: after the validation ({val}) and test ({test}) parts, "
                         f"{train} remain for training, fewer than lookback + horizon = {lookback} + {horizon}; "
                         f"give a longer series or a shorter --lookback/--horizon")
    return Split(train, train + val, length)


@dataclass(frozen=True)
class Scaler:
    """Per-column standardisation z = (x − mean) / scale, fitted on the training rows only."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, train_rows: np.ndarray) -> Scaler:
        mean = train_rows.mean(axis=0)
        scale = train_rows.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)        # a constant column is only centred
        return cls(tuple(map(float, mean)), tuple(map(float, scale)))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - np.asarray(self.mean)) / np.asarray(self.scale)

    def inverse(self, values: np.ndarray, column: int | np.ndarray) -> np.ndarray:
        """``values`` of column(s) ``column`` back to the data's units (broadcast over trailing axes)."""
        mean, scale = np.asarray(self.mean)[column], np.asarray(self.scale)[column]
        extra = values.ndim - np.ndim(mean)
        return values * np.reshape(scale, np.shape(scale) + (1,) * extra) + np.reshape(mean, np.shape(mean) +
                                                                                         (1,) * extra)


def gather(scaled: np.ndarray, calendar: np.ndarray, targets: int, items: list[tuple[int, int]], lookback: int,
           horizon: int, known: int = 0) -> dict[str, np.ndarray]:
    """The windows of ``items`` = [(series s, origin o), …] from ``scaled`` (T, K) rows, whose last
    ``known`` columns are known in advance.

    Returns ``inputs`` (N, L, 1 + F + C): target s, the F columns after the targets (the known ones
    among them) and the calendar; ``known`` (N, H, known + C): the known columns and the calendar of
    the horizon; ``targets`` (N, H): target s over the horizon; ``series`` (N,) and ``origins`` (N,).
    """
    series = np.array([s for s, _ in items], dtype=np.int64)
    origins = np.array([o for _, o in items], dtype=np.int64)
    past = origins[:, None] + np.arange(-lookback, 0)                       # (N, L) row numbers
    future = origins[:, None] + np.arange(horizon)                          # (N, H)
    features = scaled[:, targets:]
    inputs = np.concatenate([scaled[past, series[:, None]][..., None], features[past], calendar[past]], axis=-1)
    ahead = np.concatenate([scaled[future, scaled.shape[1] - known:], calendar[future]], axis=-1)
    return {"inputs": inputs, "known": ahead, "targets": scaled[future, series[:, None]],
            "series": series, "origins": origins}
