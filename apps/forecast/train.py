"""Train a forecaster on a CSV time series.

    python -m apps.forecast.train --data demo --out runs/forecast-demo
    python -m apps.forecast.train --data ../shared/data/timeseries/ETTh1.csv --out runs/etth1-96 --set horizon=96
    python -m apps.forecast.train --data ../shared/data/timeseries/beijing_pm25.csv --out runs/pm25 \\
        --set targets=pm2.5 --set covariates=DEWP,TEMP,PRES,cbwd,Iws,Is,Ir --set horizon=24
    python -m apps.forecast.train --out runs/etth1-96 --resume          # continue after an interruption

Besides the model, the run folder gets series.json (columns, categories, the training part's
scaling statistics, the split) and linear_baseline.npz, so `evaluate` needs only the data it
scores; summary.json compares the model with the baselines on the validation split.
"""

from __future__ import annotations

import argparse
import sys

from apps.forecast.config import ForecastConfig
from rnnkit import cli

HELP = ("Train SegRNN (or a GRU/LSTM/SimpleRNN over steps, or an attention decoder) with quantile heads on a "
        "time series; early stopping on validation MSE; baselines fitted and compared in the same run.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_train_arguments(parser, ForecastConfig)


def numpy_batches(scaled, starts, config, targets: int, batch: int = 2048):
    """(history, future) NumPy windows in chunks, for the closed-form baseline and scoring."""
    from apps.forecast.data import windows

    for first in range(0, len(starts), batch):
        yield windows(scaled, starts[first: first + batch], config, targets)


def validation_report(model, scaled, starts, config, schema, linear) -> dict:
    """The model and the baselines on the same validation windows."""
    from apps.forecast.baselines import all_baselines
    from apps.forecast.data import windows
    from apps.forecast.metrics import score
    from apps.forecast.model import predict_windows

    targets = len(schema["targets"])
    history, future = windows(scaled, starts, config, targets)
    forecast, quantiles = predict_windows(model, history)
    std = schema["std"]
    report = {"model": score(forecast, future, std, schema["targets"], quantiles, config.quantiles)}
    for name, baseline in all_baselines(history, targets, config.horizon, schema["period"], linear).items():
        report[name] = score(baseline, future, std, schema["targets"])
    return report


def run(args: argparse.Namespace) -> int:
    import time

    import keras

    from apps.forecast.baselines import LinearBaseline
    from apps.forecast.data import (
        fit_scaler,
        load_series,
        make_dataset,
        read_schema,
        schema_of,
        standardize,
        steps_per_epoch,
        write_schema,
    )
    from apps.forecast.metrics import comparison_lines
    from apps.forecast.model import build_model, compile_model, monitor_name
    from rnnkit.config import config_to_dict, save_config
    from rnnkit.io import atomic_write_json, read_json
    from rnnkit.training import RunDir, fit, get_strategy, set_seed

    started = time.perf_counter()
    strategy = get_strategy(args.strategy)  # first: a multi-worker strategy must exist before other TF work
    config = cli.resolve_train_config(ForecastConfig, args)
    run_dir = RunDir(args.out)
    run_dir.prepare(args.resume)
    set_seed(config.seed)
    saved = read_json(run_dir.config_path) if args.resume and run_dir.config_path.is_file() else {}
    data = saved.get("data", args.data) if args.resume else args.data
    series = load_series(data, config, verbose=True)
    schema_path = run_dir.path / "series.json"
    if args.resume and schema_path.is_file():
        schema = read_schema(run_dir.path)
        if schema["columns"] != series.columns:
            raise ValueError(f"--resume: the columns of {data} differ from the run's series.json; start a new --out")
    else:
        schema = schema_of(series, config, fit_scaler(series))
    scaled = standardize(series.values, schema)
    starts = {split: series.window_starts(split, config) for split in ("train", "val")}
    targets, features = series.num_targets, len(series.columns)
    linear = None
    if run_dir.chief:
        write_schema(run_dir.path, schema)
        save_config(config, run_dir.config_path, app="forecast", data=data)
        try:
            linear = LinearBaseline.load(run_dir.path)
        except FileNotFoundError:
            linear = LinearBaseline.fit(numpy_batches(scaled, starts["train"], config, targets))
            linear.save(run_dir.path)

    steps = steps_per_epoch(len(starts["train"]), config.batch_size)
    train_data = make_dataset(scaled, starts["train"], config, targets, shuffle=config.shuffle, seed=config.seed,
                              with_quantiles=bool(config.quantiles))
    val_data = make_dataset(scaled, starts["val"], config, targets, with_quantiles=bool(config.quantiles))
    shape = (f"SegRNN ({config.cell.upper()}-{config.units} over segments of {config.seg_len})" if config.model == "segrnn"
             else f"{config.num_layers}x {config.cell.upper()}-{config.units} over steps" +
             (f" + {config.attention} attention decoder" if config.model == "seq2seq" else ""))
    print(f"forecast: {len(starts['train'])} training and {len(starts['val'])} validation windows, {steps} steps/epoch; "
          f"{config.seq_len} steps in, {config.horizon} out, {targets} targets + {features - targets} covariates; "
          f"{shape}, RevIN {config.revin}, quantiles {', '.join(map(str, config.quantiles)) or 'none'}")
    result = fit(
        lambda: compile_model(build_model(config, features, targets), config, steps),
        train_data,
        val_data,
        run_dir,
        epochs=config.epochs,
        resume=args.resume,
        strategy=strategy,
        monitor=monitor_name(config),
        mode="min",
        patience=config.patience or None,
    )
    if result.best is None or not run_dir.chief:
        return 0
    best = keras.saving.load_model(run_dir.trained_model_path(), compile=False)
    report = validation_report(best, scaled, starts["val"], config, schema, linear)
    model_row = report.pop("model")
    epoch_seconds = [row["seconds"] for row in result.history]
    summary = {
        "data": data,
        "best": {"monitor": monitor_name(config), "value": result.best, "epoch": result.best_epoch},
        "epochs_run": len(result.history),
        "train_seconds": round(sum(epoch_seconds), 1),
        "mean_epoch_seconds": round(sum(epoch_seconds) / max(1, len(epoch_seconds)), 2),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "windows": {split: int(len(values)) for split, values in starts.items()},
        "validation": {"model": model_row, **report},
        "data_report": series.report.as_dict(),
        "parameters": int(best.count_params()),
        "config": config_to_dict(config),
    }
    atomic_write_json(run_dir.path / "summary.json", summary)
    print(f"validation ({len(starts['val'])} windows, standardised):")
    print("\n".join(comparison_lines(model_row, report)))
    print(f"best {monitor_name(config)} {result.best:.4f} (epoch {result.best_epoch}); {summary['train_seconds']:.0f} s of "
          f"training, {summary['mean_epoch_seconds']:.1f} s/epoch; model: {run_dir.model_path}")
    print(f"next:  rnnkit forecast evaluate --model {run_dir.path} --data {data}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
