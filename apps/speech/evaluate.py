"""Score a speech run: accuracy, per-class precision / recall / F1, confusion matrix, attention plots.

    python -m apps.speech.evaluate --model runs/digits --data ../shared/data/spoken_digits --json

Writes to RUN_DIR/eval (or --out): metrics.json, per_class.csv, errors.csv (every
misclassified clip), confusion_matrix.png and attention/*.png (a clip's log-mel
spectrogram with the model's attention over time).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit import cli

HELP = "Accuracy, per-class report, confusion matrix and attention plots on the test split (or --split)."
SPLITS = ("auto", "train", "val", "test", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_evaluate_arguments(parser)
    parser.add_argument("--split", choices=SPLITS, default="auto",
                        help="auto: the test split when the source has one, else all clips")
    parser.add_argument("--plots", type=int, default=4, help="attention plots to write for the first N clips (default: 4)")


def classification_report(true, predicted, labels: list[str]) -> tuple[dict, list[list[int]]]:
    """Per-class precision, recall, F1 and support, and the confusion matrix (rows: true class)."""
    import tensorflow as tf

    matrix = tf.math.confusion_matrix(true, predicted, num_classes=len(labels), dtype=tf.int64).numpy()
    report = {}
    for index, label in enumerate(labels):
        hits = int(matrix[index, index])
        support, claimed = int(matrix[index].sum()), int(matrix[:, index].sum())
        precision = hits / claimed if claimed else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return report, matrix.tolist()


def format_report(report: dict) -> str:
    width = max(8, *(len(label) for label in report))
    lines = [f"{'class'.ljust(width)}  precision  recall     f1  support"]
    for label, row in report.items():
        lines.append(f"{label.ljust(width)}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:5.3f}  {row['support']:7d}")
    return "\n".join(lines)


def evaluate(model, labels: list[str], config, data: str, split: str = "auto", out_dir: Path | None = None,
             plots: int = 0, verbose: bool = True) -> dict:
    import numpy as np

    from apps.speech.data import load_source, make_dataset, scan_source
    from apps.speech.model import inspection_model

    source = load_source(data, config)
    if source.labels != list(labels):
        raise ValueError(f"--data {data}: its classes {source.labels} differ from the model's {labels}")
    if split == "auto":
        split = "test" if source.has("test") else "all"
    report = scan_source(source, config, splits=("train", "val", "test") if split == "all" else (split,), verbose=verbose)
    dataset = make_dataset(source, split, config, training=False, cache=False)
    inspect = inspection_model(model)
    true, probabilities, kept = [], [], []
    for waveforms, targets in dataset:
        probs, attention, spectrogram = inspect(waveforms, training=False)
        true.append(targets.numpy())
        probabilities.append(np.asarray(probs))
        if sum(len(item[0]) for item in kept) < plots:
            kept.append((np.asarray(spectrogram), np.asarray(attention)))
    true = np.concatenate(true)
    probabilities = np.concatenate(probabilities)
    predicted = probabilities.argmax(axis=1)
    per_class, matrix = classification_report(true, predicted, labels)
    top = np.argsort(-probabilities, axis=1)[:, :3]
    picked = probabilities[np.arange(len(true)), true]
    metrics = {
        "data": data,
        "split": split,
        "clips": int(len(true)),
        "skipped_files": len(report.skipped),
        "accuracy": float((predicted == true).mean()),
        "top3_accuracy": float((top == true[:, None]).any(axis=1).mean()),
        "loss": float(-np.log(np.maximum(picked, 1e-7)).mean()),
        "macro_f1": float(np.mean([row["f1"] for row in per_class.values()])),
    }
    if out_dir is not None:
        write_outputs(Path(out_dir), source, split, labels, config, true, probabilities, per_class, matrix, kept, plots,
                      f"{data} ({split}): accuracy {metrics['accuracy']:.3f}")
    metrics["per_class"] = per_class
    metrics["confusion_matrix"] = matrix
    return metrics


def write_outputs(out: Path, source, split, labels, config, true, probabilities, per_class, matrix, kept, plots, title):
    import csv
    import io

    import numpy as np

    from apps.speech.plots import plot_attention_over_time
    from rnnkit.io import atomic_write_text
    from rnnkit.plots import plot_confusion_matrix

    plot_confusion_matrix(np.asarray(matrix), labels, out / "confusion_matrix.png", title=title)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["class", "precision", "recall", "f1", "support"])
    for label, row in per_class.items():
        writer.writerow([label, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}", row["support"]])
    atomic_write_text(out / "per_class.csv", buffer.getvalue())
    clips = source.split_clips(split) if split not in source.tfds_splits else []
    names = [clip.path for clip in clips] if len(clips) == len(true) else [f"#{index}" for index in range(len(true))]
    predicted = probabilities.argmax(axis=1)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["clip", "true", "predicted", "probability"])
    for index in np.flatnonzero(predicted != true):
        writer.writerow([names[index], labels[true[index]], labels[predicted[index]], f"{probabilities[index, predicted[index]]:.4f}"])
    atomic_write_text(out / "errors.csv", buffer.getvalue())
    spectrograms = np.concatenate([item[0] for item in kept]) if kept else []
    weights = np.concatenate([item[1] for item in kept]) if kept else []
    for index in range(min(plots, len(spectrograms))):
        name = Path(names[index]).stem if not names[index].startswith("#") else f"clip{index}"
        verdict = f"true {labels[true[index]]}, predicted {labels[predicted[index]]} ({probabilities[index, predicted[index]]:.2f})"
        plot_attention_over_time(spectrograms[index], weights[index], out / "attention" / f"{index:02d}_{name}.png",
                                 config.clip_seconds, title=f"{name}: {verdict}")


def run(args: argparse.Namespace) -> int:
    from apps.speech.model import load_run

    model, labels, config = load_run(args.model)
    out = Path(args.out) if args.out else Path(args.model) / "eval"
    metrics = evaluate(model, labels, config, args.data, args.split, out, args.plots, verbose=not args.json)
    per_class, matrix = metrics.pop("per_class"), metrics.pop("confusion_matrix")
    if args.json:
        cli.report_metrics({**metrics, "per_class": per_class, "confusion_matrix": matrix}, out, True)
        return 0
    print(format_report(per_class))
    cli.report_metrics(metrics, out, False, title=f"speech on {args.data} ({metrics['split']})")
    print(f"plots: {out / 'confusion_matrix.png'}, {out / 'attention'}/; misclassified clips: {out / 'errors.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
