"""KerasTuner search over the sentiment model: cell, units, embedding, dropouts, pooling, learning rate.

    python -m apps.sentiment.tune --data ../shared/data/aclImdb_train.tar.gz --out runs/sentiment-tune --trials 8 --epochs 3
    python -m apps.sentiment.train --data ... --out runs/best --config runs/sentiment-tune/best_config.json

Trials are scored on the validation split carved from train (val_accuracy); the test split is never read.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from apps.sentiment.config import SentimentConfig
from rnnkit import cli

HELP = "Search cell type, units, embedding size, dropouts, pooling and learning rate with KerasTuner (resumable)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_tune_arguments(parser, SentimentConfig, units="32,64,128")


def space_for(units: list[int]):
    def space(hp, base: SentimentConfig) -> SentimentConfig:
        return dataclasses.replace(
            base,
            cell=hp.Choice("cell", ["lstm", "gru"]),
            units=hp.Choice("units", units),
            embedding_dim=hp.Choice("embedding_dim", [64, 128, 192]),
            embedding_dropout=hp.Float("embedding_dropout", 0.0, 0.5, step=0.1),
            dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
            pooling=hp.Choice("pooling", ["attention", "attention_max", "mean_max"]),
            learning_rate=hp.Float("learning_rate", 5e-4, 5e-3, sampling="log"),
        )

    return space


def run(args: argparse.Namespace) -> int:
    from apps.sentiment.data import load_reviews, make_dataset, steps_per_epoch
    from apps.sentiment.model import build_model, compile_model, training_model, training_pairs
    from apps.sentiment.train import prepare
    from rnnkit.training import set_seed

    base, seed = cli.resolve_tune_config(SentimentConfig, args)
    units = cli.tune_units(args)
    set_seed(seed)
    reviews = load_reviews(args.data, base.val_fraction, base.split_seed, base.max_examples)
    print(reviews.describe())
    # The vocabulary, ids and buckets do not depend on the searched fields, so they are made once.
    vectorizer, (train_ids, train_lengths), (val_ids, _), plan = prepare(reviews, base)
    vocab_size = len(vectorizer.get_vocabulary())
    train_data = make_dataset(train_ids, reviews.train.labels, base, plan=plan, shuffle=base.shuffle)
    val_data = make_dataset(val_ids, reviews.val.labels, base, plan=plan)
    steps = steps_per_epoch(train_lengths, base, plan)
    pair_keys = training_pairs(base, train_ids, vocab_size)  # the searched fields do not change them either
    cli.run_search(
        "sentiment", args, base, seed,
        # Trials train as `train` does (adversarial pass included) but skip LM pretraining, which
        # does not depend on the searched fields and would cost every trial an extra epoch.
        build_model=lambda config: compile_model(training_model(config, build_model(config, vocab_size, pair_keys)),
                                                 config, steps),
        space=space_for(units), train_data=train_data, val_data=val_data, objective="val_accuracy", direction="max",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
