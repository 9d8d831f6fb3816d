"""Average the point forecasts of several forecast runs (e.g. seeds of one recipe) and score them.

    python -m bench.forecast_ensemble --data ../shared/data/timeseries/ETTh1.csv \\
        runs/fc/default/L96-H96 runs/fc/seed7/L96-H96

Every run must read the same columns and windows (same seq_len and horizon, same source);
each is scored alone and the mean of their forecasts is scored on the same validation and test
windows (standardised MSE / MAE, the numbers `rnnkit forecast evaluate` prints). It tells
whether averaging seeds buys anything over one run, at N times the training cost.

With `--with-linear`, the first run's linear baseline (the DLinear-style map `train` fits and
saves in the run folder) joins as a member: the runs' mean and the linear forecast are mixed with
weights 0.1 ... 0.5 on the linear one, each mix scored, and the weight with the lowest validation
MSE is named, so the test column does not choose it.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="forecast run folders")
    parser.add_argument("--data", required=True, help="the CSV series the runs were trained on")
    parser.add_argument("--with-linear", action="store_true", help="also mix in the first run's linear baseline")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np

    from apps.forecast.baselines import LinearBaseline
    from apps.forecast.data import load_series, standardize, windows
    from apps.forecast.metrics import score
    from apps.forecast.model import load_run, predict_windows
    from bench.common import machine, print_table, save_result

    forecasts: dict[str, dict[str, np.ndarray]] = {}  # name -> split -> [windows, horizon, targets]
    truth: dict[str, np.ndarray] = {}
    first = None
    for run in args.runs:
        model, config, schema = load_run(run)
        like = (config.seq_len, config.horizon, schema["columns"])
        if first is not None and like != first[0]:
            raise SystemExit(f"{run}: other seq_len, horizon or columns than {args.runs[0]}; average like runs only")
        first = first or (like, schema)
        series = load_series(args.data, config, schema=schema)
        scaled = standardize(series.values, schema)
        forecasts[run] = {}
        for split in ("val", "test"):
            history, future = windows(scaled, series.window_starts(split, config), config, len(schema["targets"]))
            truth.setdefault(split, future)
            forecasts[run][split] = predict_windows(model, history)[0]
    mean = f"mean of {len(args.runs)}"
    forecasts[mean] = {split: np.mean([forecasts[run][split] for run in args.runs], axis=0) for split in truth}
    if args.with_linear:
        model, config, schema = load_run(args.runs[0])
        series = load_series(args.data, config, schema=schema)
        scaled = standardize(series.values, schema)
        linear = LinearBaseline.load(args.runs[0])
        forecasts["linear"] = {}
        for split in truth:
            history, _ = windows(scaled, series.window_starts(split, config), config, len(schema["targets"]))
            forecasts["linear"][split] = linear.predict(history, len(schema["targets"]))
        for weight in (0.1, 0.2, 0.3, 0.4, 0.5):
            forecasts[f"{1 - weight:.1f} x {mean} + {weight:.1f} x linear"] = {
                split: (1 - weight) * forecasts[mean][split] + weight * forecasts["linear"][split] for split in truth}

    schema = first[1]
    rows = []
    for name, by_split in forecasts.items():
        row = {"forecast": name}
        for split, forecast in by_split.items():
            metrics = score(forecast, truth[split], schema["std"], schema["targets"])
            row.update({f"{split} mse": f"{metrics['mse']:.4f}", f"{split} mae": f"{metrics['mae']:.4f}"})
        rows.append(row)
    print(machine())
    print_table(rows, list(rows[0]))
    if args.with_linear:
        mixes = [row for row in rows if "x linear" in row["forecast"]]
        best = min(mixes, key=lambda row: float(row["val mse"]))
        print(f"mix chosen on validation MSE: {best['forecast']} (val {best['val mse']}, test {best['test mse']})")
    path = save_result("forecast_ensemble", {"machine": machine(), "data": args.data, "rows": rows})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
