"""Score a forecast run: MSE / MAE (standardised and in original units), interval coverage, error by
horizon step, and the baselines on the same windows.

    python -m apps.forecast.evaluate --model runs/etth1-96 --data ../shared/data/timeseries/ETTh1.csv --json

Which windows (`--split auto`): on the run's own training source, its test split (the ETT
months, or the last 20%); on an ETT file the run was not trained on, that file's own test
months; on any other series, every window of it. Scaling statistics and the linear baseline
come from the run folder, never from the data being scored.

Writes to RUN_DIR/eval (or --out): metrics.json, error_by_horizon.csv (MSE and MAE of the
model and of each baseline at every step ahead), forecasts.png (history, forecast, 80% band
and truth for a few windows), error_by_horizon.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit import cli

HELP = "MSE, MAE, interval coverage and error by horizon step of a trained run, beside the baselines on the same windows."
SPLITS = ("auto", "train", "val", "test", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_evaluate_arguments(parser)
    parser.add_argument("--split", choices=SPLITS, default="auto",
                        help="auto: the test split of the run's own source or of an ETT file, else every window "
                             "(default: auto)")
    parser.add_argument("--plots", type=int, default=3, help="forecast windows to plot (default: 3)")


def choose_split(series, requested: str, same_source: bool) -> tuple[str, str]:
    """(split, why) for `--split`."""
    if requested == "auto":
        if same_source and series.borders:
            how = "ETT months 12/4/4" if series.split_kind == "ett" else "the last part in time"
            return "test", f"the run's own training source: its test split ({how})"
        if series.split_kind == "ett":
            return "test", "an ETT file: its own test months (12/4/4)"
        return "all", "not the run's training source and no split of its own: every window"
    if requested != "all" and not series.borders:
        raise ValueError(f"--split {requested}: {series.name} is not the run's training source and has no split of "
                         "its own; use --split all (or auto)")
    return requested, "asked for with --split"


def evaluate(run_dir, data: str, split: str = "auto", out_dir: Path | None = None, plots: int = 3,
             verbose: bool = True) -> dict:
    from apps.forecast.baselines import LinearBaseline, all_baselines
    from apps.forecast.data import canonical_source, load_series, standardize, windows
    from apps.forecast.metrics import by_step, comparison_lines, score
    from apps.forecast.model import load_run, predict_windows

    model, config, schema = load_run(run_dir)
    series = load_series(data, config, schema=schema)
    same = canonical_source(data) == schema["source"]
    chosen, why = choose_split(series, split, same)
    starts = series.window_starts(chosen, config)
    if not len(starts):
        raise ValueError(f"--data {data}: the {chosen} split has no complete window of {config.seq_len + config.horizon} steps")
    if verbose:
        print(series.describe(config))
    dropped = series.dropped_windows(chosen, config)
    # Said even with --json (whose last line stays the metrics): which windows, why, and how many.
    print(f"scoring the {chosen} split of {series.name} ({why}): {len(starts)} windows"
          + (f" ({dropped} dropped over long gaps)" if dropped else ""))
    targets = len(schema["targets"])
    scaled = standardize(series.values, schema)
    history, future = windows(scaled, starts, config, targets)
    forecast, quantiles = predict_windows(model, history)
    metrics = {"data": data, "split": chosen, "split_reason": why, "windows": int(len(starts)),
               "windows_dropped": int(series.dropped_windows(chosen, config)),
               "seq_len": config.seq_len, "horizon": config.horizon, "targets": schema["targets"]}
    model_scores = score(forecast, future, schema["std"], schema["targets"], quantiles, config.quantiles)
    metrics.update(model_scores)
    if "interval" in model_scores:
        metrics["coverage"] = model_scores["interval"]["coverage"]
    try:
        linear = LinearBaseline.load(run_dir)
    except FileNotFoundError as error:
        print(f"note: {error}", file=sys.stderr)
        linear = None
    baseline_forecasts = all_baselines(history, targets, config.horizon, schema["period"], linear)
    metrics["baselines"] = {name: score(values, future, schema["std"], schema["targets"])
                            for name, values in baseline_forecasts.items()}
    metrics["beats"] = {name: bool(model_scores["mse"] < row["mse"]) for name, row in metrics["baselines"].items()}
    if verbose:
        print("\n".join(comparison_lines(model_scores, metrics["baselines"])))
    if out_dir is not None:
        out_dir = Path(out_dir)
        steps = {"model": by_step(forecast, future), **{name: by_step(values, future)
                                                        for name, values in baseline_forecasts.items()}}
        write_error_by_horizon(out_dir / "error_by_horizon.csv", steps)
        metrics["plots"] = write_plots(out_dir, series, starts, history, future, forecast, quantiles, schema, config,
                                       steps, plots, f"{series.name} ({chosen})")
        metrics["error_by_horizon"] = str(out_dir / "error_by_horizon.csv")
    metrics["seasonal_period"] = schema["period"]
    metrics["mse_vs_linear"] = (float(model_scores["mse"] / metrics["baselines"]["linear"]["mse"])
                                if "linear" in metrics["baselines"] else None)
    return metrics


def write_error_by_horizon(path: Path, steps: dict[str, dict[str, list[float]]]) -> None:
    import csv
    import io

    from rnnkit.io import atomic_write_text

    names = list(steps)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["step"] + [f"{name}_{kind}" for name in names for kind in ("mse", "mae")])
    for index in range(len(steps["model"]["mse"])):
        writer.writerow([index + 1] + [f"{steps[name][kind][index]:.6f}" for name in names for kind in ("mse", "mae")])
    atomic_write_text(path, buffer.getvalue())


def write_plots(out_dir: Path, series, starts, history, future, forecast, quantiles, schema, config, steps, count: int,
                title: str) -> list[str]:
    import numpy as np

    from apps.forecast.plots import plot_error_by_horizon, plot_forecast_windows

    written = [str(plot_error_by_horizon({name: values["mse"] for name, values in steps.items()},
                                         out_dir / "error_by_horizon.png", title=f"{title}: MSE by step ahead"))]
    if count > 0:
        chosen = np.unique(np.linspace(0, len(starts) - 1, num=min(count, len(starts))).round().astype(int))
        mean, std = np.asarray(schema["mean"], np.float32), np.asarray(schema["std"], np.float32)
        targets = len(schema["targets"])

        def raw(values):
            return values * std[:targets] + mean[:targets]

        bands = None
        if quantiles is not None and quantiles.shape[-1] >= 2:
            bands = (raw(quantiles[chosen][..., 0]), raw(quantiles[chosen][..., -1]))
        levels = (config.quantiles[0], config.quantiles[-1]) if bands is not None else None
        written.append(str(plot_forecast_windows(
            [series.times[starts[index]: starts[index] + config.seq_len + config.horizon] for index in chosen],
            raw(history[chosen][..., :targets]), raw(future[chosen]), raw(forecast[chosen]), bands, schema["targets"],
            out_dir / "forecasts.png", levels=levels, title=title)))
    return written


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(args.model) / "eval"
    metrics = evaluate(args.model, args.data, args.split, out, args.plots, verbose=not args.json)
    if args.json:
        cli.report_metrics(metrics, out, True)
        return 0
    shown = {key: metrics[key] for key in ("data", "split", "windows", "windows_dropped", "seq_len", "horizon", "mse", "mae")}
    for name, value in metrics["mae_original"].items():
        shown[f"mae_original[{name}]"] = value
    if "interval" in metrics:
        low, high = metrics["interval"]["levels"]
        shown[f"coverage ({low:g}-{high:g}, nominal {high - low:.0%})"] = metrics["coverage"]
        shown["pinball"] = metrics["pinball"]
    for name, row in metrics["baselines"].items():
        shown[f"{name} mse / mae"] = f"{row['mse']:.4f} / {row['mae']:.4f}"
    cli.report_metrics(shown, out, False, title=f"forecast on {args.data} ({metrics['split']}, {metrics['windows']} windows)")
    from rnnkit.io import atomic_write_json

    atomic_write_json(out / "metrics.json", metrics)  # the full record, not the table
    print(f"plots: {', '.join(metrics.get('plots', []))}; error by step: {metrics.get('error_by_horizon')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
