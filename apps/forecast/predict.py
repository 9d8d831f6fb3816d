"""Forecast the steps after a CSV's last row (or after --end) with a run, an export or the TFLite model.

    python -m apps.forecast.predict --model runs/etth1-96 ../shared/data/timeseries/ETTh1.csv
    python -m apps.forecast.predict --model saved_models/forecast/1 history.csv --end "2018-02-20 23:00" --plot f.png
    python -m apps.forecast.predict --model saved_models/forecast/1/forecast.tflite history.csv --json

The CSV is read like training data (the run's columns, missing values filled up to max_gap);
its last seq_len steps up to --end are the history. From Python, one window at a time:

    from apps.forecast.predict import forecast_window
    out = forecast_window("runs/etth1-96", history)   # history: [seq_len (or more), features], raw units
    out["forecast"]   # [horizon, targets]; out["quantiles"]: [horizon, targets, Q]; out["levels"], out["targets"]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from rnnkit import cli

HELP = ("Forecast the next `horizon` steps of a CSV series (after its last row, or --end) with quantile intervals; "
        "--model takes a run folder, an exported version folder or a .tflite file.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_predict_arguments(parser, input_help="a CSV file (or folder) with the run's columns; `demo` works too")
    parser.add_argument("--end", default=None, help="the last history step: a timestamp in the file or a row number "
                                                    "(default: the last row)")
    parser.add_argument("--plot", default=None, metavar="FILE.png", help="also plot history, forecast and interval")
    parser.add_argument("--json", action="store_true", help="print the forecast as one JSON object on the last line")


class Forecaster:
    """A trained forecaster loaded from a run folder, an export folder or a .tflite file.

    Attributes: `columns` (the input columns, in order), `targets`, `levels` (quantile levels),
    `seq_len`, `horizon`, `step_seconds`, `config` (the run's config fields as a dict).
    `forecast(history)` takes raw-unit history, [steps, features] or [batch, steps, features]
    with steps >= seq_len (the last seq_len are read), and returns
    {"forecast": [(batch,) horizon, targets], "quantiles": [(batch,) horizon, targets, Q] or None,
     "levels": [...], "targets": [...]} in raw units.
    """

    def __init__(self, path):
        from rnnkit.io import read_json

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"--model {path}: no such file or folder")
        self.path = path
        self.kind = "tflite" if path.suffix == ".tflite" else "export" if (path / "saved_model.pb").is_file() else "run"
        if self.kind == "run":
            from apps.forecast.export import columns_record
            from apps.forecast.model import load_run
            from rnnkit.config import config_to_dict

            self.model, config, self.schema = load_run(path)
            record = columns_record(config, self.schema)
            self.config = config_to_dict(config)
        elif self.kind == "export":
            import tensorflow as tf

            from apps.forecast.export import COLUMNS_JSON
            from rnnkit.export.savedmodel import read_extra

            record = read_extra(path, COLUMNS_JSON)
            self.config = read_extra(path, "rnnkit_config.json")["config"]
            self.signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        else:
            from apps.forecast.export import TFLITE_JSON
            from rnnkit.export import tflite

            meta_path = path.parent / TFLITE_JSON
            if not meta_path.is_file():
                raise FileNotFoundError(f"{meta_path}: missing; a forecast .tflite model needs the {TFLITE_JSON} "
                                        "that export writes beside it")
            meta = read_json(meta_path)
            record, self.config = meta["series"], meta["config"]
            self.runner = tflite.signature_runner(path, "serve")
        self.record = record
        self.columns, self.targets = list(record["columns"]), list(record["targets"])
        self.levels = list(record["quantiles"])
        self.seq_len, self.horizon = int(record["seq_len"]), int(record["horizon"])
        self.step_seconds = float(record["step_seconds"])

    def _check(self, history):
        import numpy as np

        history = np.asarray(history, np.float32)
        single = history.ndim == 2
        if single:
            history = history[None]
        if history.ndim != 3 or history.shape[2] != len(self.columns):
            raise ValueError(f"history must be [steps, {len(self.columns)}] (columns {', '.join(self.columns)}), "
                             f"not {list(history.shape[-2:]) if history.ndim >= 2 else list(history.shape)}")
        if history.shape[1] < self.seq_len:
            raise ValueError(f"history has {history.shape[1]} steps; the model reads seq_len={self.seq_len}")
        history = history[:, -self.seq_len:]
        bad = ~np.isfinite(history)
        if bad.any():
            row, step, column = (int(value[0]) for value in np.nonzero(bad))
            raise ValueError(f"history{f' {row}' if not single else ''} has a missing or non-finite value at step "
                             f"{step} of the last {self.seq_len}, column {self.columns[column]}; fill it first")
        return history, single

    def forecast(self, history) -> dict:
        import numpy as np

        history, single = self._check(history)
        if self.kind == "run":
            from apps.forecast.export import raw_units_function

            out = {key: np.asarray(value) for key, value in
                   raw_units_function(self.model, None, self.schema)(history).items()}
        elif self.kind == "export":
            import tensorflow as tf

            out = {key: value.numpy() for key, value in self.signature(history=tf.constant(history)).items()}
            errors = [message.decode("utf-8") for message in out.pop("error") if message]
            if errors:
                raise ValueError(errors[0])
        else:
            parts = [self.runner(history=window[None]) for window in history]
            out = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        result = {"forecast": out["forecast"], "quantiles": out.get("quantiles"), "levels": self.levels,
                  "targets": self.targets}
        if single:
            result["forecast"] = result["forecast"][0]
            if result["quantiles"] is not None:
                result["quantiles"] = result["quantiles"][0]
        return result


@functools.lru_cache(maxsize=8)
def load_forecaster(path: str) -> Forecaster:
    """A Forecaster for a run folder, export folder or .tflite file, loaded once per path."""
    return Forecaster(path)


def forecast_window(model, history) -> dict:
    """Forecast one window: the function the lab and other Python callers use.

    Args:
        model: a Forecaster, or the path of a run folder, an exported version folder
            (saved_models/forecast/N) or a forecast .tflite file (loaded once and cached).
        history: raw-unit values [steps, features] (or [batch, steps, features]), steps >= the
            model's seq_len (the last seq_len are read), columns in the order of
            `load_forecaster(model).columns` (targets first, then covariates).

    Returns:
        {"forecast": [horizon, targets], "quantiles": [horizon, targets, Q] or None,
         "levels": the Q quantile levels (e.g. [0.1, 0.5, 0.9]), "targets": the target names},
        in raw units. A NaN in the history is a ValueError naming the step and column.
    """
    forecaster = model if isinstance(model, Forecaster) else load_forecaster(str(model))
    return forecaster.forecast(history)


def history_from_source(forecaster: Forecaster, source: str, end: str | None):
    """(history [seq_len, features] raw units, its timestamps) from a CSV read with the run's columns."""
    import numpy as np

    from apps.forecast.config import ForecastConfig
    from apps.forecast.data import load_series
    from rnnkit.config import config_from_dict

    fields = {key: value for key, value in forecaster.config.items() if key in ForecastConfig.__dataclass_fields__}
    config = config_from_dict(ForecastConfig, fields)
    schema = {"columns": forecaster.columns, "targets": forecaster.targets,
              "covariates": _raw_covariates(forecaster), "categories": forecaster.record.get("categories", {}),
              "time_column": forecaster.record.get("time_column", ""), "source": None}
    series = load_series(source, config, schema=schema, history_only=True)
    last = series.steps - 1
    if end is not None:
        if end.strip().lstrip("-").isdigit():
            last = int(end) if int(end) >= 0 else series.steps + int(end)
        else:
            stamp = np.datetime64(np.datetime_as_string(np.datetime64(end.replace(" ", "T")), unit="s"), "ns")
            found = np.flatnonzero(series.times == stamp)
            if not found.size:
                raise ValueError(f"--end {end}: no step of {series.name} has that timestamp "
                                 f"({str(series.times[0])[:19]} .. {str(series.times[-1])[:19]})")
            last = int(found[0])
        if not 0 <= last < series.steps:
            raise ValueError(f"--end {end}: the series has steps 0-{series.steps - 1}")
    if last + 1 < forecaster.seq_len:
        raise ValueError(f"--end {end}: only {last + 1} steps before it; the model reads seq_len={forecaster.seq_len}")
    window = slice(last + 1 - forecaster.seq_len, last + 1)
    return series.values[window], series.times[window], series


def _raw_covariates(forecaster: Forecaster) -> list[str]:
    from apps.forecast.data import calendar_from_columns

    names = []
    for column in forecaster.columns[len(forecaster.targets):]:
        base = column.split("=", 1)[0] if "=" in column else column
        if calendar_from_columns([column]):
            continue
        if base not in names:
            names.append(base)
    return names


def run(args: argparse.Namespace) -> int:
    import numpy as np

    if len(args.inputs) != 1:
        raise ValueError("give one CSV file (or folder) whose last rows are the history to forecast from")
    forecaster = load_forecaster(args.model)
    history, times, series = history_from_source(forecaster, args.inputs[0], args.end)
    out = forecaster.forecast(history)
    step = np.timedelta64(int(round(forecaster.step_seconds * 1e9)), "ns")
    future = times[-1] + step * np.arange(1, forecaster.horizon + 1)
    quantiles, levels = out["quantiles"], out["levels"]
    rows = []
    for index, stamp in enumerate(future):
        row = {"time": str(stamp)[:19]}
        for column, name in enumerate(forecaster.targets):
            row[name] = float(out["forecast"][index, column])
            if quantiles is not None:
                for level_index, level in enumerate(levels):
                    row[f"{name}@{level:g}"] = float(quantiles[index, column, level_index])
        rows.append(row)
    if args.plot:
        from apps.forecast.plots import plot_forecast_windows

        bands = (quantiles[None, ..., 0], quantiles[None, ..., -1]) if quantiles is not None and len(levels) >= 2 else None
        plot_forecast_windows([np.concatenate([times, future])], history[None, :, : len(forecaster.targets)],
                              np.full((1, forecaster.horizon, len(forecaster.targets)), np.nan), out["forecast"][None],
                              bands, forecaster.targets, args.plot, levels=(levels[0], levels[-1]) if bands else None,
                              title=f"{series.name}: forecast after {str(times[-1])[:19]}",
                              history_steps=forecaster.seq_len)
    if args.json:
        print(json.dumps({"history_end": str(times[-1])[:19], "targets": forecaster.targets, "levels": levels,
                          "forecast": rows, **({"plot": args.plot} if args.plot else {})}))
        return 0
    interval = f"{levels[0]:g}-{levels[-1]:g}" if quantiles is not None and len(levels) >= 2 else None
    print(f"{forecaster.horizon} steps after {str(times[-1])[:19]} (history: the last {forecaster.seq_len} steps of "
          f"{series.name})" + (f"; [{interval} quantiles]" if interval else ""))
    for row in rows:
        cells = []
        for name in forecaster.targets:
            cell = f"{name} {row[name]:.4g}"
            if interval:
                cell += f" [{row[f'{name}@{levels[0]:g}']:.4g}, {row[f'{name}@{levels[-1]:g}']:.4g}]"
            cells.append(cell)
        print(f"{row['time']}  " + "  ".join(cells))
    if args.plot:
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
