"""Score a speech run: accuracy, per-class precision / recall / F1, confusion matrix, false accepts, plots.

    python -m apps.speech.evaluate --model runs/sc12 --data ../shared/data/speech_commands_12 --json

Which clips `--split auto` scores (printed before the metrics, with the reason and the count):
  - the source's own test split when it defines one (testing_list.txt, a tfds test split);
  - otherwise, when --data is the source the run was trained on, the run's held-out test split
    (its split settings: speakers or files hashed, test_speakers);
  - otherwise EVERY clip of --data: the run's split settings belong to its own source only.

Writes to RUN_DIR/eval (or --out): metrics.json, per_class.csv, errors.csv (every
misclassified clip), confusion_matrix.png and over_time/*.png (a clip's log-mel
spectrogram with, under it, the stream's probability of the word after each 20 ms
step, or the attention weights of model=attention).
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


def false_accepts(true, predicted, labels: list[str]) -> dict:
    """For _unknown_ and _silence_ (when they are classes): the share of their clips taken for each keyword.

    A keyword is any label not starting with "_". "any" is the share taken for some keyword at all.
    """
    import numpy as np

    from apps.speech.data import SILENCE, UNKNOWN

    keywords = [index for index, label in enumerate(labels) if not label.startswith("_")]
    rates = {}
    for name in (UNKNOWN, SILENCE):
        if name not in labels:
            continue
        rows = predicted[true == labels.index(name)]
        if not rows.size:
            continue
        rates[name] = {"clips": int(rows.size), "any": float(np.isin(rows, keywords).mean()),
                       **{labels[index]: float((rows == index).mean()) for index in keywords}}
    return rates


def format_false_accepts(rates: dict) -> str:
    lines = []
    for name, row in rates.items():
        worst = sorted(((label, rate) for label, rate in row.items() if label not in ("clips", "any")), key=lambda item: -item[1])
        shown = ", ".join(f"{label} {rate:.3f}" for label, rate in worst if rate > 0) or "none"
        lines.append(f"false accepts on {name} ({row['clips']} clips): any keyword {row['any']:.3f}; {shown}")
    return "\n".join(lines)


def format_confusion(matrix, labels: list[str]) -> str:
    width = max(5, *(len(label) for label in labels))
    short = [label[:5] for label in labels]
    lines = ["confusion matrix (rows: true, columns: predicted)", " " * width + " " + " ".join(name.rjust(5) for name in short)]
    for label, row in zip(labels, matrix, strict=True):
        lines.append(label.ljust(width) + " " + " ".join(str(value).rjust(5) for value in row))
    return "\n".join(lines)


def choose_split(source, split: str, same: bool) -> tuple[str, str]:
    """(split, how it was chosen) for --split (see the module docstring)."""
    if split != "auto":
        return split, f"asked for with --split {split}"
    if source.tfds_splits:
        return ("test", "the tfds test split") if source.has("test") else ("all", "every clip: the tfds source has no test split")
    if source.split_note.startswith("splits from"):
        if source.has("test"):
            return "test", f"the source's own test split ({source.split_note})"
        return "all", f"every clip: {source.split_note} names no test file present"
    if same:
        return "test", f"the run's own held-out test split: --data is its training source ({source.split_note})"
    return "all", "every clip: --data is not the run's training source and has no testing_list.txt"


def evaluate(model, labels: list[str], config, data: str, split: str = "auto", out_dir: Path | None = None,
             plots: int = 0, verbose: bool = True, trained_on: str | None = None, trained_on_resolved: str | None = None,
             announce: bool = True) -> dict:
    import dataclasses

    import numpy as np

    from apps.speech.data import load_source, make_dataset, scan_source
    from apps.speech.model import inspector
    from rnnkit.sources import same_source

    same = trained_on is None or same_source(data, trained_on, trained_on_resolved)
    if not same:
        # The run's split settings (speakers held out, a clip limit) describe its own source only.
        config = dataclasses.replace(config, test_speakers="", split_by="file", max_per_class=0)
    source = load_source(data, config)
    if source.labels != list(labels):
        raise ValueError(f"--data {data}: its classes {source.labels} differ from the model's {labels}")
    split, reason = choose_split(source, split, same)
    report = scan_source(source, config, splits=("train", "val", "test") if split == "all" else (split,), verbose=verbose)
    if announce:
        print(f"split: {split} ({source.size(split)} clips) - {reason}")
    dataset = make_dataset(source, split, config, training=False, cache=False)
    inspect, _ = inspector(model)
    true, probabilities, kept = [], [], []
    for waveforms, targets in dataset:
        probs, attention, spectrogram = inspect(waveforms)
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
        "split_reason": reason,
        "clips": int(len(true)),
        "skipped_files": len(report.skipped),
        "accuracy": float((predicted == true).mean()),
        "top3_accuracy": float((top == true[:, None]).any(axis=1).mean()),
        "loss": float(-np.log(np.maximum(picked, 1e-7)).mean()),
        "macro_f1": float(np.mean([row["f1"] for row in per_class.values()])),
    }
    if out_dir is not None:
        from apps.speech.model import over_time_name

        write_outputs(Path(out_dir), source, split, labels, config, true, probabilities, per_class, matrix, kept, plots,
                      f"{data} ({split}): accuracy {metrics['accuracy']:.3f}", over_time_name(model))
    metrics["per_class"] = per_class
    metrics["confusion_matrix"] = matrix
    metrics["false_accepts"] = false_accepts(true, predicted, list(labels))
    return metrics


def write_outputs(out: Path, source, split, labels, config, true, probabilities, per_class, matrix, kept, plots, title,
                  over_time="attention"):
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
        plot_attention_over_time(spectrograms[index], weights[index], out / "over_time" / f"{index:02d}_{name}.png",
                                 config.clip_seconds, title=f"{name}: {verdict}",
                                 ylabel="attention" if over_time == "attention" else f"P({labels[predicted[index]]})")


def run(args: argparse.Namespace) -> int:
    from apps.speech.model import load_run
    from rnnkit.io import read_json
    from rnnkit.training import RunDir

    model, labels, config = load_run(args.model)
    saved = read_json(RunDir(args.model).config_path)
    out = Path(args.out) if args.out else Path(args.model) / "eval"
    metrics = evaluate(model, labels, config, args.data, args.split, out, args.plots, verbose=not args.json,
                       trained_on=saved.get("data") or "", trained_on_resolved=saved.get("data_resolved"))
    per_class, matrix, rates = metrics.pop("per_class"), metrics.pop("confusion_matrix"), metrics.pop("false_accepts")
    if args.json:
        cli.report_metrics({**metrics, "per_class": per_class, "confusion_matrix": matrix, "false_accepts": rates}, out, True)
        return 0
    print(format_report(per_class))
    print(format_confusion(matrix, labels))
    if rates:
        print(format_false_accepts(rates))
    cli.report_metrics(metrics, out, False, title=f"speech on {args.data} ({metrics['split']})")
    from rnnkit.io import atomic_write_json

    atomic_write_json(out / "metrics.json", {**metrics, "per_class": per_class, "confusion_matrix": matrix, "false_accepts": rates})
    print(f"plots: {out / 'confusion_matrix.png'}, {out / 'over_time'}/; misclassified clips: {out / 'errors.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
