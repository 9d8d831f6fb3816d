"""KerasTuner search over the captioning decoder: cell (GRU, LSTM, SimpleRNN), units, attention, dropout, learning rate.

    python -m apps.captioning.tune --data ../shared/data/flickr8k_subset --out runs/captioning-tune --trials 8 --epochs 5
    python -m apps.captioning.train --data ../shared/data/flickr8k_subset --out runs/best --config runs/captioning-tune/best_config.json

With a frozen encoder (the default) the image features are computed once and
cached in TUNE_DIR/cache, so every trial trains only the decoder.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from apps.captioning.config import ATTENTIONS, CELLS, CaptioningConfig
from apps.captioning.train import add_encoder_weights_argument, apply_encoder_weights
from rnnkit import cli

HELP = "Search decoder cell, units, attention kind, dropout and learning rate with KerasTuner (resumable); objective val_loss."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_tune_arguments(parser, CaptioningConfig, units="128,256,512")
    add_encoder_weights_argument(parser)


def space_for(units: list[int]):
    def space(hp, base: CaptioningConfig) -> CaptioningConfig:
        return dataclasses.replace(
            base,
            cell=hp.Choice("cell", list(CELLS)),
            units=hp.Choice("units", units),
            attention=hp.Choice("attention", list(ATTENTIONS)),
            dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
            learning_rate=hp.Float("learning_rate", 3e-4, 3e-3, sampling="log"),
        )

    return space


def run(args: argparse.Namespace) -> int:
    from apps.captioning.inputs import prepare
    from apps.captioning.model import build_model, compile_model
    from rnnkit.training import set_seed

    apply_encoder_weights(args)
    base, seed = cli.resolve_tune_config(CaptioningConfig, args)
    base = base.resolved(args.data)
    set_seed(seed)
    units = cli.tune_units(args)
    prepared = prepare(base, args.data, cache_dir=Path(args.out) / "cache")
    train_data, val_data = prepared.datasets(base)
    steps = prepared.steps_per_epoch(base)
    cli.run_search(
        "captioning", args, base, seed,
        build_model=lambda config: compile_model(
            build_model(config, len(prepared.vocabulary), prepared.grid_shape, encoder=prepared.encoder,
                        tail=prepared.tail), config, steps),
        space=space_for(units), train_data=train_data, val_data=val_data,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
