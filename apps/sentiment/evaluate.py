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
                        help="auto: the source's test/ folder when it has one, else every review; val: the part "
                             "of the run's own training source it held out (by movie when the source lists "
                             "movies); all: every review (default: auto)")


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
    return [edge for edge in (100, 200, 400, 800) if edge < max_length] + [max_length]


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


def choose_split(source: str, split: str, config, trained_on: str | None):
    """(reviews to score, split name, how it was chosen, skipped files) for `evaluate --split`.

    The run's validation fraction, split_seed and max_examples describe only the source it was trained
    on; any other source is never carved with them: `auto` scores its test/ folder when it has
    one and otherwise every review.
    """
    import numpy as np

    from apps.sentiment.data import ReviewSet, load_reviews, read_source, same_source

    own = same_source(source, trained_on)
    if split == "val":
        if not own:
            raise ValueError(f"--split val: the validation part is carved from the run's training source "
                             f"({trained_on}) with its seed; {source} is another source, so score it with "
                             "--split auto, test or all")
        reviews = load_reviews(source, config.val_fraction, config.split_seed, config.max_examples)
        how = (f"the part of the run's training source it held out ({reviews.split_description()}; "
               f"val_fraction {config.val_fraction:g}, split_seed {config.split_seed})")
        return reviews.val, "validation", how, reviews.skipped
    splits, skipped = read_source(source)
    if split in ("auto", "test") and "test" in splits:
        return splits["test"], "test", "the source's own test split (its test/ folder)", skipped
    if split == "test":
        raise ValueError(f"--data {source} has no test split (no test/ folder); use --split all"
                         + (" or --split val" if own else ""))
    parts = [splits[name] for name in ("train", "test") if name in splits]
    every = ReviewSet([text for part in parts for text in part.texts], np.concatenate([part.labels for part in parts]))
    if split == "all":
        how = "every review of the source (asked for with --split all)"
    else:
        how = "every review: the source has no test/ folder"
    if own:
        how += "; note: this is the run's training source, so it includes the reviews the run trained on " \
               "(--split val scores the held-out part)"
    else:
        how += f"; it is not the run's training source ({trained_on}), so none of it is held out by the run's split"
    return every, "all", how, skipped


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from apps.sentiment.data import CLASS_NAMES, encode, make_vectorizer
    from apps.sentiment.model import load_run, predict_probabilities
    from rnnkit.plots import plot_bars, plot_confusion_matrix

    model, vocabulary, config, trained_on = load_run(args.model)
    chosen, split, how, skipped = choose_split(args.data, args.split, config, trained_on)
    print(f"scoring the {split} split of {args.data}: {how}; {len(chosen)} reviews "
          f"({int(chosen.labels.sum())} positive)", flush=True)
    vectorizer = make_vectorizer(config.vocab_size, vocabulary)
    ids, lengths = encode(vectorizer, chosen.texts, config.max_length, config.truncate)
    metrics = {"data": args.data, "split": split, "split_chosen": how,
               **score(predict_probabilities(model, ids), chosen.labels, lengths, config.max_length),
               "skipped_files": skipped.count}
    out = Path(args.out or Path(args.model) / "eval")
    plot_confusion_matrix(metrics["confusion_matrix"], list(CLASS_NAMES), out / "confusion_matrix.png",
                          title=f"{split}: accuracy {metrics['accuracy']:.3f}")
    buckets = [row for row in metrics["accuracy_by_length"] if row["reviews"]]
    plot_bars([row["tokens"] for row in buckets], [row["accuracy"] for row in buckets], out / "accuracy_by_length.png",
              ylabel="accuracy", title="accuracy by review length (tokens)", ylim=(0, 1.05),
              notes=[f"{row['accuracy']:.3f}\nn={row['reviews']}" for row in buckets])
    metrics["plots"] = [str(out / "confusion_matrix.png"), str(out / "accuracy_by_length.png")]
    if not args.json:
        print(skipped.summary())
        for row in metrics["accuracy_by_length"]:
            shown = "-" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
            print(f"  {row['tokens']:>14} tokens: {row['reviews']:>6} reviews, accuracy {shown}")
    cli.report_metrics(metrics, out, args.json, title=f"sentiment on {args.data} ({split})")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
