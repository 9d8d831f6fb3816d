"""Reading series as people have them: time columns, missing values, gaps, bad cells, the standard splits."""

import numpy as np
import pandas as pd
import pytest

from apps.forecast.baselines import LinearBaseline, last_value, seasonal_naive
from apps.forecast.config import ForecastConfig
from apps.forecast.data import fill_gaps, fit_scaler, load_series, seasonal_period, windows
from tests.apps.forecast.conftest import messy_frame, write_csv

SMALL = ForecastConfig(seq_len=24, horizon=12)


def hourly(steps, start="2022-03-01", **columns):
    frame = pd.DataFrame({"date": pd.date_range(start, periods=steps, freq="h").strftime("%Y-%m-%d %H:%M:%S")})
    for name, values in columns.items():
        frame[name] = values
    return frame


def test_messy_file_is_read_and_everything_it_did_is_counted(tmp_path):
    path = write_csv(tmp_path / "messy.csv", messy_frame(1200))
    series = load_series(str(path), ForecastConfig(seq_len=24, horizon=12, covariates="wind"))
    report = series.report
    assert report.duplicates == 1 and report.gaps == 1 and report.missing_timestamps == 2
    assert series.steps == 1200 and series.step_seconds == 3600 and series.period == 24
    assert series.targets == ["load", "temperature", "price", "humidity"]
    assert series.columns[4:] == ["wind=NW", "wind=SE"]  # the categorical covariate, one-hot
    assert set(np.unique(series.values[:, 4:][~np.isnan(series.values[:, 4:])])) <= {0.0, 1.0}
    # NA / empty cells and the two missing timestamps are interpolated; the 12-hour gap is not (max_gap 6).
    assert all(count > 0 for count in report.filled.values())
    assert report.long_gaps == {"load": 12, "temperature": 12, "price": 12, "humidity": 12}
    assert report.windows_dropped["train"] == 24 + 12 + 12 - 1  # every window touching the gap
    assert not np.isnan(series.values[series.window_starts("train", SMALL)[:, None] + np.arange(36)]).any()
    text = series.describe(SMALL)
    assert "1 repeated timestamps" in text and "2 missing steps added" in text and "windows dropped" in text


def test_standard_ratio_split_scores_every_target_step_once_per_window_position():
    config = ForecastConfig(seq_len=24, horizon=12)
    series_steps = 1000
    from apps.forecast.data import split_borders

    borders = split_borders("ratio", series_steps, 3600, config)
    assert borders == {"train": (0, 700), "val": (700, 800), "test": (800, 1000)}


def test_validation_and_test_windows_start_seq_len_before_their_split(tmp_path):
    path = write_csv(tmp_path / "clean.csv", hourly(1000, x=np.sin(np.arange(1000) / 5)))
    series = load_series(str(path), SMALL)
    for split in ("val", "test"):
        first, end = series.borders[split]
        starts = series.window_starts(split, SMALL)
        assert starts[0] == first - 24  # the first window forecasts the split's first step
        assert starts[-1] + 24 + 12 == end  # and the last one its last step: none left out
        assert len(starts) == end - first - 12 + 1
    assert series.window_starts("train", SMALL)[-1] + 36 == series.borders["train"][1]


def test_ett_files_take_the_benchmark_months_by_name(tmp_path):
    steps = 20 * 30 * 24 + 50
    path = write_csv(tmp_path / "ETTh9.csv", hourly(steps, start="2016-07-01", OT=np.cos(np.arange(steps) / 7)))
    series = load_series(str(path), ForecastConfig(seq_len=96, horizon=96))
    assert series.split_kind == "ett"
    assert series.borders == {"train": (0, 8640), "val": (8640, 11520), "test": (11520, 14400)}
    assert len(series.window_starts("test", ForecastConfig(seq_len=96, horizon=96))) == 2880 - 96 + 1
    other = write_csv(tmp_path / "plant.csv", hourly(steps, OT=np.cos(np.arange(steps) / 7)))
    assert load_series(str(other), ForecastConfig()).split_kind == "ratio"
    assert load_series(str(other), ForecastConfig(split="ett")).split_kind == "ett"


def test_scaling_statistics_come_from_the_training_part_only(tmp_path):
    values = np.concatenate([np.zeros(700), np.full(300, 100.0)]) + np.tile([-1.0, 1.0], 500)
    path = write_csv(tmp_path / "shift.csv", hourly(1000, x=values))
    scaler = fit_scaler(load_series(str(path), SMALL))
    assert scaler["mean"] == pytest.approx([0.0]) and scaler["std"] == pytest.approx([1.0])


def test_year_month_day_hour_columns_make_the_time_and_a_row_counter_is_ignored(tmp_path):
    stamps = pd.date_range("2014-01-01", periods=200, freq="h")
    frame = pd.DataFrame({"No": np.arange(1, 201), "year": stamps.year, "month": stamps.month, "day": stamps.day,
                          "hour": stamps.hour, "pm2.5": np.where(np.arange(200) % 50 == 7, "NA", "12"),
                          "cbwd": np.where(np.arange(200) % 3, "NW", "cv")})
    path = write_csv(tmp_path / "pm.csv", frame)
    series = load_series(str(path), ForecastConfig(seq_len=24, horizon=12, targets="pm2.5", covariates="cbwd"))
    assert series.time_column == "year,month,day,hour" and "No" in series.report.ignored
    assert series.columns == ["pm2.5", "cbwd=NW", "cbwd=cv"] and series.steps == 200
    assert series.report.filled["pm2.5"] == 4


def test_a_folder_of_csv_files_is_one_series_in_time_order(tmp_path):
    frame = hourly(600, x=np.arange(600.0))
    write_csv(tmp_path / "parts" / "b.csv", frame.iloc[:300])  # the names sort against time
    write_csv(tmp_path / "parts" / "a.csv", frame.iloc[300:])
    series = load_series(str(tmp_path / "parts"), SMALL)
    assert series.steps == 600 and series.report.files == 2
    np.testing.assert_array_equal(series.values[:, 0], np.arange(600.0))


def test_calendar_features_are_optional_inputs(tmp_path):
    path = write_csv(tmp_path / "c.csv", hourly(300, x=np.arange(300.0)))
    series = load_series(str(path), ForecastConfig(seq_len=24, horizon=12, calendar=True))
    assert series.columns[1:] == ["hour_of_day_sin", "hour_of_day_cos", "day_of_week_sin", "day_of_week_cos",
                                  "month_of_year_sin", "month_of_year_cos"]
    assert series.targets == ["x"]


@pytest.mark.parametrize("case, expected", [
    ("no_time_column", r"no time column \(looked for date.*its columns are: when, x.*time_column"),
    ("unknown_target", r"no column 'OT'; its columns are: x, y"),
    ("bad_cell", r"bad\.csv line 7, column x: 'n/e' is not a number"),
    ("too_short", r"has 30 steps, fewer than seq_len \+ horizon = 24 \+ 12 = 36"),
    ("backwards", r"line 5: timestamp 2022-03-01T01:00:00 comes before the previous row's 2022-03-01T02:00:00 \(bad\.csv line 4\)"),
    ("bad_time", r"line 3, column date: 'yesterday' is not a date/time"),
    ("categorical_target", r"column 'wind' holds words \(E, W.*only numeric columns can be targets"),
    ("unknown_time_column", r"no time column stamp \(time_column\); its columns are: date, x"),
])
def test_bad_input_is_an_error_naming_the_file_and_the_field(tmp_path, case, expected):
    config = SMALL
    if case == "no_time_column":
        frame = pd.DataFrame({"when": range(100), "x": range(100)})
    elif case == "unknown_target":
        frame = hourly(100, x=range(100), y=range(100))
        config = ForecastConfig(seq_len=24, horizon=12, targets="OT")
    elif case == "bad_cell":
        values = [str(v) for v in range(100)]
        values[5] = "n/e"
        frame = hourly(100, x=values)
    elif case == "too_short":
        frame = hourly(30, x=range(30))
    elif case == "backwards":
        frame = hourly(100, x=range(100))
        frame.loc[3, "date"] = "2022-03-01 01:00:00"
    elif case == "bad_time":
        frame = hourly(100, x=range(100))
        frame.loc[1, "date"] = "yesterday"
    elif case == "categorical_target":
        frame = hourly(100, x=range(100), wind=["E", "W"] * 50)
        config = ForecastConfig(seq_len=24, horizon=12, targets="wind")
    else:
        frame = hourly(100, x=range(100))
        config = ForecastConfig(seq_len=24, horizon=12, time_column="stamp")
    path = write_csv(tmp_path / "bad.csv", frame)
    with pytest.raises(ValueError, match=expected):
        load_series(str(path), config)


def test_fill_gaps_interpolates_short_runs_only():
    values = np.array([0.0, np.nan, 2.0, np.nan, np.nan, np.nan, 6.0, np.nan])
    filled, count, left = fill_gaps(values, max_gap=2)
    np.testing.assert_allclose(filled[:3], [0.0, 1.0, 2.0])
    assert np.isnan(filled[3:6]).all() and np.isnan(filled[7])  # too long, and at the end
    assert (count, left) == (1, 4)


def test_seasonal_period_follows_the_step():
    assert seasonal_period(3600, 96) == 24
    assert seasonal_period(900, 96) == 96
    assert seasonal_period(86400, 30) == 7
    assert seasonal_period(3600, 12) == 1  # a day does not fit in the window: last value


def test_baselines_on_series_they_solve_exactly():
    steps = np.arange(400)
    periodic = np.sin(2 * np.pi * steps / 24)[:, None].astype(np.float32)
    config = ForecastConfig(seq_len=48, horizon=24)
    history, future = windows(periodic, np.arange(0, 300, 7), config, 1)
    np.testing.assert_allclose(seasonal_naive(history, 1, 24, 24), future, atol=1e-5)
    np.testing.assert_allclose(last_value(history, 1, 24), np.repeat(history[:, -1:], 24, axis=1))
    trend = (0.01 * steps)[:, None].astype(np.float32)  # a line: the window's slope continues
    history, future = windows(trend, np.arange(300), config, 1)
    linear = LinearBaseline.fit([(history, future)], ridge=1e-9)
    np.testing.assert_allclose(linear.predict(history, 1), future, atol=1e-3)
