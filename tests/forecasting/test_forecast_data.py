"""Reading series: every bad input gets an error naming the file, the row or the setting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnkit.data import DataError
from rnnkit.forecasting.data import DATASETS, calendar_features, load_dataset, read_csv
from rnnkit.forecasting.windows import split_series
from rnnkit.tasks.forecasting import ForecastData


def write(tmp_path, text: str):
    path = tmp_path / "series.csv"
    path.write_text(text)
    return path


def monthly(tmp_path, values, start="2020-01-01"):
    dates = pd.date_range(start, periods=len(values), freq="MS")
    rows = "\n".join(f"{d.date()},{v}" for d, v in zip(dates, values))
    return write(tmp_path, "date,sales\n" + rows + "\n")


def test_monthly_file_reads_with_its_frequency(tmp_path):
    series = read_csv(monthly(tmp_path, [1, 2, 3, 4]), ["sales"], "date")
    assert series.freq == "MS"
    np.testing.assert_array_equal(series.target_values[:, 0], [1, 2, 3, 4])
    assert list(series.future_index(2)) == list(pd.to_datetime(["2020-05-01", "2020-06-01"]))


def test_missing_column_is_named(tmp_path):
    with pytest.raises(DataError, match="no column 'price'.*date, sales"):
        read_csv(monthly(tmp_path, [1, 2, 3]), ["price"], "date")


def test_non_numeric_cell_names_its_line(tmp_path):
    path = write(tmp_path, "date,sales\n2020-01-01,1\n2020-02-01,abc\n2020-03-01,3\n")
    with pytest.raises(DataError, match=r"line 3: column 'sales' holds 'abc', not a number"):
        read_csv(path, ["sales"], "date")


def test_unsorted_timestamps_are_refused(tmp_path):
    path = write(tmp_path, "date,sales\n2020-02-01,1\n2020-01-01,2\n2020-03-01,3\n")
    with pytest.raises(DataError, match=r"line 3: date 2020-01-01.*comes before.*sort the file"):
        read_csv(path, ["sales"], "date")


def test_duplicated_timestamps_are_refused(tmp_path):
    path = write(tmp_path, "date,sales\n2020-01-01,1\n2020-02-01,2\n2020-02-01,3\n")
    with pytest.raises(DataError, match=r"line 4: date 2020-02-01.* repeats line 3"):
        read_csv(path, ["sales"], "date")


def test_gap_names_the_first_missing_time_and_fill_fills_it(tmp_path):
    path = write(tmp_path, "date,sales\n2020-01-01,1\n2020-02-01,2\n2020-04-01,4\n2020-06-01,6\n")
    with pytest.raises(DataError, match=r"2 gap\(s\); the first missing time is 2020-03-01.*after line 3.*--fill"):
        read_csv(path, ["sales"], "date")
    filled = read_csv(path, ["sales"], "date", fill="interpolate")
    np.testing.assert_allclose(filled.target_values[:, 0], [1, 2, 3, 4, 5, 6])
    assert filled.freq == "MS"


def test_empty_cell_is_a_nan_error_naming_its_line(tmp_path):
    path = write(tmp_path, "date,sales\n2020-01-01,1\n2020-02-01,\n2020-03-01,3\n")
    with pytest.raises(DataError, match=r"line 3: column 'sales' is empty \(NaN\).*--fill"):
        read_csv(path, ["sales"], "date")
    np.testing.assert_allclose(read_csv(path, ["sales"], "date", fill="ffill").target_values[:, 0], [1, 1, 3])


def test_integer_time_column_gives_integer_steps(tmp_path):
    path = write(tmp_path, "t,y\n10,1\n12,2\n14,3\n")
    series = read_csv(path, ["y"], "t")
    assert series.freq is None and series.step == 2
    assert list(series.future_index(2)) == [16, 18]


def test_series_shorter_than_lookback_plus_horizon_is_refused():
    with pytest.raises(ValueError, match=r"fewer than lookback \+ horizon = 12 \+ 6"):
        split_series(25, lookback=12, horizon=6, val_fraction=0.1, test_fraction=0.2)


def test_horizon_of_zero_is_refused():
    with pytest.raises(ValueError, match="horizon must be a positive number of steps, got 0"):
        ForecastData(dataset="nile", horizon=0)


def test_a_csv_needs_a_target():
    with pytest.raises(ValueError, match="--target"):
        ForecastData(path="x.csv")


@pytest.mark.parametrize("name", DATASETS)
def test_bundled_datasets_are_regular_and_complete(name):
    series = load_dataset(name)
    assert not np.isnan(series.values).any()
    assert len(pd.date_range(series.index[0], periods=len(series), freq=series.freq)) == len(series)
    assert (pd.date_range(series.index[0], periods=len(series), freq=series.freq) == series.index).all()


def test_calendar_features_follow_the_month():
    index = pd.date_range("2020-01-01", periods=24, freq="MS")
    calendar = calendar_features(index, "MS", 12)
    np.testing.assert_allclose(calendar[:12], calendar[12:])
    np.testing.assert_allclose(calendar[3], [np.sin(2 * np.pi * 3 / 12), np.cos(2 * np.pi * 3 / 12)])
