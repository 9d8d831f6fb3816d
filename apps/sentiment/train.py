"""Train the review sentiment classifier.

    python -m apps.sentiment.train --data demo --out runs/sentiment-demo --epochs 3
    python -m apps.sentiment.train --data ../shared/data/aclImdb_train.tar.gz --out runs/imdb
    python -m apps.sentiment.train --out runs/imdb --resume          # continue after an interruption
"""

from __future__ import annotations

import argparse
import sys

from apps.sentiment.config import SentimentConfig
from rnnkit import cli

HELP = ("Train an Embedding -> BiLSTM/BiGRU -> attention pooling classifier on movie reviews, batched in "
        "length buckets; early stopping on validation accuracy.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_train_arguments(parser, SentimentConfig)


def prepare(reviews, config, vocabulary=None):
    """Vectorizer (adapted on the training split unless `vocabulary` is given), ids, lengths, bucket plan."""
    from apps.sentiment.data import adapt_vectorizer, bucket_plan, encode, make_vectorizer

    if vocabulary is None:
        vectorizer = adapt_vectorizer(reviews.train.texts, config.vocab_size)
    else:
        vectorizer = make_vectorizer(config.vocab_size, vocabulary)
    train_ids, train_lengths = encode(vectorizer, reviews.train.texts, config.max_length, config.truncate)
    val_ids, val_lengths = encode(vectorizer, reviews.val.texts, config.max_length, config.truncate)
    plan = bucket_plan(train_lengths, config)
    return vectorizer, (train_ids, train_lengths), (val_ids, val_lengths), plan


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from apps.sentiment.data import (
        load_reviews,
        load_vocabulary,
        make_dataset,
        resolved_source,
        save_vocabulary,
        steps_per_epoch,
    )
    from apps.sentiment.model import build_model, compile_model, training_model, training_pairs
    from rnnkit.config import config_to_dict, save_config
    from rnnkit.data.bucketing import padding_report
    from rnnkit.io import atomic_write_json
    from rnnkit.training import RunDir, fit, get_strategy, set_seed

    started = time.perf_counter()
    strategy = get_strategy(args.strategy)  # first: a multi-worker strategy must exist before other TF work
    config = cli.resolve_train_config(SentimentConfig, args)
    run_dir = RunDir(args.out)
    run_dir.prepare(args.resume)
    set_seed(config.seed)

    vocab_path = run_dir.path / "vocab.txt"
    resuming = args.resume and vocab_path.is_file()
    if resuming:
        from rnnkit.io import read_json

        args.data = read_json(run_dir.config_path).get("data", args.data)
    reviews = load_reviews(args.data, config.val_fraction, config.split_seed, config.max_examples)
    print(reviews.describe())
    vectorizer, (train_ids, train_lengths), (val_ids, _), plan = prepare(
        reviews, config, load_vocabulary(vocab_path) if resuming else None
    )
    vocabulary = [str(token) for token in vectorizer.get_vocabulary()]
    if not resuming and run_dir.chief:
        save_vocabulary(vocabulary, vocab_path)
        save_config(config, run_dir.config_path, app="sentiment", data=args.data, data_resolved=resolved_source(args.data))
    report = padding_report(np.minimum(train_lengths, config.max_length), plan, config.batch_size, seed=config.seed)
    cut = float(np.mean(train_lengths > config.max_length))
    print(f"vocabulary {len(vocabulary)} ids; {cut:.1%} of training reviews are longer than max_length="
          f"{config.max_length} tokens and are cut ({config.truncate})")
    print(f"batching: {config.batching}; {plan.describe()}")
    print(report.summary())

    pair_keys = training_pairs(config, train_ids, len(vocabulary))
    if pair_keys is not None:
        print(f"n-gram bag: {len(vocabulary)} words and the {len(pair_keys)} word pairs found in at least "
              f"{config.ngram_min_reviews} training reviews")
    steps = steps_per_epoch(train_lengths, config, plan)
    train_data = make_dataset(train_ids, reviews.train.labels, config, plan=plan, shuffle=config.shuffle)
    val_data = make_dataset(val_ids, reviews.val.labels, config, plan=plan)
    extras = "".join([f", adversarial embeddings (epsilon {config.adversarial:g})" if config.adversarial else "",
                      f", {config.pretrain_epochs} epoch(s) of LM pretraining first" if config.pretrain_epochs else ""])
    print(f"sentiment: {steps} steps/epoch; {config.num_layers}x Bi{config.cell.upper()}-{config.units}, "
          f"embedding {config.embedding_dim}, pooling {config.pooling}{extras}")

    pretrained = pretraining = None
    if config.pretrain_epochs and not (args.resume and run_dir.read_state()):
        from apps.sentiment.pretrain import pretrain

        pretrained, pretraining = pretrain(train_ids, len(vocabulary), config, plan)

    def build():
        classifier = build_model(config, len(vocabulary), pair_keys)
        if pretrained is not None:
            from apps.sentiment.pretrain import apply_pretrained

            apply_pretrained(classifier, pretrained)
        return compile_model(training_model(config, classifier), config, steps)

    result = fit(
        build,
        train_data,
        val_data,
        run_dir,
        epochs=config.epochs,
        resume=args.resume,
        strategy=strategy,
        monitor="val_accuracy",
        mode="max",
        patience=config.patience or None,
    )
    if result.best is None or not run_dir.chief:
        return 0
    epoch_seconds = [row["seconds"] for row in result.history]
    summary = {
        "data": args.data,
        "best_val_accuracy": result.best,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "train_seconds": round(sum(epoch_seconds), 1),
        "mean_epoch_seconds": round(float(np.mean(epoch_seconds)), 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "train_reviews": len(reviews.train),
        "val_reviews": len(reviews.val),
        "skipped": reviews.skipped.as_dict(),
        "reviews_cut": cut,
        "ngram_pairs": None if pair_keys is None else len(pair_keys),
        "padding": report.as_dict(),
        "validation_split": reviews.split_description(),
        "pretraining": pretraining,
        "config": config_to_dict(config),
    }
    atomic_write_json(run_dir.path / "summary.json", summary)
    print(f"best validation accuracy {result.best:.4f} (epoch {result.best_epoch}); "
          f"{summary['train_seconds']:.0f} s of training, {summary['mean_epoch_seconds']:.0f} s/epoch; "
          f"model: {run_dir.model_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
