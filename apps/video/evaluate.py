"""Score a video run: accuracy, top-5 accuracy, a confusion matrix and attention over frames.

    python -m apps.video.evaluate --model runs/video-demo --data demo --json
    python -m apps.video.evaluate --model runs/ucf --data ../shared/data/UCF101 --split test

Writes into --out (default RUN_DIR/eval): metrics.json, confusion_matrix.png,
confusion_matrix.json, predictions.json (every clip: label, prediction, top 5)
and attention/<clip>.png (film strips of the frames with their attention weights).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rnnkit import cli

HELP = "Accuracy, top-5 accuracy, per-class accuracy, a confusion matrix and attention-over-frames plots on a split."
SPLITS = ("auto", "train", "val", "test", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_evaluate_arguments(parser)
    parser.add_argument("--split", choices=SPLITS, default="auto",
                        help="auto: the test split when the source has one (testlist0N.txt), else all clips")
    parser.add_argument("--plots", type=int, default=6,
                        help="attention-over-frames plots to write: the first clip of each of N classes (default: 6)")


def evaluate(classifier, data: str, split: str = "auto", out_dir: Path | None = None, plots: int = 0) -> dict:
    import numpy as np
    import tensorflow as tf

    from apps.video.data import load_source
    from apps.video.inputs import batches
    from rnnkit.data.video import DecodeReport
    from rnnkit.io import atomic_write_json

    config = classifier.config
    source = load_source(data, val_fraction=config.val_fraction, split=config.split, seed=config.seed)
    if split == "auto":
        split = "test" if (source.test or source.tfds is not None) else "all"
    if source.tfds is None and not source.split(split):
        raise ValueError(f"--data {data}: the {split} split has no clips")
    names = list(source.classes)
    if names != classifier.classes:
        if set(names) <= set(classifier.classes):
            remap = np.array([classifier.classes.index(name) for name in names])
        else:
            unknown = sorted(set(names) - set(classifier.classes))
            raise ValueError(f"--data {data}: classes {', '.join(unknown[:5])} were not in training")
    else:
        remap = None
    report = DecodeReport()
    labels, probabilities, attention, lengths, kept_frames = [], [], [], [], {}
    seen = 0
    started = time.perf_counter()
    for inputs, target in batches(source, split, config, report, training=False):
        out = classifier(inputs)
        target = target.numpy() if remap is None else remap[target.numpy()]
        for row, label in enumerate(target):
            if plots and len(kept_frames) < plots and int(label) not in kept_frames:
                length = int(inputs["lengths"][row])
                kept_frames[int(label)] = (seen + row, inputs["frames"][row, :length].numpy())
        labels.append(target)
        probabilities.append(out["probabilities"])
        attention.append(out["attention"])
        lengths.append(inputs["lengths"].numpy())
        seen += len(target)
    seconds = time.perf_counter() - started
    if not labels:
        raise ValueError(f"--data {data}: none of the {split} clips could be decoded ({report.summary()})")
    labels = np.concatenate(labels).astype(np.int64)
    probabilities, attention = np.concatenate(probabilities), np.concatenate(attention)
    lengths = np.concatenate(lengths)
    predicted = probabilities.argmax(axis=1)
    top5 = np.argsort(-probabilities, axis=1)[:, :5]
    classes = len(classifier.classes)
    matrix = tf.math.confusion_matrix(labels, predicted, num_classes=classes, dtype=tf.int64).numpy()
    present = matrix.sum(axis=1) > 0
    per_class = np.diag(matrix)[present] / matrix.sum(axis=1)[present]
    picked = probabilities[np.arange(len(labels)), labels]
    metrics = {
        "data": data,
        "split": split,
        "clips": int(len(labels)),
        "skipped_clips": report.skipped + sum(source.skipped.values()),
        "accuracy": float((predicted == labels).mean()),
        "top5_accuracy": float((top5 == labels[:, None]).any(axis=1).mean()),
        "mean_class_accuracy": float(per_class.mean()),
        "loss": float(-np.log(np.maximum(picked, 1e-7)).mean()),
        "clips_per_second": float(len(labels) / seconds) if seconds > 0 else None,
    }
    if out_dir is not None:
        from apps.video.plots import plot_frame_attention
        from rnnkit.plots import plot_confusion_matrix

        out_dir = Path(out_dir)
        plot_confusion_matrix(matrix, classifier.classes, out_dir / "confusion_matrix.png",
                              title=f"{data} ({split}): accuracy {metrics['accuracy']:.3f}")
        atomic_write_json(out_dir / "confusion_matrix.json", {"classes": classifier.classes, "matrix": matrix.tolist()})
        clips = source.split(split) if source.tfds is None else []
        # Clips that failed to decode are not in `labels`; name rows by position in what decoded.
        decoded = [clip for clip in clips if str(clip.path) not in report.failed]
        rows = []
        for index in range(len(labels)):
            rows.append({"clip": str(decoded[index].path) if index < len(decoded) else f"{split}-{index}",
                         "label": classifier.classes[labels[index]],
                         "predicted": classifier.classes[predicted[index]],
                         "frames": int(lengths[index]),
                         "top5": [[classifier.classes[k], float(probabilities[index, k])] for k in top5[index]]})
        atomic_write_json(out_dir / "predictions.json", rows)
        for label, (index, frames) in kept_frames.items():
            name = Path(rows[index]["clip"]).stem
            top = [(classifier.classes[k], float(probabilities[index, k])) for k in top5[index][:3]]
            plot_frame_attention(frames, attention[index, : len(frames)], out_dir / "attention" / f"{name}.png",
                                 title=f"{name}: true {classifier.classes[label]}", probabilities=top)
        if report.skipped:
            print(report.summary(), file=sys.stderr)
    return metrics


def run(args: argparse.Namespace) -> int:
    from apps.video.model import load_run

    classifier = load_run(args.model)
    out = Path(args.out) if args.out else Path(args.model) / "eval"
    metrics = evaluate(classifier, args.data, args.split, out, args.plots)
    cli.report_metrics(metrics, out, args.json, title=f"video on {args.data} ({metrics['split']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
