"""Score a video run: accuracy, top-5 accuracy, a confusion matrix and attention over frames.

    python -m apps.video.evaluate --model runs/video-demo --data demo --json
    python -m apps.video.evaluate --model runs/ucf --data ../shared/data/UCF101 --split test

--split auto (the default) scores the source's own test split when its lists
define one (testlist0N.txt, HMDB51's "2" entries, tfds' test) and every clip
otherwise. The run's validation carving (val_fraction of the groups, its seed)
describes its training source only: on any other source it is not applied, and
--split train/val there is refused. The split scored, why, and its size are
printed before the metrics.

With test_windows (the default) a clip's prediction is the average over its
`windows` uniform samplings. A frozen backbone's features come from the same
per-clip cache as training (apps.video.inputs.FeatureCache).

Writes into --out (default RUN_DIR/eval): metrics.json, confusion_matrix.png,
confusion_matrix.json, per_class.csv, predictions.json (every clip: label,
prediction, top 5) and attention/<clip>.png (film strips of the frames with
their attention weights).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rnnkit import cli
from rnnkit.sources import same_source

HELP = "Accuracy, top-5 accuracy, per-class accuracy, a confusion matrix and attention-over-frames plots on a split."
SPLITS = ("auto", "train", "val", "test", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_evaluate_arguments(parser)
    parser.add_argument("--split", choices=SPLITS, default="auto",
                        help="auto: the test split when the source has one (testlist0N.txt), else every clip")
    parser.add_argument("--plots", type=int, default=6,
                        help="attention-over-frames plots to write: the first clip of each of N classes (default: 6)")


def choose_split(source, split: str, same: bool, trained_on: str | None) -> tuple[str, str]:
    """(split, how it was chosen)."""
    if split in ("train", "val") and not same:
        raise ValueError(f"--split {split}: the run's {split} split is carved from its training source "
                         f"({trained_on or 'unknown'}) only; on another source use --split auto, test or all")
    if split != "auto":
        return split, f"--split {split} was asked for"
    if source.tfds is not None:
        return "test", "--split auto and the tfds source has a test split"
    if source.test:
        return "test", f"--split auto and the source has its own test list ({source.lists})"
    if same:
        return "all", ("--split auto and the source has no test list, so every clip is scored (it is the run's "
                       "training source: its training clips are included)")
    return "all", "--split auto and the source has no test list, so every clip is scored"


def tta_views(config) -> list[int]:
    """The cached views evaluation averages over: every window, unmirrored (or only the first)."""
    return list(range(config.windows)) if config.test_windows else [0]


def _frame_predictions(classifier, source, split, config, report):
    """End to end: decode each clip's windows and average the classifier over them."""
    import numpy as np

    from apps.video.inputs import frames_dataset

    windows = config.windows if config.test_windows else 1
    batch = max(1, config.batch_size // windows)
    labels, probabilities, attention, lengths = [], [], [], []
    for inputs, target in frames_dataset(source, split, config, report, windows=windows).batch(batch):
        frames = inputs["frames"].numpy()
        if windows == 1:
            frames = frames[:, None]
        count, steps = frames.shape[0], frames.shape[2]
        repeated = np.repeat(inputs["lengths"].numpy(), windows)
        out = classifier({"frames": frames.reshape(count * windows, steps, *frames.shape[3:]), "lengths": repeated})
        probabilities.append(out["probabilities"].reshape(count, windows, -1).mean(axis=1))
        attention.append(out["attention"].reshape(count, windows, -1)[:, 0])
        labels.append(target.numpy())
        lengths.append(inputs["lengths"].numpy())
    return labels, probabilities, attention, lengths


def _feature_predictions(classifier, clips, config, report):
    """Frozen backbone: cached per-clip features, the head over each test view, averaged."""
    import numpy as np

    from apps.video.inputs import FeatureCache, clip_features

    features, lengths, labels, kept = clip_features(classifier.backbone, clips, config, report,
                                                    FeatureCache(classifier.backbone, config), label="features")
    views = tta_views(config)
    probabilities = np.zeros((len(labels), len(classifier.classes)), np.float32)
    attention = None
    for view in views:
        out = classifier.predict_features(features[:, view], lengths)
        probabilities += out["probabilities"] / len(views)
        attention = out["attention"] if attention is None else attention
    return [labels], [probabilities], [attention], [lengths], kept


def evaluate(classifier, data: str, split: str = "auto", out_dir: Path | None = None, plots: int = 0,
             trained_on: str | None = None, trained_on_resolved: str | None = None, announce: bool = True) -> dict:
    import csv
    import io

    import numpy as np
    import tensorflow as tf

    from apps.video.data import load_source
    from rnnkit.data.video import DecodeReport, fit_frames, read_windows
    from rnnkit.io import atomic_write_json, atomic_write_text

    config = classifier.config
    same = trained_on is None or same_source(data, trained_on, trained_on_resolved)
    # The run's validation carving describes its own source; another source is never cut with it.
    source = load_source(data, val_fraction=config.val_fraction if same else 0.0, split=config.split, seed=config.seed)
    split, reason = choose_split(source, split, same, trained_on)
    if source.tfds is None and not source.split(split):
        raise ValueError(f"--data {data}: the {split} split has no clips")
    if announce:
        count = len(source.split(split)) if source.tfds is None else int(source.tfds[split].cardinality())
        cli.announce_split(split, reason, count, "clips")
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
    clips = source.split(split) if source.tfds is None else []
    started = time.perf_counter()
    if not config.train_backbone and source.tfds is None:
        labels, probabilities, attention, lengths, kept = _feature_predictions(classifier, clips, config, report)
        decoded = [clips[index] for index in kept]
    else:
        labels, probabilities, attention, lengths = _frame_predictions(classifier, source, split, config, report)
        decoded = [clip for clip in clips if str(clip.path) not in report.failed]
    seconds = time.perf_counter() - started
    if not labels or not sum(len(part) for part in labels):
        raise ValueError(f"--data {data}: none of the {split} clips could be decoded ({report.summary()})")
    labels = np.concatenate(labels).astype(np.int64)
    if remap is not None:
        labels = remap[labels]
    probabilities, attention = np.concatenate(probabilities), np.concatenate(attention)
    lengths = np.concatenate(lengths)
    predicted = probabilities.argmax(axis=1)
    top5 = np.argsort(-probabilities, axis=1)[:, :5]
    classes = len(classifier.classes)
    matrix = tf.math.confusion_matrix(labels, predicted, num_classes=classes, dtype=tf.int64).numpy()
    support = matrix.sum(axis=1)
    present = support > 0
    per_class = np.diag(matrix)[present] / support[present]
    picked = probabilities[np.arange(len(labels)), labels]
    metrics = {
        "data": data,
        "split": split,
        "split_reason": reason,
        "clips": int(len(labels)),
        "skipped_clips": report.skipped + sum(source.skipped.values()),
        "windows": config.windows if config.test_windows else 1,
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
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["class", "clips", "correct", "accuracy", "most_confused_with"])
        for index, name in enumerate(classifier.classes):
            if not support[index]:
                continue
            row = matrix[index].copy()
            row[index] = 0
            confused = classifier.classes[int(row.argmax())] if row.any() else ""
            writer.writerow([name, int(support[index]), int(matrix[index, index]),
                             f"{matrix[index, index] / support[index]:.3f}", confused])
        atomic_write_text(out_dir / "per_class.csv", buffer.getvalue())
        rows = []
        for index in range(len(labels)):
            rows.append({"clip": str(decoded[index].path) if index < len(decoded) else f"{split}-{index}",
                         "label": classifier.classes[labels[index]],
                         "predicted": classifier.classes[predicted[index]],
                         "frames": int(lengths[index]),
                         "top5": [[classifier.classes[k], float(probabilities[index, k])] for k in top5[index]]})
        atomic_write_json(out_dir / "predictions.json", rows)
        shown: set[int] = set()
        for index in range(len(labels)):
            if len(shown) >= plots or int(labels[index]) in shown or index >= len(decoded):
                continue
            shown.add(int(labels[index]))
            windows, _ = read_windows(decoded[index].path, config.num_frames, max(1, config.windows))
            frames = fit_frames(windows[0], config.image_size).numpy()  # what the model saw
            name = decoded[index].path.stem
            top = [(classifier.classes[k], float(probabilities[index, k])) for k in top5[index][:3]]
            plot_frame_attention(frames, attention[index, : len(frames)], out_dir / "attention" / f"{name}.png",
                                 title=f"{name}: true {classifier.classes[labels[index]]}", probabilities=top)
        if report.skipped:
            print(report.summary(), file=sys.stderr)
    return metrics


def run(args: argparse.Namespace) -> int:
    from apps.video.model import load_run
    from rnnkit.io import read_json

    classifier = load_run(args.model)
    saved = read_json(Path(args.model) / "config.json")
    out = Path(args.out) if args.out else Path(args.model) / "eval"
    metrics = evaluate(classifier, args.data, args.split, out, args.plots, trained_on=saved.get("data"),
                       trained_on_resolved=saved.get("data_resolved"))
    cli.report_metrics(metrics, out, args.json, title=f"video on {args.data} ({metrics['split']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
