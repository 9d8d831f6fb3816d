"""From a SOURCE to batches: decoded frames (end to end) or cached per-frame features.

Shared by `train`, `tune` and `evaluate`. Frames are decoded in parallel by
rnnkit.data.video and, when they fit in `cache_mib`, kept in memory after the
first epoch. With a frozen backbone (train_backbone=false) every clip goes
through the CNN once and its features are cached in `cache_dir/<split>.npz`,
keyed by the clips and the backbone settings, so a resumed run or another
tuning trial reads them back instead.
"""

from __future__ import annotations

import hashlib
import json
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
                   shuffle: bool = False):
    """Unbatched ({"frames": uint8 [T, S, S, 3], "lengths": int32}, label) of one split, in the source's order."""
    import tensorflow as tf

    if source.tfds is not None:
        def prepare(example):
            frames, length = sample_frames(example["video"], config.num_frames)
            fitted = tf.cast(tf.round(fit_frames(frames, config.image_size)), tf.uint8)
            return {"frames": fitted, "lengths": length}, tf.cast(example["label"], tf.int32)

        dataset = source.tfds[split]
        if shuffle:
            dataset = dataset.shuffle(256, seed=config.seed)
        return dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    clips = source.split(split)
    return clip_dataset([clip.path for clip in clips], [clip.label for clip in clips], num_frames=config.num_frames,
                        image_size=config.image_size, report=report, shuffle=shuffle, seed=config.seed)


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


def _features_key(config: VideoConfig, clips: list[Clip]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{config.backbone}|{config.backbone_weights}|{config.image_size}|{config.num_frames}|"
                  f"{config.grid}|{config.small_filters}|{config.seed}".encode())
    for clip in clips:
        stat = clip.path.stat() if clip.path.exists() else None
        digest.update(f"{clip.path}|{clip.label}|{stat.st_size if stat else -1}|{stat.st_mtime_ns if stat else -1}\0".encode())
    return digest.hexdigest()[:16]


def compute_features(backbone: keras.Model, dataset, label: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the frozen backbone over every frame of a batched frames dataset: (features, lengths, labels)."""
    import tensorflow as tf

    from rnnkit.layers import FrameWise

    per_frame = FrameWise(backbone)
    run = tf.function(lambda frames: per_frame(frames, training=False))
    features, lengths, labels = [], [], []
    for index, (inputs, target) in enumerate(dataset):
        features.append(run(inputs["frames"]).numpy())
        lengths.append(inputs["lengths"].numpy())
        labels.append(target.numpy())
        if label and index % 10 == 9:
            print(f"{label}: {sum(len(batch) for batch in labels)} clips through the CNN", file=sys.stderr, flush=True)
    if not features:
        return np.zeros((0, 0, 0), np.float32), np.zeros((0,), np.int32), np.zeros((0,), np.int32)
    return np.concatenate(features), np.concatenate(lengths).astype(np.int32), np.concatenate(labels).astype(np.int32)


def cached_features(backbone, source: VideoSource, split: str, config: VideoConfig, report: DecodeReport,
                    cache_dir: Path | None):
    from rnnkit.io import atomic_path

    clips = source.split(split) if source.tfds is None else []
    key = _features_key(config, clips) if source.tfds is None else f"tfds|{source.name}|{config}"
    path = cache_dir / f"{split}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        with np.load(path) as stored:
            if str(stored["key"]) == key:
                for name, reason in json.loads(str(stored["failed"])).items():
                    report.add_failure(name, reason)
                return stored["features"], stored["lengths"], stored["labels"]
    dataset = batches(source, split, config, report, training=False)
    features, lengths, labels = compute_features(backbone, dataset, label=f"{split} features")
    if path is not None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, features=features, lengths=lengths, labels=labels, key=np.asarray(key),
                         failed=np.asarray(json.dumps(report.failed)))
    return features, lengths, labels


def feature_batches(features, lengths, labels, config: VideoConfig, *, training: bool):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(({"features": features, "lengths": lengths}, labels))
    if training:
        dataset = dataset.shuffle(max(1, len(labels)), seed=config.seed, reshuffle_each_iteration=True)
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
        return max(1, -(-self.train_count // config.batch_size))


def prepare(config: VideoConfig, data: str, *, backbone: keras.Model | None = None, cache_dir: Path | None = None,
            quiet: bool = False) -> Prepared:
    from apps.video.model import build_backbone

    source = load_source(data, val_fraction=config.val_fraction, max_clips_per_class=config.max_clips_per_class,
                         split=config.split, seed=config.seed)
    if not quiet:
        print(describe(source), flush=True)
        for reason, count in source.skipped.items():
            print(f"skipped {count} {reason}")
    if source.tfds is None and not source.val:
        raise ValueError(f"--data {data}: no validation clips (the training clips come from fewer than two groups "
                         "per class); add clips of more groups or lower val_fraction")
    report = DecodeReport()
    if config.train_backbone:
        train = batches(source, "train", config, report, training=True)
        val = batches(source, "val", config, report, training=False)
        return Prepared(source, train, val, split_size(source, "train"), split_size(source, "val"), None, report)
    if backbone is None:
        backbone = build_backbone(config)
        if config.backbone_weights.lower() == "none" and not quiet:
            print("note: a frozen backbone with random weights (backbone_weights=none, train_backbone=false) "
                  "gives the RNN generic features only; ImageNet weights or train_backbone=true usually do better")
    backbone.trainable = False
    train_arrays = cached_features(backbone, source, "train", config, report, cache_dir)
    val_arrays = cached_features(backbone, source, "val", config, report, cache_dir)
    if report.skipped and not quiet:
        print(report.summary())
    if not len(train_arrays[2]):
        raise ValueError(f"--data {data}: none of the training clips could be decoded ({report.summary()})")
    return Prepared(source, feature_batches(*train_arrays, config, training=True),
                    feature_batches(*val_arrays, config, training=False), len(train_arrays[2]), len(val_arrays[2]),
                    backbone, report)
