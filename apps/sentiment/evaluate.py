"""Score a sentiment run: accuracy, ROC AUC, confusion matrix, accuracy per review length.

    python -m apps.sentiment.evaluate --model runs/imdb --data aclImdb_v1.tar.gz --json          # the test split
    python -m apps.sentiment.evaluate --model runs/imdb --data ../shared/data/aclImdb_train.tar.gz --split val
"""

from __future__ import annotations

import argparse
import sys

from rnnkit import cli

HELP = ("Accuracy, ROC AUC, log loss, confusion matrix and accuracy per length bucket of a trained run "
        "(the test split when the source has one, else all of it; --split val for the held-out part).")

SPLIT_CHOICES = ("auto", "test", "val", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_evaluate_arguments(parser)
    parser.add_argument("--split", choices=SPLIT_CHOICES, default="auto",
                        help="auto: test when the source has one, else all; val: the validation part carved "
                             "from train with the run's seed (default: auto)")


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve: the chance a random positive outranks a random negative (ties count half)."""
    import numpy as np
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def length_edges(max_length: int) -> list[int]:
    """Bucket edges in tokens (before cutting): short, medium, long, and cut at max_length."""
    return [edge for edge in (100, 200) if edge < max_length] + [max_length]


def accuracy_by_length(lengths, correct, max_length: int) -> list[dict]:

    edges = length_edges(max_length)
    rows, low = [], 0
    for high in [*edges, None]:
        if high is None:
            chosen = lengths > edges[-1]
            name = f">{edges[-1]} (cut)"
        else:
            chosen = (lengths >= low) & (lengths <= high if high == edges[-1] else lengths < high)
            name = f"{low}-{high if high == edges[-1] else high - 1}"
            low = high
        count = int(chosen.sum())
        rows.append({"tokens": name, "reviews": count,
                     "accuracy": float(correct[chosen].mean()) if count else None})
    return rows


def score(probabilities, labels, lengths, max_length: int) -> dict:
    import numpy as np
    import tensorflow as tf

    labels = np.asarray(labels, np.int32)
    probabilities = np.asarray(probabilities, np.float64)
    predicted = (probabilities >= 0.5).astype(np.int32)
    correct = predicted == labels
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    matrix = tf.math.confusion_matrix(labels, predicted, num_classes=2, dtype=tf.int64).numpy()
    return {
        "reviews": int(len(labels)),
        "accuracy": float(correct.mean()) if len(labels) else float("nan"),
        "roc_auc": roc_auc(labels, probabilities),
        "log_loss": float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))),
        "confusion_matrix": matrix.tolist(),
        "accuracy_by_length": accuracy_by_length(np.asarray(lengths), correct, max_length),
    }


def choose_split(reviews, split: str):
    from apps.sentiment.data import ReviewSet

    if split == "val":
        return reviews.val, "validation"
    if split in ("auto", "test") and reviews.test is not None:
        return reviews.test, "test"
    if split == "test":
        raise ValueError(f"--data {reviews.source} has no test split; use --split val or --split all")
    import numpy as np

    parts = [reviews.train, reviews.val]
    return ReviewSet([t for part in parts for t in part.texts], np.concatenate([p.labels for p in parts])), "all"


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from apps.sentiment.data import CLASS_NAMES, encode, load_reviews, make_vectorizer
    from apps.sentiment.model import load_run, predict_probabilities
    from rnnkit.plots import plot_bars, plot_confusion_matrix

    model, vocabulary, config, _ = load_run(args.model)
    reviews = load_reviews(args.data, config.val_fraction, config.seed, config.max_examples)
    chosen, split = choose_split(reviews, args.split)
    vectorizer = make_vectorizer(config.vocab_size, vocabulary)
    ids, lengths = encode(vectorizer, chosen.texts, config.max_length, config.truncate)
    metrics = {"data": args.data, "split": split,
               **score(predict_probabilities(model, ids), chosen.labels, lengths, config.max_length),
               "skipped_files": reviews.skipped.count}
    out = Path(args.out or Path(args.model) / "eval")
    plot_confusion_matrix(metrics["confusion_matrix"], list(CLASS_NAMES), out / "confusion_matrix.png",
                          title=f"{split}: accuracy {metrics['accuracy']:.3f}")
    buckets = [row for row in metrics["accuracy_by_length"] if row["reviews"]]
    plot_bars([row["tokens"] for row in buckets], [row["accuracy"] for row in buckets], out / "accuracy_by_length.png",
              ylabel="accuracy", title="accuracy by review length (tokens)", ylim=(0, 1.05),
              notes=[f"{row['accuracy']:.3f}\nn={row['reviews']}" for row in buckets])
    metrics["plots"] = [str(out / "confusion_matrix.png"), str(out / "accuracy_by_length.png")]
    if not args.json:
        print(reviews.skipped.summary())
        for row in metrics["accuracy_by_length"]:
            shown = "-" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
            print(f"  {row['tokens']:>14} tokens: {row['reviews']:>6} reviews, accuracy {shown}")
    cli.report_metrics(metrics, out, args.json, title=f"sentiment on {args.data} ({split})")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
