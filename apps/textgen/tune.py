"""KerasTuner search over the textgen model: layers, units, cell, dropout, learning rate.

    python -m apps.textgen.tune --data demo --out runs/textgen-tune --trials 8 --epochs 3
    python -m apps.textgen.train --data demo --out runs/best --config runs/textgen-tune/best_config.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from apps.textgen.config import CELLS, TextGenConfig
from rnnkit import cli

HELP = "Search layers, units, cell type, dropout and learning rate with KerasTuner (resumable)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_tune_arguments(parser, TextGenConfig, units="128,256,512")
    parser.add_argument("--max-layers", type=int, default=3, help="try 1..N stacked layers (default: 3)")


def space_for(units: list[int], max_layers: int):
    def space(hp, base: TextGenConfig) -> TextGenConfig:
        return dataclasses.replace(
            base,
            num_layers=hp.Int("num_layers", 1, max_layers),
            units=hp.Choice("units", units),
            cell=hp.Choice("cell", list(CELLS)),
            dropout=hp.Float("dropout", 0.0, 0.5, step=0.05),
            learning_rate=hp.Float("learning_rate", 3e-4, 1e-2, sampling="log"),
        )

    return space


def run(args: argparse.Namespace) -> int:
    from apps.textgen.data import Vocabulary, load_text, make_dataset
    from apps.textgen.model import build_model, compile_model
    from rnnkit.training import set_seed

    base, seed = cli.resolve_tune_config(TextGenConfig, args)
    set_seed(seed)
    units = cli.tune_units(args)
    source = load_text(args.data, base.val_fraction, base.max_chars)
    vocabulary = Vocabulary.from_text(source.train + source.val)
    train_ids, _ = vocabulary.encode(source.train)
    val_ids, _ = vocabulary.encode(source.val)
    train_data = make_dataset(train_ids, base.seq_len, base.batch_size, shuffle=True, seed=seed)
    val_data = make_dataset(val_ids, base.seq_len, base.batch_size, shuffle=False)
    steps = max(1, ((len(train_ids) - 1 - base.seq_len) // base.seq_len) // base.batch_size)
    cli.run_search(
        "textgen", args, base, seed,
        build_model=lambda config: compile_model(build_model(config, len(vocabulary)), config, steps),
        space=space_for(units, args.max_layers), train_data=train_data, val_data=val_data,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
