"""From a SOURCE to batches: decoded frames (end to end) or cached per-frame features.

Shared by `train`, `tune` and `evaluate`. Frames are decoded in parallel by
rnnkit.data.video and, when they fit in `cache_mib`, kept in memory after the
first epoch. With a frozen backbone (train_backbone=false) every clip goes
through the CNN once per sampling: `windows` uniform samplings of the whole
clip and, with `flip`, each mirrored, are the clip's *views*. Their per-frame
features are cached one file per clip (FeatureCache, under
$RNNKIT_VIDEO_FEATURES or ~/.cache/rnnkit/video-features), keyed by the
backbone's weights and the sampling, so a resumed run, another tuning trial,
a k-fold benchmark or a later run with other head settings reads them back.
Training draws one view of each clip per epoch.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from apps.video.config import VideoConfig
from apps.video.data import Clip, VideoSource, describe, load_source
from rnnkit.data.video import DecodeReport, clip_dataset, fit_frames, sample_frames


def split_size(source: VideoSource, split: str) -> int:
    if source.tfds is not None:
        return max(0, int(source.tfds[split].cardinality()))
    return len(source.split(split))


def clip_bytes(config: VideoConfig, count: int) -> int:
    return count * config.num_frames * config.image_size * config.image_size * 3


def frames_dataset(source: VideoSource, split: str, config: VideoConfig, report: DecodeReport, *,
                   shuffle: bool = False, windows: int = 1):
    """Unbatched ({"frames": uint8 [T, S, S, 3], "lengths": int32}, label) of one split, in the source's order.

    With `windows` > 1, frames are [windows, T, S, S, 3]: that many uniform samplings of each clip.
    """
    import tensorflow as tf

    if source.tfds is not None:
        def prepare(example):
            sampled = [sample_frames(example["video"], config.num_frames, window, windows) for window in range(windows)]
            frames = tf.stack([frames for frames, _ in sampled]) if windows > 1 else sampled[0][0]
            fitted = tf.cast(tf.round(fit_frames(frames, config.image_size)), tf.uint8)
            return {"frames": fitted, "lengths": sampled[0][1]}, tf.cast(example["label"], tf.int32)

        dataset = source.tfds[split]
        if shuffle:
            dataset = dataset.shuffle(256, seed=config.seed)
        return dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    clips = source.split(split)
    return clip_dataset([clip.path for clip in clips], [clip.label for clip in clips], num_frames=config.num_frames,
                        image_size=config.image_size, report=report, shuffle=shuffle, seed=config.seed,
                        windows=windows)


def _to_float(inputs, label):
    import tensorflow as tf

    return {"frames": tf.cast(inputs["frames"], tf.float32), "lengths": inputs["lengths"]}, label


def colour_jitter(seed: int | None):
    """A training augmentation: each clip's colours scaled and shifted per channel, the same for all its frames.

    Motion is what tells the classes apart; jitter keeps the model from
    leaning on the colours of a scene (every clip of a group shares them).
    Padded frames stay black.
    """
    import tensorflow as tf

    generator = tf.random.Generator.from_seed(seed if seed is not None else 0)

    def augment(inputs, label):
        frames = tf.cast(inputs["frames"], tf.float32)
        gain = generator.uniform([3], 0.7, 1.3)
        shift = generator.uniform([3], -25.0, 25.0)
        real = tf.sequence_mask(inputs["lengths"], tf.shape(frames)[0], tf.float32)[:, None, None, None]
        jittered = tf.clip_by_value(frames * gain + shift, 0.0, 255.0) * real
        return {"frames": jittered, "lengths": inputs["lengths"]}, label

    return augment


def batches(source: VideoSource, split: str, config: VideoConfig, report: DecodeReport, *, training: bool):
    """Batches of float frames for fit/evaluate; cached in memory when the split fits in cache_mib."""
    import warnings

    import tensorflow as tf

    # Undecodable clips are filtered out, so the number of batches is only known after the first
    # epoch; Keras warns about that when the first epoch ends. Nothing is wrong.
    warnings.filterwarnings("ignore", message="Your input ran out of data")

    count = len(source.split(split)) if source.tfds is None else None
    fits = count is not None and clip_bytes(config, count) <= config.cache_mib * 2**20
    if fits:
        dataset = frames_dataset(source, split, config, report).cache()
        if training:
            dataset = dataset.shuffle(max(1, count), seed=config.seed, reshuffle_each_iteration=True)
    else:
        dataset = frames_dataset(source, split, config, report, shuffle=training)
    if training and config.augment:
        # One generator, used in order: map must not run in parallel here to stay reproducible.
        return dataset.map(colour_jitter(config.seed)).batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
    return dataset.batch(config.batch_size).map(_to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


# -- cached features ------------------------------------------------------------

FEATURES_ENV = "RNNKIT_VIDEO_FEATURES"


def features_root() -> Path:
    """Where per-clip features are cached: $RNNKIT_VIDEO_FEATURES, else ~/.cache/rnnkit/video-features."""
    import os

    return Path(os.environ.get(FEATURES_ENV) or Path.home() / ".cache" / "rnnkit" / "video-features")


def backbone_fingerprint(backbone: keras.Model) -> str:
    """A digest of the backbone's input shape and every weight: two backbones with equal digests give equal features."""
    digest = hashlib.sha256(str(tuple(backbone.input.shape)).encode())
    for weight in backbone.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"{weight.path}|{value.shape}|{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]


class FeatureCache:
    """Per-clip features of one frozen backbone and one sampling, one small .npz per clip.

    The folder is named after the backbone's weights and the sampling
    (num_frames, windows, flip), so every run, tuning trial, fold and benchmark
    variant with the same backbone and sampling reads the features computed
    once; a clip is keyed by its path, size and modification time, so an edited
    file is recomputed. A clip that does not decode is remembered too (and
    counted again, with its reason, by whoever reads it).
    """

    def __init__(self, backbone: keras.Model, config: VideoConfig, root: Path | None = None):
        sampling = f"T{config.num_frames}-W{config.windows}-F{int(bool(config.flip))}"
        self.folder = Path(root or features_root()) / f"{backbone_fingerprint(backbone)}-{sampling}"

    @staticmethod
    def clip_key(path: Path) -> str:
        stat = path.stat() if path.exists() else None
        text = f"{path.resolve()}|{stat.st_size if stat else -1}|{stat.st_mtime_ns if stat else -1}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def path(self, clip: Path) -> Path:
        return self.folder / f"{self.clip_key(clip)}.npz"

    def load(self, clip: Path):
        """(features [views, T, F], length) or ("failed", reason), or None when not cached (or unreadable)."""
        path = self.path(clip)
        if not path.is_file():
            return None
        try:
            with np.load(path) as stored:
                if "failed" in stored:
                    return "failed", str(stored["failed"])
                return stored["features"], int(stored["length"])
        except (OSError, ValueError, KeyError):  # a damaged cache file is recomputed
            return None

    def store(self, clip: Path, features: np.ndarray | None = None, length: int = 0, failed: str = "") -> None:
        from rnnkit.io import atomic_path

        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path(clip)) as tmp:
            with open(tmp, "wb") as handle:
                if failed:
                    np.savez(handle, failed=np.asarray(failed), clip=np.asarray(str(clip)))
                else:
                    np.savez(handle, features=features, length=np.asarray(length), clip=np.asarray(str(clip)))


def with_views(frames, flip: bool):
    """Frames [batch, windows, T, S, S, 3] -> [batch, views, T, S, S, 3]: the windows, then (flip) each mirrored."""
    import tensorflow as tf

    return tf.concat([frames, tf.reverse(frames, axis=[-2])], axis=1) if flip else frames


@dataclass
class FeatureStats:
    """What computing features cost: clips decoded and sent through the CNN, frames, seconds."""

    clips: int = 0
    cached: int = 0
    frames: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = f", {self.clips / self.seconds:.2f} clips/s, {self.frames / self.seconds:.0f} frames/s" if self.seconds else ""
        return f"{self.clips} clips through the CNN ({self.frames} frames) in {self.seconds:.1f} s{rate}; {self.cached} cached"


def compute_features(backbone: keras.Model, dataset, label: str = "", flip: bool = False,
                     stats: FeatureStats | None = None):
    """Run the frozen backbone over every real frame of a batched frames dataset.

    The dataset yields ({"frames": [batch, T, S, S, 3] or [batch, windows, T, S, S, 3], "lengths"}, label).
    Returns (features [n, views, T, F] (views: the windows, then mirrored when `flip`) or [n, T, F] for
    frames without a windows axis, lengths [n], labels [n]); padded frames get zero features.
    """
    import time

    import tensorflow as tf

    stats = stats if stats is not None else FeatureStats()
    run = tf.function(lambda frames: backbone(frames, training=False), reduce_retracing=True)
    features, lengths, labels = [], [], []
    windowed = None
    started = time.perf_counter()
    for index, (inputs, target) in enumerate(dataset):
        frames = inputs["frames"]
        windowed = frames.shape.rank == 6 if windowed is None else windowed
        if not windowed:
            frames = frames[:, None]
        frames = with_views(tf.cast(frames, tf.float32), flip)
        batch, views, steps = frames.shape[0], frames.shape[1], frames.shape[2]
        length = inputs["lengths"]
        real = tf.sequence_mask(length, steps)  # [batch, T]
        real_views = tf.broadcast_to(real[:, None], (batch, views, steps))
        picked = tf.boolean_mask(frames, real_views)  # only the real frames go through the CNN
        out = tf.concat([run(picked[start: start + 128]) for start in range(0, int(picked.shape[0]), 128)], axis=0) \
            if int(picked.shape[0]) else tf.zeros((0, int(backbone.output.shape[-1])))
        scattered = tf.scatter_nd(tf.where(real_views), out, (batch, views, steps, int(out.shape[-1])))
        features.append(scattered.numpy() if windowed else scattered.numpy()[:, 0])
        lengths.append(length.numpy())
        labels.append(target.numpy())
        stats.clips += int(batch)
        stats.frames += int(picked.shape[0])
        if label and index % 10 == 9:
            print(f"{label}: {sum(len(part) for part in labels)} clips through the CNN", file=sys.stderr, flush=True)
    stats.seconds += time.perf_counter() - started
    if not features:
        return np.zeros((0, 0, 0), np.float32), np.zeros((0,), np.int32), np.zeros((0,), np.int32)
    return np.concatenate(features), np.concatenate(lengths).astype(np.int32), np.concatenate(labels).astype(np.int32)


def clip_features(backbone: keras.Model, clips: list[Clip], config: VideoConfig, report: DecodeReport,
                  cache: FeatureCache | None = None, label: str = "", stats: FeatureStats | None = None):
    """Features of `clips` through the frozen backbone, from the cache when there, computed (and cached) when not.

    Returns (features [n, views, T, F], lengths [n], labels [n], kept [n]): `kept` are the indices in
    `clips` of the clips that decoded; the others are in `report`.
    """
    from rnnkit.data.video import clip_dataset

    stats = stats if stats is not None else FeatureStats()
    found: dict[int, tuple[np.ndarray, int]] = {}
    missing = []
    for index, clip in enumerate(clips):
        stored = cache.load(clip.path) if cache is not None else None
        if stored is None:
            missing.append(index)
        elif isinstance(stored[0], str):  # ("failed", reason)
            report.add_failure(str(clip.path), stored[1])
        else:
            found[index] = stored
    stats.cached += len(found)
    if missing:
        computing = DecodeReport()
        dataset = clip_dataset([clips[index].path for index in missing], missing, num_frames=config.num_frames,
                               image_size=config.image_size, report=computing, windows=config.windows)
        dataset = dataset.batch(max(1, 256 // (config.views * config.num_frames)))
        features, lengths, indices = compute_features(backbone, dataset, label=label, flip=bool(config.flip),
                                                      stats=stats)
        if config.windows == 1 and features.ndim == 3:
            features = features[:, None]
        for row, index in enumerate(indices.tolist()):
            found[index] = (features[row], int(lengths[row]))
            if cache is not None:
                cache.store(clips[index].path, features[row], int(lengths[row]))
        for path, reason in computing.failed.items():
            report.add_failure(path, reason)
            if cache is not None:
                cache.store(Path(path), failed=reason)
        report.decoded += computing.decoded
        report.frames += computing.frames
        report.frames_in_clips += computing.frames_in_clips
    kept = sorted(found)
    if not kept:
        return (np.zeros((0, config.views, config.num_frames, 0), np.float32), np.zeros((0,), np.int32),
                np.zeros((0,), np.int32), np.zeros((0,), np.int64))
    return (np.stack([found[index][0] for index in kept]).astype(np.float32),
            np.array([found[index][1] for index in kept], np.int32),
            np.array([clips[index].label for index in kept], np.int32), np.array(kept, np.int64))


def split_features(backbone, source: VideoSource, split: str, config: VideoConfig, report: DecodeReport,
                   cache: FeatureCache | None, stats: FeatureStats | None = None):
    """(features [n, views, T, F], lengths, labels) of one split; tfds videos are computed, not cached."""
    if source.tfds is None:
        features, lengths, labels, _ = clip_features(backbone, source.split(split), config, report, cache,
                                                     label=f"{split} features", stats=stats)
        return features, lengths, labels
    dataset = frames_dataset(source, split, config, report, windows=config.windows).batch(4)
    features, lengths, labels = compute_features(backbone, dataset, label=f"{split} features", flip=bool(config.flip),
                                                 stats=stats)
    return (features if features.ndim == 4 else features[:, None]), lengths, labels


def training_steps(clips: int, config: VideoConfig) -> int:
    """Batches in a training epoch of `clips` clips (on a frozen backbone's cached features with every_view,
    each of their views)."""
    examples = clips * (config.views if not config.train_backbone and config.every_view else 1)
    return max(1, -(-examples // config.batch_size))


def feature_batches(features, lengths, labels, config: VideoConfig, *, training: bool):
    """Batches of {"features": [batch, T, F], "lengths"} from per-clip views [n, views, T, F].

    Training takes every view of every clip once an epoch, shuffled (the windows
    and their mirror images are the augmentation; with `every_view=False`, one
    view of each clip drawn at random, so an epoch is `views` times shorter);
    evaluation takes the first window, unmirrored (test-time averaging over the
    windows is evaluate's).
    """
    import tensorflow as tf

    features = np.asarray(features)
    if features.ndim == 3:
        features = features[:, None]
    views = features.shape[1]
    if not training or views == 1:
        dataset = tf.data.Dataset.from_tensor_slices(({"features": features[:, 0], "lengths": lengths}, labels))
        if training:
            dataset = dataset.shuffle(max(1, len(labels)), seed=config.seed, reshuffle_each_iteration=True)
        return dataset.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
    if config.every_view:
        flat = features.reshape((-1,) + features.shape[2:])
        dataset = tf.data.Dataset.from_tensor_slices(({"features": flat, "lengths": np.repeat(lengths, views)},
                                                      np.repeat(labels, views)))
        dataset = dataset.shuffle(len(flat), seed=config.seed, reshuffle_each_iteration=True)
        return dataset.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
    dataset = tf.data.Dataset.from_tensor_slices((features, lengths, labels))
    dataset = dataset.shuffle(max(1, len(labels)), seed=config.seed, reshuffle_each_iteration=True)
    draws = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip((dataset, draws)).map(
        lambda item, draw: ({"features": tf.gather(item[0], draw % views), "lengths": item[1]}, item[2]))
    return dataset.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)


# -- everything train and tune need -------------------------------------------------------


class SkippedClips(keras.callbacks.Callback):
    """Says, after the epoch that found them, which clips could not be decoded and were left out."""

    def __init__(self, report: DecodeReport):
        super().__init__()
        self.report, self.shown = report, 0

    def on_epoch_end(self, epoch, logs=None):
        if self.report.skipped > self.shown:
            print(f"\n{self.report.summary()}", flush=True)
            self.shown = self.report.skipped


@dataclass
class Prepared:
    source: VideoSource
    train_data: object
    val_data: object
    train_count: int
    val_count: int
    backbone: keras.Model | None  # the frozen backbone of a features run
    report: DecodeReport = field(default_factory=DecodeReport)

    @property
    def classes(self) -> list[str]:
        return self.source.classes

    def steps_per_epoch(self, config: VideoConfig) -> int:
        return training_steps(self.train_count, config)


def prepare(config: VideoConfig, data: str, *, backbone: keras.Model | None = None, cache_dir: Path | None = None,
            quiet: bool = False) -> Prepared:
    """Sources, splits and batches for train and tune; `cache_dir` overrides where frozen features are cached."""
    from apps.video.model import build_backbone

    source = load_source(data, val_fraction=config.val_fraction, max_clips_per_class=config.max_clips_per_class,
                         split=config.split, seed=config.seed)
    if not quiet:
        print(describe(source), flush=True)
        for reason, count in source.skipped.items():
            print(f"skipped {count} {reason}")
    validate = source.tfds is not None or config.val_fraction > 0  # val_fraction=0: no validation, by choice
    if validate and source.tfds is None and not source.val:
        raise ValueError(f"--data {data}: no validation clips (the training clips come from fewer than two groups "
                         "per class); add clips of more groups, or --set val_fraction=0 to train on every group "
                         "without validation")
    report = DecodeReport()
    if config.train_backbone:
        train = batches(source, "train", config, report, training=True)
        val = batches(source, "val", config, report, training=False) if validate else None
        return Prepared(source, train, val, split_size(source, "train"), split_size(source, "val") if validate else 0,
                        None, report)
    if backbone is None:
        backbone = build_backbone(config)
        if config.backbone_weights.lower() == "none" and not quiet:
            print("note: a frozen backbone with random weights (backbone_weights=none, train_backbone=false) "
                  "gives the RNN generic features only; ImageNet weights or train_backbone=true usually do better")
    backbone.trainable = False
    cache = FeatureCache(backbone, config, cache_dir)
    stats = FeatureStats()
    train_arrays = split_features(backbone, source, "train", config, report, cache, stats)
    val_arrays = split_features(backbone, source, "val", config, report, cache, stats) if validate else None
    if not quiet:
        print(f"features ({config.views} view(s) a clip, cache {cache.folder}): {stats.summary()}", flush=True)
        if report.skipped:
            print(report.summary())
    if not len(train_arrays[2]):
        raise ValueError(f"--data {data}: none of the training clips could be decoded ({report.summary()})")
    val_data = feature_batches(*val_arrays, config, training=False) if validate else None
    return Prepared(source, feature_batches(*train_arrays, config, training=True), val_data, len(train_arrays[2]),
                    len(val_arrays[2]) if validate else 0, backbone, report)
