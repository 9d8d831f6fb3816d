"""Time series for the forecast app: CSV files as people have them, the standard splits, and a demo series.

SOURCE is one of
  demo        a generated hourly multivariate series (daily and weekly seasonality, a
              trend, a regime change, noise and some missing values), written once as a
              CSV into the temporary folder, so everything runs offline;
  FILE.csv    a time column and numeric (or categorical) columns, one row per time step;
  FOLDER      CSV files with the same columns (e.g. one per month), read in time order;
  ARCHIVE     a .tar.gz of such a folder.

Reading a CSV (the rules the README gives):
  * the time column is `time_column`, else the first of date, datetime, timestamp, time, ds,
    else year, month, day [, hour [, minute]] columns together (Beijing PM2.5's layout);
    without one, the error lists the columns;
  * a column named No / index / id that just counts rows is ignored (said so);
  * a cell that is empty or one of NA, NaN, N/A, NULL, None, ?, - (any case) is missing;
    a column whose cells are mostly numbers and that holds something else is an error naming
    the file, line and column; a column of words (a wind direction) is categorical and is
    one-hot encoded when it is a covariate (categories from the training part; an unseen one
    is all zeros);
  * timestamps must increase: a row earlier than the one before it is an error naming both
    lines; a repeated timestamp keeps its first row and is counted; missing timestamps
    (gaps) become missing rows on the series' regular grid (the most common step), counted;
  * missing values of numeric columns in runs of at most `max_gap` steps are filled by
    linear interpolation in time, and counted; longer runs stay missing, and every window
    that touches one is dropped and counted;
  * a series shorter than seq_len + horizon steps is an error naming both numbers.

Splits: ETT files (ETTh1.csv, ETTm2.csv, ... by name, or split=ett) take the benchmark's 12 /
4 / 4 months of 30 days; every other series the first `train_fraction` (0.7) of its steps for
training, the next `val_fraction` (0.1) for validation and the rest (0.2) for testing. Each
validation and test window starts `seq_len` steps before its split, so every target step of
the split is forecast exactly as often as the protocol says and no window is left out.
Scaling statistics (mean and standard deviation of each input column) come from the training
part only and are saved in the run folder.
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEMO = "demo"
DEMO_VERSION = 1
DEMO_STEPS = 6000
NA_STRINGS = frozenset({"", "na", "nan", "n/a", "null", "none", "?", "-", "#n/a"})
TIME_NAMES = ("date", "datetime", "timestamp", "time", "ds")
TIME_PARTS = ("year", "month", "day", "hour", "minute")
INDEX_NAMES = frozenset({"no", "index", "id", "unnamed: 0", ""})
ETT_NAME = re.compile(r"^ETT[hm]\d", re.IGNORECASE)
SPLIT_NAMES = ("train", "val", "test")
CALENDAR = {  # feature -> (period, what of the timestamp)
    "hour_of_day": 24,
    "day_of_week": 7,
    "month_of_year": 12,
}


@dataclass
class DataReport:
    """What reading the series found and did; printed before training and saved with the run."""

    rows: int = 0
    files: int = 0
    duplicates: int = 0  # repeated timestamps (first row kept)
    gaps: int = 0  # places where timestamps were missing
    missing_timestamps: int = 0  # rows added for them
    snapped: int = 0  # timestamps off the regular grid, moved to the nearest grid point
    filled: dict[str, int] = field(default_factory=dict)  # column -> cells filled by interpolation
    long_gaps: dict[str, int] = field(default_factory=dict)  # column -> cells left missing (runs > max_gap)
    ignored: dict[str, str] = field(default_factory=dict)  # column -> why it is not used
    windows_dropped: dict[str, int] = field(default_factory=dict)  # split -> windows over a long gap

    def as_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items()}

    def lines(self) -> list[str]:
        lines = []
        if self.duplicates:
            lines.append(f"{self.duplicates} repeated timestamps (the first row of each kept)")
        if self.gaps:
            lines.append(f"{self.gaps} gaps in the timestamps: {self.missing_timestamps} missing steps added as missing rows")
        if self.snapped:
            lines.append(f"{self.snapped} timestamps off the regular grid moved to the nearest step")
        filled = sum(self.filled.values())
        if filled:
            lines.append(f"{filled} missing values filled by interpolation (" +
                         ", ".join(f"{name} {count}" for name, count in self.filled.items() if count) + ")")
        left = sum(self.long_gaps.values())
        if left:
            lines.append(f"{left} missing values in gaps longer than max_gap left missing (" +
                         ", ".join(f"{name} {count}" for name, count in self.long_gaps.items() if count) + ")")
        dropped = {split: count for split, count in self.windows_dropped.items() if count}
        if dropped:
            lines.append("windows dropped because they touch a long gap: " +
                         ", ".join(f"{split} {count}" for split, count in dropped.items()))
        for name, why in self.ignored.items():
            lines.append(f"column {name!r} not used: {why}")
        return lines


@dataclass
class Series:
    """A regular-grid multivariate series ready for windows: inputs in raw units, targets first."""

    source: str  # what --data said
    name: str  # file or folder name
    times: np.ndarray  # datetime64[ns], one per step, regular
    values: np.ndarray  # float32 [steps, features]: targets, numeric covariates, one-hot, calendar; NaN = missing
    columns: list[str]  # the feature names (the model's input channels)
    targets: list[str]
    covariates: list[str]  # the raw covariate columns (a categorical one is several input columns)
    step_seconds: float
    period: int  # the seasonal period in steps (24 for hourly data)
    split_kind: str  # "ett" or "ratio" (or "none" for a series scored whole)
    borders: dict[str, tuple[int, int]]  # split -> [first, end) target rows
    categories: dict[str, list[str]]  # categorical covariate -> its categories (one-hot order)
    report: DataReport
    time_column: str = ""

    @property
    def steps(self) -> int:
        return len(self.values)

    @property
    def num_targets(self) -> int:
        return len(self.targets)

    def describe(self, config) -> str:
        span = f"{str(self.times[0])[:19]} .. {str(self.times[-1])[:19]}"
        covariates = self.columns[self.num_targets:]
        lines = [
            f"{self.name}: {self.steps} steps of {describe_step(self.step_seconds)} ({span}), "
            f"{len(self.columns)} input columns, seasonal period {self.period} steps",
            f"  targets ({self.num_targets}): {', '.join(self.targets)}",
        ]
        if covariates:
            lines.append(f"  covariates ({len(covariates)}): {', '.join(covariates)}")
        lines += [f"  {line}" for line in self.report.lines()]
        if self.split_kind != "none":
            how = "ETT months 12/4/4" if self.split_kind == "ett" else (
                f"{config.train_fraction:.0%} / {config.val_fraction:.0%} / "
                f"{1 - config.train_fraction - config.val_fraction:.0%} in time order")
            parts = []
            for split, (first, end) in self.borders.items():
                parts.append(f"{split} steps {first}-{end - 1} ({len(self.window_starts(split, config))} windows)")
            lines.append(f"  split ({how}): " + "; ".join(parts))
        return "\n".join(lines)

    def window_range(self, split: str, config) -> tuple[int, int]:
        """[first, last] window start whose target steps lie in the split (inputs may reach back before it)."""
        first, end = self.borders[split] if split != "all" else (config.seq_len, self.steps)
        return max(0, first - config.seq_len), end - config.seq_len - config.horizon

    def window_starts(self, split: str, config) -> np.ndarray:
        """Starts of every usable window of `split`: those touching a long gap are left out."""
        low, high = self.window_range(split, config)
        if high < low:
            return np.zeros(0, np.int64)
        starts = np.arange(low, high + 1)
        bad = np.concatenate([[0], np.cumsum(np.isnan(self.values).any(axis=1))])
        span = config.seq_len + config.horizon
        return starts[bad[starts + span] == bad[starts]]

    def dropped_windows(self, split: str, config) -> int:
        low, high = self.window_range(split, config)
        return max(0, high - low + 1) - len(self.window_starts(split, config))


# -- reading CSV files ------------------------------------------------------------------


def _read_csv(path: Path):
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        raise ValueError(f"{path}: cannot read it as CSV ({str(error).strip().splitlines()[0]})") from None
    if frame.empty:
        raise ValueError(f"{path}: no data rows")
    frame.columns = [str(name).strip() for name in frame.columns]
    return frame


def resolve_files(source: str) -> tuple[list[Path], str]:
    """The CSV files a SOURCE names, and a display name."""
    if source == DEMO:
        path = demo_csv()
        return [path], path.name
    if source.startswith("tfds:"):
        raise ValueError(f"--data {source}: the forecast app reads CSV files (or `demo`), not TensorFlow Datasets")
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"--data {source}: no such file or folder")
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
        from rnnkit.io import extract_archive

        folder = extract_archive(path)
        files = sorted(folder.rglob("*.csv"))
        if not files:
            raise ValueError(f"--data {source}: the archive holds no .csv file")
        return files, path.name
    if path.is_dir():
        files = sorted(path.rglob("*.csv"))
        if not files:
            raise ValueError(f"--data {source}: the folder holds no .csv file")
        return files, path.name
    return [path], path.name


def _time_columns(frame, path: Path, wanted: str) -> list[str]:
    columns = list(frame.columns)
    lower = {name.lower(): name for name in columns}
    if wanted:
        parts = [part.strip() for part in wanted.split(",") if part.strip()]
        missing = [part for part in parts if part not in columns]
        if missing:
            raise ValueError(f"{path}: no time column {', '.join(missing)} (time_column); its columns are: {', '.join(columns)}")
        return parts
    for name in TIME_NAMES:
        if name in lower:
            return [lower[name]]
    if all(part in lower for part in TIME_PARTS[:3]):
        return [lower[part] for part in TIME_PARTS if part in lower]
    raise ValueError(
        f"{path}: no time column (looked for {', '.join(TIME_NAMES)} or year, month, day[, hour] columns); "
        f"its columns are: {', '.join(columns)}. Name it with --set time_column=NAME")


def _parse_times(frame, columns: list[str], path: Path):
    import pandas as pd

    def bad(mask, column, values):
        index = int(np.flatnonzero(mask)[0])
        raise ValueError(f"{path} line {index + 2}, column {column}: {values.iloc[index]!r} is not a date/time")

    if len(columns) == 1:
        raw = frame[columns[0]].str.strip()
        times = pd.to_datetime(raw, errors="coerce", format="mixed")
        if times.isna().any():
            bad(times.isna().to_numpy(), columns[0], raw)
        if getattr(times.dt, "tz", None) is not None:
            times = times.dt.tz_convert("UTC").dt.tz_localize(None)
        return times.to_numpy(dtype="datetime64[ns]")
    parts = {}
    for column in columns:
        numbers = pd.to_numeric(frame[column].str.strip(), errors="coerce")
        if numbers.isna().any():
            bad(numbers.isna().to_numpy(), column, frame[column])
        parts[column.lower()] = numbers.astype(np.int64)
    assembled = pd.to_datetime(pd.DataFrame(parts), errors="coerce")
    if assembled.isna().any():
        index = int(np.flatnonzero(assembled.isna().to_numpy())[0])
        shown = ", ".join(f"{column}={frame[column].iloc[index]}" for column in columns)
        raise ValueError(f"{path} line {index + 2}: {shown} is not a date/time")
    return assembled.to_numpy(dtype="datetime64[ns]")


def _missing(values) -> np.ndarray:
    return values.str.strip().str.lower().isin(NA_STRINGS).to_numpy()


def _column_kinds(frame, path: Path, columns: list[str]):
    """(numeric values by column, categorical strings by column, ignored columns with why)."""
    import pandas as pd

    numeric, categorical, ignored = {}, {}, {}
    for column in columns:
        raw = frame[column]
        missing = _missing(raw)
        numbers = pd.to_numeric(raw.str.strip().where(~missing, None), errors="coerce").to_numpy(np.float64)
        wrong = ~missing & np.isnan(numbers)
        present = int((~missing).sum())
        if not wrong.any():
            if column.lower() in INDEX_NAMES and present == len(numbers) and np.all(np.diff(numbers) == 1):
                ignored[column] = "it counts the rows (an index column)"
                continue
            numeric[column] = numbers
        elif wrong.sum() > present / 2:
            categorical[column] = raw.str.strip().where(~missing, None).to_numpy(object)
        else:
            index = int(np.flatnonzero(wrong)[0])
            raise ValueError(f"{path} line {index + 2}, column {column}: {raw.iloc[index]!r} is not a number "
                             "(a missing value is an empty cell or NA)")
    return numeric, categorical, ignored


def read_table(files: list[Path], time_column: str = ""):
    """Read and join the CSV files: (times, numeric columns, categorical columns, report, time column name)."""
    tables = []
    report = DataReport(files=len(files))
    reference = None
    for path in files:
        frame = _read_csv(path)
        if reference is None:
            reference = list(frame.columns)
        elif list(frame.columns) != reference:
            raise ValueError(f"{path}: its columns ({', '.join(frame.columns)}) differ from {files[0].name}'s "
                             f"({', '.join(reference)}); a folder must hold files with the same columns")
        time_columns = _time_columns(frame, path, time_column)
        times = _parse_times(frame, time_columns, path)
        tables.append((path, frame, times, time_columns))
    tables.sort(key=lambda item: item[2][0])
    time_columns = tables[0][3]
    value_columns = [name for name in reference if name not in time_columns]
    times_parts, numeric_parts, categorical_parts, lines, names = [], {}, {}, [], []
    for path, frame, times, _ in tables:
        numeric, categorical, ignored = _column_kinds(frame, path, value_columns)
        report.ignored.update(ignored)
        times_parts.append(times)
        lines.append(np.arange(len(times)) + 2)
        names += [path] * len(times)
        for column, values in numeric.items():
            numeric_parts.setdefault(column, []).append(values)
        for column, values in categorical.items():
            categorical_parts.setdefault(column, []).append(values)
    times = np.concatenate(times_parts)
    report.rows = len(times)
    # A column numeric in one file and categorical (or an index) in another is an error in the numeric file's terms.
    for column in list(categorical_parts):
        if column in numeric_parts:
            raise ValueError(f"column {column}: numbers in some files and words in others; check its cells")
    numeric = {column: np.concatenate(parts) for column, parts in numeric_parts.items() if len(parts) == len(tables)}
    categorical = {column: np.concatenate(parts) for column, parts in categorical_parts.items()}
    _check_order(times, names, np.concatenate(lines))
    return times, numeric, categorical, report, ",".join(time_columns)


def _check_order(times: np.ndarray, files: list[Path], lines: np.ndarray) -> None:
    steps = np.diff(times.astype(np.int64))
    backwards = np.flatnonzero(steps < 0)
    if backwards.size:
        index = int(backwards[0])
        raise ValueError(
            f"{files[index + 1]} line {lines[index + 1]}: timestamp {str(times[index + 1])[:19]} comes before the "
            f"previous row's {str(times[index])[:19]} ({files[index].name} line {lines[index]}); "
            "timestamps must increase (sort the file by time)")


def regular_grid(times: np.ndarray, report: DataReport):
    """(grid index of each row, number of grid steps, step in seconds); duplicates and gaps counted."""
    ns = times.astype(np.int64)
    steps = np.diff(ns)
    positive = steps[steps > 0]
    if not positive.size:
        raise ValueError("the series has a single distinct timestamp; a forecast needs a series in time")
    values, counts = np.unique(positive, return_counts=True)
    step = int(values[np.argmax(counts)])
    position = np.rint((ns - ns[0]) / step).astype(np.int64)
    report.snapped = int(np.sum((ns - ns[0]) != position * step))
    keep = np.concatenate([[True], np.diff(position) > 0])
    report.duplicates = int((~keep).sum())
    jumps = np.diff(position[keep])
    report.gaps = int((jumps > 1).sum())
    report.missing_timestamps = int((jumps[jumps > 1] - 1).sum())
    return position, keep, int(position[-1]) + 1, step / 1e9


def seasonal_period(step_seconds: float, seq_len: int) -> int:
    """The seasonal-naive period in steps: a day for sub-daily data, a week for daily, a year for monthly."""
    day = 86400.0
    for cycle in (day, 7 * day, 365.25 * day):
        steps = cycle / step_seconds
        if steps >= 2 and abs(steps - round(steps)) < 1e-6 and round(steps) <= seq_len:
            return int(round(steps))
    if 28 * day <= step_seconds <= 31 * day and seq_len >= 12:
        return 12
    return 1


def describe_step(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''}" if count > 1 else f"1 {unit}"
    return f"{seconds:g} s"


def fill_gaps(values: np.ndarray, max_gap: int) -> tuple[np.ndarray, int, int]:
    """Linear interpolation over runs of at most `max_gap` missing steps inside the series.

    Returns (filled values, cells filled, cells left missing). Runs at the very start or end
    cannot be interpolated and stay missing.
    """
    values = values.astype(np.float64).copy()
    missing = np.isnan(values)
    if not missing.any():
        return values, 0, 0
    known = np.flatnonzero(~missing)
    if not known.size:
        return values, 0, int(missing.sum())
    filled = 0
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if end - start <= max_gap and start > 0 and end < len(values):
            before, after = values[start - 1], values[end]
            weights = np.arange(1, end - start + 1) / (end - start + 1)
            values[start:end] = before + (after - before) * weights
            filled += end - start
    return values, filled, int(np.isnan(values).sum())


def calendar_features(times: np.ndarray, step_seconds: float) -> dict[str, np.ndarray]:
    """sin/cos of hour of day (sub-daily steps), day of week (steps under a week) and month of year."""
    import pandas as pd

    index = pd.DatetimeIndex(times)
    parts = {"hour_of_day": (index.hour + index.minute / 60.0, 24.0), "day_of_week": (index.dayofweek, 7.0),
             "month_of_year": (index.month - 1, 12.0)}
    keep = []
    if step_seconds < 86400:
        keep.append("hour_of_day")
    if step_seconds < 7 * 86400:
        keep.append("day_of_week")
    keep.append("month_of_year")
    features = {}
    for name in keep:
        value, period = parts[name]
        angle = 2 * np.pi * np.asarray(value, np.float64) / period
        features[f"{name}_sin"] = np.sin(angle)
        features[f"{name}_cos"] = np.cos(angle)
    return features


def calendar_from_columns(columns: list[str]) -> bool:
    return any(column.endswith(("_sin", "_cos")) and column.rsplit("_", 1)[0] in CALENDAR for column in columns)


# -- splits -----------------------------------------------------------------------------


def is_ett(name: str) -> bool:
    return bool(ETT_NAME.match(name))


def split_borders(kind: str, steps: int, step_seconds: float, config) -> dict[str, tuple[int, int]]:
    if kind == "ett":
        month = round(30 * 86400 / step_seconds)
        ends = [12 * month, 16 * month, 20 * month]
        if steps < ends[-1]:
            raise ValueError(f"split=ett needs 20 months of 30 days ({ends[-1]} steps of {describe_step(step_seconds)}); "
                             f"the series has {steps}. Use --set split=ratio")
        return {"train": (0, ends[0]), "val": (ends[0], ends[1]), "test": (ends[1], ends[2])}
    train_end = int(steps * config.train_fraction)
    test_steps = int(steps * (1 - config.train_fraction - config.val_fraction) + 1e-9)
    val_end = steps - test_steps
    return {"train": (0, train_end), "val": (train_end, val_end), "test": (val_end, steps)}


def split_kind(name: str, config) -> str:
    if config.split != "auto":
        return config.split
    return "ett" if is_ett(name) else "ratio"


# -- the whole load ---------------------------------------------------------------------


def _choose_columns(numeric: dict, categorical: dict, config, name: str, schema: dict | None):
    available = list(numeric) + list(categorical)
    if schema is not None:
        targets = list(schema["targets"])
        covariates = list(schema["covariates"])
    else:
        targets = config.target_names()
        covariates = config.covariate_names()
        if covariates == ["rest"]:
            covariates = [column for column in available if column not in targets]
        if not targets:
            targets = [column for column in numeric if column not in covariates]
    unknown = [column for column in targets + covariates if column not in available]
    if unknown:
        kinds = [f"{column} (categorical)" if column in categorical else column for column in available]
        raise ValueError(f"{name}: no column {', '.join(repr(column) for column in unknown)}; "
                         f"its columns are: {', '.join(kinds)}")
    for column in targets:
        if column in categorical:
            shown = ", ".join(sorted({str(v) for v in categorical[column] if v is not None})[:6])
            raise ValueError(f"{name}: column {column!r} holds words ({shown}, ...), not numbers; only numeric "
                             "columns can be targets (a categorical column can be a covariate)")
    if not targets:
        raise ValueError(f"{name}: no numeric column to forecast; name one with --set targets=COLUMN")
    return targets, covariates


def canonical_source(source: str) -> str:
    """`demo`, or the absolute path: what decides whether a source is the one a run was trained on."""
    return source if source == DEMO else str(Path(source).resolve())


def load_series(source: str, config, schema: dict | None = None, verbose: bool = False,
                history_only: bool = False) -> Series:
    """Read SOURCE into a Series with the run's columns (`schema`, from the run folder) or the config's.

    `history_only`: the series is a history to forecast from (predict): it needs seq_len steps,
    not seq_len + horizon, and has no splits.
    """
    files, name = resolve_files(source)
    same_source = schema is not None and canonical_source(source) == schema.get("source")
    wanted_time = schema["time_column"] if schema is not None else config.time_column
    times, numeric, categorical, report, time_column = read_table(files, wanted_time)
    targets, covariates = _choose_columns(numeric, categorical, config, name, schema)
    for column in list(numeric) + list(categorical):
        if column not in targets and column not in covariates:
            report.ignored.setdefault(column, "neither a target nor a covariate")
    position, keep, steps, step_seconds = regular_grid(times, report)
    if history_only and steps < config.seq_len:
        raise ValueError(f"{name}: the series has {steps} steps, fewer than seq_len = {config.seq_len} (the history "
                         "the model reads)")
    if not history_only and steps < config.seq_len + config.horizon:
        raise ValueError(f"{name}: the series has {steps} steps, fewer than seq_len + horizon = "
                         f"{config.seq_len} + {config.horizon} = {config.seq_len + config.horizon}")
    grid_times = times[0] + (np.arange(steps) * int(round(step_seconds * 1e9))).astype("timedelta64[ns]")
    rows = position[keep]

    # A run's own source keeps its split; another ETT file has its own test months; any other file is scored whole.
    if history_only:
        kind = "none"
    elif schema is None:
        kind = split_kind(name, config)
    elif same_source:
        kind = schema["split_kind"]
    else:
        kind = "ett" if is_ett(name) else "none"
    borders = split_borders(kind, steps, step_seconds, config) if kind != "none" else {}

    columns, features = [], []
    for column in targets + [c for c in covariates if c in numeric]:
        on_grid = np.full(steps, np.nan)
        on_grid[rows] = numeric[column][keep]
        filled, count, left = fill_gaps(on_grid, config.max_gap)
        report.filled[column], report.long_gaps[column] = count, left
        columns.append(column)
        features.append(filled)
    categories = {}
    for column in [c for c in covariates if c in categorical]:
        on_grid = np.full(steps, None, dtype=object)
        on_grid[rows] = categorical[column][keep]
        if schema is not None:
            known = list(schema["categories"][column])
        else:
            train_end = borders["train"][1] if borders else steps
            known = sorted({value for value in on_grid[:train_end] if value is not None})
        categories[column] = known
        for category in known:
            columns.append(f"{column}={category}")
            features.append((on_grid == category).astype(np.float64))
    use_calendar = calendar_from_columns(schema["columns"]) if schema is not None else config.calendar
    if use_calendar:
        for feature, values in calendar_features(grid_times, step_seconds).items():
            columns.append(feature)
            features.append(values)
    if schema is not None and columns != list(schema["columns"]):
        raise ValueError(f"{name}: its columns give the inputs {columns}, the run was trained on {schema['columns']}")
    values = np.stack(features, axis=1).astype(np.float32)
    period = seasonal_period(step_seconds, config.seq_len)
    series = Series(source, name, grid_times, values, columns, targets, covariates, step_seconds, period, kind,
                    borders, categories, report, time_column)
    for split in ({} if history_only else borders or {"all": None}):
        series.report.windows_dropped[split] = series.dropped_windows(split, config)
    if borders:
        for split in SPLIT_NAMES:
            if not len(series.window_starts(split, config)):
                first, end = borders[split]
                raise ValueError(f"{name}: the {split} split (steps {first}-{end - 1}) has no complete window of "
                                 f"seq_len + horizon = {config.seq_len + config.horizon} steps; use a shorter "
                                 "seq_len or horizon, or a longer series")
    if verbose:
        print(series.describe(config))
    return series


# -- scaling and windows ----------------------------------------------------------------


def fit_scaler(series: Series) -> dict:
    """Mean and standard deviation of each input column over the training part (missing cells ignored)."""
    end = series.borders["train"][1] if series.borders else series.steps
    part = series.values[:end].astype(np.float64)
    mean = np.nanmean(part, axis=0)
    std = np.nanstd(part, axis=0)
    std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    return {"mean": mean.tolist(), "std": std.tolist()}


def schema_of(series: Series, config, scaler: dict) -> dict:
    """Everything evaluate, export and predict need from training: columns, categories, scaling, period."""
    return {
        "source": canonical_source(series.source),
        "name": series.name,
        "time_column": series.time_column,
        "columns": series.columns,
        "targets": series.targets,
        "covariates": series.covariates,
        "categories": series.categories,
        "step_seconds": series.step_seconds,
        "period": series.period,
        "split_kind": series.split_kind,
        "borders": {split: list(border) for split, border in series.borders.items()},
        "mean": scaler["mean"],
        "std": scaler["std"],
    }


SCHEMA_FILE = "series.json"


def write_schema(run_dir, schema: dict):
    from rnnkit.io import atomic_write_json

    return atomic_write_json(Path(run_dir) / SCHEMA_FILE, schema)


def read_schema(run_dir) -> dict:
    from rnnkit.io import read_json

    path = Path(run_dir) / SCHEMA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; is {run_dir} a forecast run folder made by `train`?")
    return read_json(path)


def standardize(values: np.ndarray, schema: dict) -> np.ndarray:
    return ((values - np.asarray(schema["mean"], np.float32)) / np.asarray(schema["std"], np.float32)).astype(np.float32)


def windows(scaled: np.ndarray, starts: np.ndarray, config, targets: int, input_steps: int | None = None):
    """(inputs [n, steps, features], future targets [n, horizon, targets]) as NumPy arrays."""
    steps = input_steps or config.seq_len
    lead = steps - config.seq_len
    history = np.stack([scaled[s - lead: s + config.seq_len] for s in starts]) if len(starts) else \
        np.zeros((0, steps, scaled.shape[1]), np.float32)
    future = np.stack([scaled[s + config.seq_len: s + config.seq_len + config.horizon, :targets] for s in starts]) \
        if len(starts) else np.zeros((0, config.horizon, targets), np.float32)
    return history, future


def make_dataset(scaled: np.ndarray, starts: np.ndarray, config, targets: int, *, shuffle: bool = False,
                 seed: int = 0, input_steps: int | None = None, with_quantiles: bool = True):
    """Batches of (history, {"forecast": future, "quantiles": future}) cut from the series on the fly.

    Windows are gathered from one copy of the series in the graph, so a long lookback
    costs no memory per window. Batches are not dropped: the last one may be short,
    and under a multi-worker strategy every worker still runs the same number of steps.
    """
    import tensorflow as tf

    steps = input_steps or config.seq_len
    lead = steps - config.seq_len
    series = tf.constant(np.nan_to_num(scaled), tf.float32)
    history_offsets = tf.range(-lead, config.seq_len)
    future_offsets = tf.range(config.seq_len, config.seq_len + config.horizon)
    dataset = tf.data.Dataset.from_tensor_slices(np.asarray(starts, np.int32))
    if shuffle:
        dataset = dataset.shuffle(len(starts), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(config.batch_size)

    def cut(start):
        history = tf.gather(series, start[:, None] + history_offsets[None, :])
        future = tf.gather(series[:, :targets], start[:, None] + future_offsets[None, :])
        labels = {"forecast": future}
        if with_quantiles:
            labels["quantiles"] = future
        return history, labels

    return dataset.map(cut, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(windows_count: int, batch_size: int) -> int:
    return max(1, math.ceil(windows_count / batch_size))


# -- the demo series --------------------------------------------------------------------


def demo_frame(steps: int = DEMO_STEPS, seed: int = 0):
    """An hourly series of four related columns, learnable in a minute.

    load: daily and weekly cycles on a slow trend, whose daily swing grows by half and whose
    level steps up two thirds of the way through (a regime change); temperature: a daily cycle
    a little behind load's, and a slow drift; price: follows load with a lag of two hours;
    humidity: a noisy reading that falls when temperature rises. About 0.5% of the cells are
    missing (single cells and a few short runs), and one run of 12 hours is missing in every
    column.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    hours = np.arange(steps, dtype=np.float64)
    daily = np.sin(2 * np.pi * hours / 24)
    weekly = np.sin(2 * np.pi * hours / 168)
    regime = hours >= int(steps * 0.65)
    swing = np.where(regime, 1.5, 1.0)
    load = 50 + 0.002 * hours + 10 * swing * daily + 4 * weekly + 5 * regime + rng.normal(0, 1.0, steps)
    temperature = 15 + 6 * np.sin(2 * np.pi * (hours - 3) / 24) + 3 * np.sin(2 * np.pi * hours / (24 * 90)) \
        + rng.normal(0, 0.5, steps)
    price = 20 + 0.8 * np.roll(load - 50, 2) + rng.normal(0, 1.0, steps)
    humidity = 60 - 1.5 * (temperature - 15) + rng.normal(0, 2.0, steps)
    frame = pd.DataFrame({
        "date": pd.date_range("2021-01-01", periods=steps, freq="h").strftime("%Y-%m-%d %H:%M:%S"),
        "load": load.round(3), "temperature": temperature.round(3), "price": price.round(3), "humidity": humidity.round(2),
    })
    for column in ("load", "temperature", "price", "humidity"):
        cells = rng.choice(np.arange(10, steps - 10), size=steps // 250, replace=False)
        frame[column] = frame[column].astype(object)
        frame.loc[cells, column] = "NA"
        for start in rng.choice(np.arange(10, steps - 10), size=3, replace=False):
            frame.loc[start: start + 2, column] = ""
    gap = int(steps * 0.4)
    frame.loc[gap: gap + 11, ["load", "temperature", "price", "humidity"]] = "NA"
    return frame


def demo_csv(steps: int = DEMO_STEPS) -> Path:
    """Write the demo series once (per version) into the temporary folder and return its path."""
    from rnnkit.io import atomic_write_text

    path = Path(tempfile.gettempdir()) / f"rnnkit-forecast-demo-v{DEMO_VERSION}" / "demo.csv"
    if not path.is_file():
        atomic_write_text(path, demo_frame(steps).to_csv(index=False))
    return path


def warn(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)
