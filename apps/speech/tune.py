"""KerasTuner search over the speech model: cell, units, conv filters, dropout, learning rate.

    python -m apps.speech.tune --data demo --out runs/speech-tune --trials 8 --epochs 5
    python -m apps.speech.train --data demo --out runs/best --config runs/speech-tune/best_config.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from apps.speech.config import SpeechConfig
from rnnkit import cli

HELP = "Search cell type, units, conv filters, dropout and learning rate with KerasTuner (resumable); objective val_accuracy."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_tune_arguments(parser, SpeechConfig, units="32,64,128")


def space_for(units: list[int]):
    def space(hp, base: SpeechConfig) -> SpeechConfig:
        return dataclasses.replace(
            base,
            cell=hp.Choice("cell", ["gru", "lstm", "simple"]),
            units=hp.Choice("units", units),
            conv_filters=hp.Choice("conv_filters", [8, 16, 32]),
            dropout=hp.Float("dropout", 0.0, 0.4, step=0.1),
            learning_rate=hp.Float("learning_rate", 1e-3, 1e-2, sampling="log"),
        )

    return space


def run(args: argparse.Namespace) -> int:
    import warnings

    from apps.speech.model import build_model, compile_model
    from apps.speech.train import prepare_data
    from rnnkit.training import set_seed

    warnings.filterwarnings("ignore", message="Your input ran out of data")  # see train.py
    base, seed = cli.resolve_tune_config(SpeechConfig, args)
    set_seed(seed)
    units = cli.tune_units(args)
    source, train_data, val_data, steps, _ = prepare_data(args.data, base)
    cli.run_search(
        "speech", args, base, seed,
        build_model=lambda config: compile_model(build_model(config, len(source.labels)), config, steps),
        space=space_for(units), train_data=train_data, val_data=val_data, objective="val_accuracy", direction="max",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
