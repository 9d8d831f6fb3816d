"""Real UCF101 clips: four classifiers on the same cached MobileNetV2 frame features and the same group folds.

    flock /tmp/rnnkit-heavy.lock .venv/bin/python -m bench.video_ucf101 --data ../shared/data/ucf101_subset \\
        --backbone-weights ../shared/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5

The clips' per-frame features are computed once per clip and sampling by the
app's own cache (apps.video.inputs.FeatureCache: `windows` uniform samplings
of the whole clip, each also mirrored) and shared by every variant and fold:

  (a) single frame   a logistic regression on each frame's features, its probabilities
                     averaged over the clip's frames (LRCN's single-frame baseline)
  (b) mean pool      a logistic regression on each view's frame-averaged features
  (c) RNN            the app's head (masked BiGRU + attention pooling) trained by the
                     app's own fit, with validation groups carved out of the fold's
                     training part as `rnnkit video train` does; this is the default recipe
  (d) small CNN      the app's former default: the small CNN from random weights,
                     trained end to end on 64 px frames (decoded, not cached)

Group k-fold: each class's groups (_gNN_: clips cut from one long video) are
dealt round the folds, so a test fold never shares a group with training. Every
variant trains on exactly the same clips of each fold (the fold's training part
less the RNN's validation groups) and is scored on the same held-out groups; (a),
(b) and (c) also average over the test windows (test-time averaging), and are
shown without it. Also measured: decoding and CNN throughput on these clips.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import machine, print_table, save_result


def logistic(train_x, train_y, test_x, c: float, seed: int):
    """Standardized features -> multinomial logistic regression -> test probabilities (all classes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
    model.fit(train_x, train_y)
    return model, model.predict_proba(test_x)


def full_probabilities(model, probabilities, num_classes: int) -> np.ndarray:
    """sklearn's columns are the classes it saw; put them at their label positions."""
    out = np.zeros((len(probabilities), num_classes), np.float32)
    out[:, model.classes_] = probabilities
    return out


def scores(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    top5 = np.argsort(-probabilities, axis=1)[:, :5]
    return {"top1": float((probabilities.argmax(axis=1) == labels).mean()),
            "top5": float((top5 == labels[:, None]).any(axis=1).mean())}


def single_frame(features, lengths, labels, train, test, windows, c, seed, num_classes):
    """(a): every real frame of every training view is an example; a test clip averages its frames' probabilities."""
    steps = features.shape[2]
    real = np.arange(steps)[None, None, :] < lengths[:, None, None]  # [n, 1, T]
    train_real = np.broadcast_to(real[train], features[train].shape[:3])
    x = features[train][train_real]
    y = np.broadcast_to(labels[train][:, None, None], train_real.shape)[train_real]
    test_views = features[test][:, :windows]  # the unmirrored windows
    test_real = np.broadcast_to(real[test], test_views.shape[:3])
    model, _ = logistic(x, y, x[:1], c, seed)
    per_frame = full_probabilities(model, model.predict_proba(test_views[test_real]), num_classes)
    clip_of = np.broadcast_to(np.arange(len(test_views))[:, None, None], test_real.shape)[test_real]
    window_of = np.broadcast_to(np.arange(windows)[None, :, None], test_real.shape)[test_real]
    summed = np.zeros((len(test_views), num_classes))
    np.add.at(summed, clip_of, per_frame)
    first = np.zeros((len(test_views), num_classes))
    np.add.at(first, clip_of[window_of == 0], per_frame[window_of == 0])
    return summed / summed.sum(axis=1, keepdims=True), first / first.sum(axis=1, keepdims=True)


def mean_pool(features, lengths, labels, train, test, windows, c, seed, num_classes):
    """(b): the mean of each view's real frames; training on every view, testing on the windows' average."""
    steps = features.shape[2]
    real = (np.arange(steps)[None, :] < lengths[:, None]).astype(np.float32)
    pooled = (features * real[:, None, :, None]).sum(axis=2) / np.maximum(real.sum(axis=1), 1)[:, None, None]
    views = pooled.shape[1]
    x = pooled[train].reshape(-1, pooled.shape[-1])
    y = np.repeat(labels[train], views)
    model, _ = logistic(x, y, x[:1], c, seed)
    test_views = pooled[test][:, :windows]
    per_view = full_probabilities(model, model.predict_proba(test_views.reshape(-1, pooled.shape[-1])), num_classes)
    per_view = per_view.reshape(len(test_views), windows, num_classes)
    return per_view.mean(axis=1), per_view[:, 0]


def rnn(config, backbone, features, lengths, labels, train, val, test, num_classes, run_dir):
    """(c): the app's head, compiled and fitted by the app's code, best epoch by validation loss."""
    import keras

    from apps.video.inputs import feature_batches, training_steps
    from apps.video.model import build_model, compile_model
    from rnnkit.training import fit, set_seed

    set_seed(config.seed)
    train_data = feature_batches(features[train], lengths[train], labels[train], config, training=True)
    steps = training_steps(int(train.sum()), config)
    # val_fraction=0: every training group trains, for a fixed number of epochs (the last kept)
    val_data = feature_batches(features[val], lengths[val], labels[val], config, training=False) if val.any() else None
    result = fit(lambda: compile_model(build_model(config, num_classes, backbone), config, steps), train_data, val_data,
                 run_dir, epochs=config.epochs, tensorboard=False, verbose=0)
    head = keras.saving.load_model(result.run_dir.model_path, compile=False).get_layer("head")
    per_view = []
    for window in range(config.windows):
        probabilities, _ = head({"features": features[test][:, window], "lengths": lengths[test]}, training=False)
        per_view.append(np.asarray(probabilities))
    per_view = np.stack(per_view, axis=1)
    return per_view.mean(axis=1), per_view[:, 0], result.best_epoch


def small_cnn(clips, train, val, test, classes, run_dir, seed):
    """(d): the small CNN from random weights, end to end on decoded 64 px frames, as the app trained before."""
    import keras

    from apps.video.config import VideoConfig
    from apps.video.data import VideoSource
    from apps.video.inputs import batches
    from apps.video.model import build_model, compile_model
    from rnnkit.data.video import DecodeReport
    from rnnkit.training import fit, set_seed

    config = VideoConfig(seed=seed)  # every default: backbone small, end to end
    pick = lambda mask: [clip for clip, keep in zip(clips, mask, strict=True) if keep]  # noqa: E731
    source = VideoSource("fold", classes, pick(train), pick(val), pick(test))
    set_seed(config.seed)
    report = DecodeReport()
    train_data = batches(source, "train", config, report, training=True)
    val_data = batches(source, "val", config, report, training=False)
    steps = max(1, -(-int(train.sum()) // config.batch_size))
    result = fit(lambda: compile_model(build_model(config, len(classes)), config, steps), train_data, val_data,
                 run_dir, epochs=config.epochs, tensorboard=False, verbose=0)
    model = keras.saving.load_model(result.run_dir.model_path, compile=False)
    probabilities = model.predict(batches(source, "test", config, report, training=False), verbose=0)
    return np.asarray(probabilities), result.best_epoch


def throughput(clips, config, backbone, count: int) -> dict:
    """Decoding alone, the CNN alone, on the first `count` clips: where the time of a feature pass goes."""
    import tensorflow as tf

    from rnnkit.data.video import DecodeReport, clip_dataset

    subset = clips[:count]
    rows = {}
    for parallel, label in ((1, "1 thread"), (tf.data.AUTOTUNE, "AUTOTUNE")):
        report = DecodeReport()
        dataset = clip_dataset([clip.path for clip in subset], None, num_frames=config.num_frames,
                               image_size=config.image_size, report=report, parallel=parallel, windows=config.windows)
        started = time.perf_counter()
        for _ in dataset.batch(2).prefetch(2):
            pass
        seconds = time.perf_counter() - started
        rows[label] = {"clips_per_s": report.decoded / seconds, "decoded_frames_per_s": report.frames_in_clips / seconds,
                       "sampled_frames_per_s": report.frames / seconds, "seconds": seconds, "clips": report.decoded}
    run = tf.function(lambda frames: backbone(frames, training=False))
    frames = tf.random.uniform((64, config.image_size, config.image_size, 3), 0, 255)
    run(frames)
    started = time.perf_counter()
    for _ in range(3):
        run(frames)
    cnn = 3 * 64 / (time.perf_counter() - started)
    return {"decode": rows, "cnn_frames_per_s": cnn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/ucf101_subset")
    parser.add_argument("--backbone", default="mobilenet_v2_0.5")
    parser.add_argument("--backbone-weights", required=True, metavar="FILE")
    parser.add_argument("--folds", type=int, default=3, help="group folds (default: 3; every class has 3+ groups)")
    parser.add_argument("--repeats", type=int, default=1, help="group k-folds with other fold seeds (default: 1)")
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the logistic regressions")
    parser.add_argument("--skip-small", action="store_true", help="leave out (d), the end-to-end small CNN")
    parser.add_argument("--throughput-clips", type=int, default=24, help="clips for the throughput part (0: skip)")
    parser.add_argument("--features-only", action="store_true", help="fill the feature cache and stop")
    parser.add_argument("--out", default="runs/bench-video-ucf101", help="plots and per-fold runs go here")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="video config overrides of the RNN recipe, as for `rnnkit video train`")
    args = parser.parse_args()

    import tensorflow as tf

    from apps.video.config import VideoConfig
    from apps.video.data import group_folds, load_source, split_groups
    from apps.video.inputs import FeatureCache, FeatureStats, clip_features
    from apps.video.model import build_backbone
    from rnnkit.config import load_config
    from rnnkit.data.video import DecodeReport
    from rnnkit.plots import plot_confusion_matrix
    from rnnkit.training import set_seed

    config = load_config(VideoConfig, overrides=[f"backbone={args.backbone}",
                                                 f"backbone_weights={args.backbone_weights}", *args.overrides])
    source = load_source(args.data, val_fraction=0.0, seed=config.seed)
    clips = source.split("all")
    classes = source.classes
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{machine()}\n{args.data}: {len(clips)} clips, {len(classes)} classes, "
          f"{len({clip.group for clip in clips})} groups\nrecipe: {config.backbone} ({Path(config.backbone_weights).name}), "
          f"{config.image_size}px, {config.num_frames} frames x {config.windows} windows"
          f"{' x 2 (mirrored)' if config.flip else ''}, frozen={not config.train_backbone}, "
          f"{config.cell.upper()}-{config.units}, {config.epochs} epochs\n", flush=True)

    set_seed(config.seed)  # random weights (backbone_weights=none) are then the ones `train` builds
    backbone = build_backbone(config)
    backbone.trainable = False
    measured = throughput(clips, config, backbone, args.throughput_clips) if args.throughput_clips else None
    if measured:
        rows = [{"decoding": label, **{key: round(value, 1) for key, value in row.items()}}
                for label, row in measured["decode"].items()]
        print(f"throughput on {args.throughput_clips} clips ({config.windows} windows of {config.num_frames} frames "
              f"at {config.image_size}px):")
        print_table(rows, ["decoding", "clips_per_s", "decoded_frames_per_s", "sampled_frames_per_s", "seconds"])
        print(f"CNN ({config.backbone}, batch 64): {measured['cnn_frames_per_s']:.1f} frames/s\n", flush=True)

    cache = FeatureCache(backbone, config)
    stats = FeatureStats()
    report = DecodeReport()
    started = time.perf_counter()
    features, lengths, labels, kept = clip_features(backbone, clips, config, report, cache, label="features",
                                                    stats=stats)
    extraction = time.perf_counter() - started
    print(f"features [{', '.join(map(str, features.shape))}] in {extraction:.1f} s: {stats.summary()}; "
          f"{report.summary()}\ncache: {cache.folder}\n", flush=True)
    if args.features_only:
        return
    clips = [clips[index] for index in kept]

    variants = ["(a) single frame", "(b) mean pool + linear", "(c) RNN + attention"] + ([] if args.skip_small else
                                                                                   ["(d) small CNN, random init"])
    folds_rows, predictions = [], {name: np.zeros((args.repeats, len(clips), len(classes)), np.float32)
                                   for name in variants}
    single_window = {name: np.zeros((args.repeats, len(clips), len(classes)), np.float32) for name in variants[:3]}
    timing: dict[str, float] = {name: 0.0 for name in variants}
    linear = (features, lengths, labels)  # what every cached-feature variant reads
    for repeat in range(args.repeats):
        fold_of = np.array(group_folds(clips, args.folds, seed=config.seed + repeat))
        for fold in range(args.folds):
            test = fold_of == fold
            rest = [clip for clip, held in zip(clips, test, strict=True) if not held]
            kept_train, kept_val = split_groups(rest, config.val_fraction, config.seed)
            val_groups = {clip.group for clip in kept_val}
            train = ~test & np.array([clip.group not in val_groups for clip in clips])
            val = ~test & ~train
            row = {"repeat": repeat, "fold": fold, "train": int(train.sum()), "val": int(val.sum()), "test": int(test.sum())}
            common = (train, test, config.windows, args.c, config.seed, len(classes))
            steps = [("(a) single frame", single_frame, (*linear, *common)),
                     ("(b) mean pool + linear", mean_pool, (*linear, *common)),
                     ("(c) RNN + attention", rnn, (config, backbone, *linear, train, val, test, len(classes),
                                                   tempfile.mkdtemp(dir=out, prefix="rnn-")))]
            if not args.skip_small:
                steps.append(("(d) small CNN, random init", small_cnn,
                              (clips, train, val, test, classes, tempfile.mkdtemp(dir=out, prefix="small-"), config.seed)))
            for name, function, arguments in steps:
                began = time.perf_counter()
                result = function(*arguments)
                timing[name] += time.perf_counter() - began
                predictions[name][repeat, test] = result[0]
                row[name] = round(scores(result[0], labels[test])["top1"], 3)
                if name in single_window:
                    single_window[name][repeat, test] = result[1]
                if name.startswith("(c)") or name.startswith("(d)"):
                    row[f"{name[:3]} best epoch"] = result[-1]
            folds_rows.append(row)
            print(f"repeat {repeat} fold {fold}: " + ", ".join(f"{key} {value}" for key, value in row.items()
                                                               if key.startswith("(")), flush=True)

    # Fold-wise accuracy (mean +- std over every fold of every repeat) and the pooled top-5.
    summary = []
    for name in variants:
        per_fold = [row[name] for row in folds_rows]
        pooled = [scores(predictions[name][repeat], labels) for repeat in range(args.repeats)]
        entry = {"variant": name, "top1_mean": round(float(np.mean(per_fold)), 3),
                 "top1_std": round(float(np.std(per_fold)), 3),
                 "top1_min": round(float(np.min(per_fold)), 3), "top1_max": round(float(np.max(per_fold)), 3),
                 "top5": round(float(np.mean([item["top5"] for item in pooled])), 3),
                 "seconds": round(timing[name], 1)}
        if name in single_window:
            entry["top1_one_window"] = round(float(np.mean([scores(single_window[name][r], labels)["top1"]
                                                            for r in range(args.repeats)])), 3)
        summary.append(entry)
    print(f"\n{args.folds}-fold group cross-validation x {args.repeats}: accuracy on held-out groups")
    print_table(summary, ["variant", "top1_mean", "top1_std", "top1_min", "top1_max", "top5", "top1_one_window",
                          "seconds"])
    best_baseline = max(entry["top1_mean"] for entry in summary if entry["variant"][:3] in ("(a)", "(b)"))
    rnn_entry = next(entry for entry in summary if entry["variant"].startswith("(c)"))
    print(f"RNN - best of (a), (b): {rnn_entry['top1_mean'] - best_baseline:+.3f}")

    # Per class: each clip is held out once per repeat; pooled over the repeats.
    per_class = []
    for name in ("(c) RNN + attention", "(b) mean pool + linear"):
        predicted = predictions[name].argmax(axis=2)
        matrix = np.zeros((len(classes), len(classes)), np.int64)
        for repeat in range(args.repeats):
            np.add.at(matrix, (labels, predicted[repeat]), 1)
        plot_confusion_matrix(matrix, classes, out / f"confusion_{name[1]}.png",
                              title=f"{name}: {args.folds}-fold group CV on {len(clips)} clips")
        for index, class_name in enumerate(classes):
            row = next((item for item in per_class if item["class"] == class_name), None)
            if row is None:
                row = {"class": class_name, "clips": int(matrix[index].sum() // args.repeats)}
                per_class.append(row)
            off = matrix[index].copy()
            off[index] = 0
            row[name[:3]] = round(float(matrix[index, index] / max(1, matrix[index].sum())), 2)
            if name.startswith("(c)"):
                row["(c) confused with"] = classes[int(off.argmax())] if off.any() else ""
    print("\nper class (pooled over folds and repeats):")
    print_table(per_class, ["class", "clips", "(c)", "(b)", "(c) confused with"])
    path = save_result("video_ucf101", {
        "machine": machine(), "data": args.data, "clips": len(clips), "classes": classes,
        "config": dataclasses.asdict(config), "folds": args.folds, "repeats": args.repeats, "c": args.c,
        "throughput": measured, "feature_extraction": {"seconds": extraction, **dataclasses.asdict(stats)},
        "fold_rows": folds_rows, "summary": summary, "per_class": per_class,
    })
    print(f"\nsaved {path}; confusion matrices in {out}")
    del tf


if __name__ == "__main__":
    main()
