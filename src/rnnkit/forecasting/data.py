"""Time series for forecasting: a CSV file checked row by row, or a real series statsmodels ships.

A :class:`Series` holds one or several target columns (a panel forecast together), optional
input-only feature columns and optional *known* columns (known in advance: a planned promotion, a
holiday, a price), on a regular time index: timestamps with a pandas frequency, or integer steps.
Reading a CSV refuses, with the file and the line, what would silently spoil a forecast: a missing
or non-numeric column, empty cells (NaN), unsorted or repeated timestamps, and gaps in the time
index (the first one named; ``fill="interpolate"`` or ``"ffill"`` fills them, and empty cells,
instead).

With known columns, the rows after the last one holding a target value are the *future*: the
targets empty, the known columns filled (an empty one is an error naming its line), the time
continuing. They are kept apart from the series, in ``Series.future``, for forecasting past the end.

The bundled data sets need no download: they are read from statsmodels' package (``DATASETS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import DataError

DATASETS = ("co2", "sunspots", "nile", "elnino", "macrodata")
FILLS = ("none", "interpolate", "ffill")
# Seasonal period of a pandas frequency, by its leading letters (longest first).
PERIODS = (("MS", 12), ("ME", 12), ("M", 12), ("QS", 4), ("QE", 4), ("Q", 4), ("W", 52), ("D", 7),
           ("h", 24), ("YS", 1), ("YE", 1), ("Y", 1), ("min", 60))


@dataclass
class Series:
    """Columns ``targets + features + known`` of a regular time series.

    ``values`` is (T, K) float64, the targets first, the known columns last. ``index`` holds the T
    timestamps (a ``DatetimeIndex`` whose frequency is ``freq``) or integer steps ``step`` apart
    (``freq`` None). ``future`` is (n, len(known)): the known columns of the n rows after the last.
    """

    values: np.ndarray
    targets: list[str]
    features: list[str]
    index: pd.Index
    freq: str | None
    step: int = 1
    source: str = ""
    known: list[str] = field(default_factory=list)
    future: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def __len__(self) -> int:
        return len(self.values)

    @property
    def target_values(self) -> np.ndarray:
        """(T, S): the S target series."""
        return self.values[:, :len(self.targets)]

    def period(self) -> int:
        """The seasonal period its frequency implies (12 for monthly, 4 quarterly, …; 1 for none)."""
        return period_of(self.freq)

    def future_index(self, horizon: int) -> pd.Index:
        """The ``horizon`` timestamps (or steps) after the last one, continuing the frequency."""
        return future_index(self.index, self.freq, self.step, horizon)


def period_of(freq: str | None) -> int:
    if freq is None:
        return 1
    for prefix, period in PERIODS:
        if freq.startswith(prefix):
            return period
    return 1


def future_index(index: pd.Index, freq: str | None, step: int, horizon: int) -> pd.Index:
    if freq is None:
        return pd.Index(int(index[-1]) + step * np.arange(1, horizon + 1))
    return pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:]


def calendar_features(index: pd.Index, freq: str | None, period: int, step: int = 1) -> np.ndarray:
    """(T, 2): sin and cos of the position in the season (none, (T, 0), when period is 1).

    A calendar is known in the future, so the forecasters read it for the horizon's steps too.
    """
    if period <= 1:
        return np.zeros((len(index), 0))
    if freq is None:
        position = (np.asarray(index, dtype=np.int64) // step) % period
    else:
        stamps = pd.DatetimeIndex(index)
        position = {12: stamps.month - 1, 4: stamps.quarter - 1, 52: stamps.isocalendar().week.to_numpy() - 1,
                    7: stamps.day_of_week, 24: stamps.hour, 60: stamps.minute}.get(period)
        if position is None:
            position = np.arange(len(index)) % period
    angle = 2 * np.pi * np.asarray(position, dtype=np.float64) / period
    return np.stack([np.sin(angle), np.cos(angle)], axis=1)


def read_csv(path: str | Path, targets: Sequence[str], time: str | None = None, features: Sequence[str] = (),
             fill: str = "none", known: Sequence[str] = ()) -> Series:
    """The columns ``targets``, ``features`` and ``known`` of a CSV file, on the time index of column
    ``time`` (integer steps 0, 1, … without one), every check of the module docstring applied."""
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {', '.join(FILLS)}; got {fill!r}")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not a readable CSV file: {error}") from None
    columns = [*targets, *features, *known]
    if not targets:
        raise ValueError("give at least one target column (--target)")
    for name in [*columns, *([time] if time else [])]:
        if name not in frame.columns:
            raise DataError(f"{path} has no column {name!r}; its columns are: {', '.join(frame.columns)}")
    if len(frame) == 0:
        raise DataError(f"{path} has a header but no rows")
    values = np.stack([_numeric(frame[name], name, path) for name in columns], axis=1)
    if time is None:
        index, freq, step = pd.RangeIndex(len(frame)), None, 1
    else:
        index, freq, step = _time_index(frame[time], time, path)
        values, index = _regular(values, index, freq, step, path, fill)
    future = np.zeros((0, 0))
    if known:
        values, future = _split_future(values, len(targets), list(known), index, path)
        index = index[: len(values)]
    values = _no_nans(values, columns, index, path, fill)
    return Series(values, list(targets), list(features), index, freq, step, str(path), list(known), future)


def _line(row: int) -> int:
    """The file's line number of data row ``row`` (the header is line 1)."""
    return row + 2


def _numeric(column: pd.Series, name: str, path: Path) -> np.ndarray:
    """A column as float64: empty cells become NaN (checked later), anything else non-numeric is an error."""
    text = column.str.strip()
    numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = numbers.isna() & (text != "") & ~text.str.lower().isin(["nan", "na"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path} line {_line(row)}: column {name!r} holds {column.iloc[row]!r}, not a number")
    return numbers.to_numpy(dtype=np.float64)


def _time_index(column: pd.Series, name: str, path: Path) -> tuple[pd.Index, str | None, int]:
    """Timestamps (or integer steps) of the time column, sorted and unique, with their frequency."""
    text = column.str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all() and (numbers == numbers.round()).all():
        index = pd.Index(numbers.astype(np.int64).to_numpy())
    else:
        stamps = pd.to_datetime(text, errors="coerce", format="mixed")
        if stamps.isna().any():
            row = int(np.flatnonzero(stamps.isna().to_numpy())[0])
            raise DataError(f"{path} line {_line(row)}: {name!r} holds {column.iloc[row]!r}, not a date or time")
        index = pd.DatetimeIndex(stamps)
    _check_order(index, name, path)
    if len(index) < 2:
        raise DataError(f"{path} has {len(index)} row: a time series needs more to forecast from")
    if isinstance(index, pd.DatetimeIndex):
        return index, _frequency(index, path), 1
    step = int(np.diff(index.to_numpy()).min())
    return index, None, step


def _check_order(index: pd.Index, name: str, path: Path) -> None:
    positions = np.asarray(index)
    for row in range(1, len(positions)):
        # Rows before ``row`` are sorted, so a repeated time can only repeat the previous row.
        if positions[row] == positions[row - 1]:
            raise DataError(f"{path} line {_line(row)}: {name} {index[row]} repeats line {_line(row - 1)}")
        if positions[row] < positions[row - 1]:
            raise DataError(f"{path} line {_line(row)}: {name} {index[row]} comes before the previous row's "
                            f"{index[row - 1]}: sort the file by {name}")


def _frequency(index: pd.DatetimeIndex, path: Path) -> str:
    """The coarsest regular frequency whose range from the first to the last timestamp holds them all."""
    first = index[0]
    month = first.strftime("%b").upper()
    candidates = ["min", "h", "D", f"W-{first.strftime('%a').upper()}", "MS", "ME", f"QS-{month}", f"QE-{month}",
                  f"YS-{month}", f"YE-{month}"]
    best = None
    for freq in candidates:
        grid = pd.date_range(first, index[-1], freq=freq)
        if len(grid) and grid[0] == first and index.isin(grid).all() and (best is None or len(grid) < best[1]):
            best = (freq, len(grid))
    if best is None:
        raise DataError(f"{path}: the timestamps follow no regular frequency (minutes, hours, days, weeks, months, "
                        f"quarters or years)")
    return best[0]


def _regular(values: np.ndarray, index: pd.Index, freq: str | None, step: int, path: Path,
             fill: str) -> tuple[np.ndarray, pd.Index]:
    """The rows on a gap-free index: an error naming the first gap, or the gaps filled."""
    if len(index) < 2:
        return values, index
    if freq is None:
        grid = pd.Index(np.arange(int(index[0]), int(index[-1]) + 1, step))
    else:
        grid = pd.date_range(index[0], index[-1], freq=freq)
    if len(grid) == len(index):
        return values, grid
    missing = grid.difference(index)
    if fill == "none":
        before = int(np.searchsorted(np.asarray(index), np.asarray(missing[:1]))[0]) - 1
        raise DataError(f"{path}: the time index has {len(missing)} gap(s); the first missing time is {missing[0]} "
                        f"(after line {_line(before)}); fill them with --fill interpolate or --fill ffill")
    frame = pd.DataFrame(values, index=index).reindex(grid)
    return frame.to_numpy(), grid


def _split_future(values: np.ndarray, targets: int, known: list[str], index: pd.Index,
                  path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The rows up to the last with a target value, and the known columns (n, len(known)) of the rows
    after it, which must all be filled: the future is never interpolated."""
    has_target = ~np.isnan(values[:, :targets]).all(axis=1)
    if not has_target.any():
        raise DataError(f"{path} has no row with a target value")
    end = int(np.flatnonzero(has_target)[-1]) + 1
    future = values[end:, values.shape[1] - len(known):]
    if np.isnan(future).any():
        row, column = (int(i[0]) for i in np.nonzero(np.isnan(future)))
        raise DataError(f"{path} line {_line(end + row)}: known column {known[column]!r} is empty at "
                        f"{index[end + row]}, a future row (after the last target value, line {_line(end - 1)}); "
                        f"give its planned value")
    return values[:end], future


def _no_nans(values: np.ndarray, columns: list[str], index: pd.Index, path: Path, fill: str) -> np.ndarray:
    if not np.isnan(values).any():
        return values
    if fill == "none":
        row, column = (int(i[0]) for i in np.nonzero(np.isnan(values)))
        raise DataError(f"{path} line {_line(row)}: column {columns[column]!r} is empty (NaN) at {index[row]}; "
                        f"fill it in, or pass --fill interpolate or --fill ffill")
    frame = pd.DataFrame(values)
    frame = frame.interpolate(limit_direction="both") if fill == "interpolate" else frame.ffill().bfill()
    return frame.to_numpy()


def load_dataset(name: str) -> Series:
    """A real series bundled with statsmodels, as a regular :class:`Series` (module docstring).

    - ``co2``: Mauna Loa CO2 (ppm), monthly means of the weekly record, missing weeks interpolated.
    - ``sunspots``: yearly sunspot numbers, 1700–2008.
    - ``nile``: yearly Nile flow volume at Aswan, 1871–1970.
    - ``elnino``: monthly sea-surface temperature of the El Niño region, 1950–2010.
    - ``macrodata``: US quarterly real GDP growth (100·Δlog, % per quarter) with the other
      macro series as inputs (growth rates of the levels, the rates as they are), 1959Q2–2009Q3.
    """
    import statsmodels.api as sm

    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)}")
    data = getattr(sm.datasets, name).load_pandas().data
    source = f"statsmodels.datasets.{name}"
    if name == "co2":
        monthly = data["co2"].resample("MS").mean().interpolate()
        return _single(monthly.to_numpy(), "co2", monthly.index, "MS", source)
    if name in ("sunspots", "nile"):
        year, column = ("YEAR", "SUNACTIVITY") if name == "sunspots" else ("year", "volume")
        index = pd.to_datetime(data[year].astype(int).astype(str), format="%Y")
        return _single(data[column].to_numpy(), column.lower(), pd.DatetimeIndex(index, freq="YS-JAN"), "YS-JAN",
                       source)
    if name == "elnino":
        temperatures = data.drop(columns="YEAR").to_numpy().reshape(-1)
        index = pd.date_range(f"{int(data['YEAR'].iloc[0])}-01-01", periods=len(temperatures), freq="MS")
        return _single(temperatures, "temperature", index, "MS", source)
    index = pd.date_range(f"{int(data['year'].iloc[0])}-01-01", periods=len(data), freq="QS-JAN")
    levels = ["realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "pop"]
    rates = ["tbilrate", "unemp", "infl", "realint"]
    growth = 100 * np.log(data[levels]).diff()
    frame = pd.concat([growth.add_suffix("_growth"), data[rates]], axis=1).iloc[1:]
    frame = frame.rename(columns={"realgdp_growth": "gdp_growth"})
    features = [c for c in frame.columns if c != "gdp_growth"]
    return Series(frame[["gdp_growth", *features]].to_numpy(np.float64), ["gdp_growth"], features, index[1:],
                  "QS-JAN", 1, source)


def _single(values: np.ndarray, name: str, index: pd.Index, freq: str, source: str) -> Series:
    return Series(np.asarray(values, dtype=np.float64).reshape(-1, 1), [name], [], index, freq, 1, source)
