"""KerasTuner search over the forecaster: model family, cell, units, seg_len, lookback and learning rate.

    python -m apps.forecast.tune --data ../shared/data/timeseries/ETTh1.csv --out runs/forecast-tune --trials 8 --epochs 10
    python -m apps.forecast.train --data ... --out runs/best --config runs/forecast-tune/best_config.json

Every trial sees the same windows: they are cut with the longest lookback tried, and a trial
with a shorter one reads only the last seq_len steps of each. Trials are scored on validation
MSE; the test split is never read.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from apps.forecast.config import MODELS, ForecastConfig
from rnnkit import cli

HELP = "Search model family, cell, units, seg_len, lookback and learning rate with KerasTuner (resumable); objective validation MSE."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_tune_arguments(parser, ForecastConfig, units="128,256,512")
    parser.add_argument("--models", default="segrnn,rnn", help=f"model families to try, of {', '.join(MODELS)} (default: segrnn,rnn)")
    parser.add_argument("--lookbacks", default="", help="comma-separated seq_len values to try (default: seq_len, 2x and 3.5x it)")
    parser.add_argument("--seg-lens", default="24,48", help="segrnn segment lengths to try (default: 24,48)")


def space_for(models: list[str], units: list[int], lookbacks: list[int], seg_lens: list[int]):
    def space(hp, base: ForecastConfig) -> ForecastConfig:
        model = hp.Choice("model", models)
        with hp.conditional_scope("model", ["segrnn"]):
            seg_len = hp.Choice("seg_len", seg_lens) if "segrnn" in models else base.seg_len
        return dataclasses.replace(
            base,
            model=model,
            cell=hp.Choice("cell", ["gru", "lstm"]),
            units=hp.Choice("units", units),
            seg_len=seg_len if model == "segrnn" else base.seg_len,
            seq_len=hp.Choice("seq_len", lookbacks),
            learning_rate=hp.Float("learning_rate", 3e-4, 3e-3, sampling="log"),
        )

    return space


def run(args: argparse.Namespace) -> int:
    from apps.forecast.data import (
        fit_scaler,
        load_series,
        make_dataset,
        schema_of,
        standardize,
        steps_per_epoch,
    )
    from apps.forecast.model import build_model, compile_model, monitor_name
    from rnnkit.training import set_seed

    base, seed = cli.resolve_tune_config(ForecastConfig, args)
    set_seed(seed)
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown or not models:
        raise ValueError(f"--models {args.models}: choose from {', '.join(MODELS)}")
    units = cli.tune_units(args)
    lookbacks = cli.int_list(args.lookbacks, "--lookbacks") or sorted({base.seq_len, 2 * base.seq_len, int(3.5 * base.seq_len)})
    seg_lens = cli.int_list(args.seg_lens, "--seg-lens") or [base.seg_len]
    if "segrnn" in models and any(value % 2 for value in units):
        raise ValueError(f"--units {args.units}: segrnn needs even sizes")
    longest = dataclasses.replace(base, seq_len=max(lookbacks))
    series = load_series(args.data, longest, verbose=True)
    schema = schema_of(series, longest, fit_scaler(series))
    scaled = standardize(series.values, schema)
    targets, features = series.num_targets, len(series.columns)
    train_starts, val_starts = series.window_starts("train", longest), series.window_starts("val", longest)
    train_data = make_dataset(scaled, train_starts, longest, targets, shuffle=base.shuffle, seed=base.seed,
                              with_quantiles=bool(base.quantiles))
    val_data = make_dataset(scaled, val_starts, longest, targets, with_quantiles=bool(base.quantiles))
    steps = steps_per_epoch(len(train_starts), base.batch_size)
    print(f"tuning on {len(train_starts)} training and {len(val_starts)} validation windows of {max(lookbacks)} steps; "
          f"lookbacks {lookbacks}, models {models}, units {units}")
    cli.run_search(
        "forecast", args, base, seed,
        build_model=lambda config: compile_model(build_model(config, features, targets, input_steps=max(lookbacks)),
                                                 config, steps),
        space=space_for(models, units, lookbacks, seg_lens), train_data=train_data, val_data=val_data,
        objective=monitor_name(dataclasses.replace(base, monitor="mse")), direction="min",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
