"""From a SOURCE to training batches: images, vocabulary, the encoder and its cached features.

Shared by `train` and `tune`. With a frozen encoder (train_encoder=false) the
feature grid of every image is computed once and cached in `cache_dir` as
`<split>.npz`, keyed by the image names and the encoder settings, so a resumed
run or another trial does not recompute it. With flip_images the mirrored training
images get their own cached features (`train_flipped.npz`).
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apps.captioning.config import CaptioningConfig
from apps.captioning.data import CaptionItem, CaptionSource, Vocabulary, load_images, make_dataset


@dataclass
class Prepared:
    source: CaptionSource
    vocabulary: Vocabulary
    encoder: object  # the frozen encoder; with fine_tune_blocks its head
    train_items: list[CaptionItem]
    val_items: list[CaptionItem]
    train_inputs: np.ndarray  # images (uint8) or feature grids (float32)
    val_inputs: np.ndarray
    input_name: str  # "images" or "features"
    grid_shape: tuple[int, int, int]
    skipped: dict
    tail: object = None  # fine_tune_blocks: the encoder's last blocks, trained on the cached head outputs
    train_flipped: np.ndarray | None = None  # flip_images: the inputs of the mirrored training images

    def datasets(self, config: CaptioningConfig):
        common = dict(vocabulary=self.vocabulary, max_length=config.max_length, batch_size=config.batch_size,
                      input_name=self.input_name)
        train = make_dataset(self.train_inputs, self.train_items, shuffle=True, seed=config.seed,
                             flipped=self.train_flipped, **common)
        val = make_dataset(self.val_inputs, self.val_items, shuffle=False, **common)
        return train, val

    def steps_per_epoch(self, config: CaptioningConfig) -> int:
        captions = sum(len(item.captions) for item in self.train_items)
        return max(1, -(-captions // config.batch_size))


def _cache_key(config: CaptioningConfig, items: list[CaptionItem]) -> str:
    from rnnkit.applications import weights_source

    digest = hashlib.sha256()
    weights = weights_source(config.encoder_weights)  # a file by its contents, not its name
    digest.update(f"{config.encoder}|{weights.get('sha256', config.encoder_weights)}|{config.image_size}|"
                  f"{config.fine_tune_blocks}".encode())
    for item in items:
        digest.update(item.key.encode("utf-8", "replace") + b"\0")
    return digest.hexdigest()[:16]


def encode_features(encoder, images: np.ndarray, batch_size: int = 32, label: str = "") -> np.ndarray:
    import tensorflow as tf

    run = tf.function(lambda batch: encoder(batch, training=False), reduce_retracing=True,
                      input_signature=[tf.TensorSpec([None, *images.shape[1:]], tf.float32)])
    grids = []
    for start in range(0, len(images), batch_size):
        grids.append(run(tf.constant(images[start: start + batch_size], tf.float32)).numpy())
        if label and (start // batch_size) % 10 == 9:
            print(f"{label}: encoded {start + batch_size}/{len(images)} images", file=sys.stderr, flush=True)
    return np.concatenate(grids).astype(np.float32)


def cached_features(encoder, config: CaptioningConfig, items, images, cache_dir: Path | None, split: str) -> np.ndarray:
    from rnnkit.io import atomic_path

    key = _cache_key(config, items)
    path = cache_dir / f"{split}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        with np.load(path) as stored:
            if str(stored["key"]) == key:
                return stored["features"]
    features = encode_features(encoder, images, label=f"{split} features")
    if path is not None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, features=features, key=np.asarray(key))
    return features


def prepare(config: CaptioningConfig, data: str, *, vocabulary: Vocabulary | None = None, encoder=None,
            tail=None, cache_dir: Path | None = None, quiet: bool = False) -> Prepared:
    """`encoder` (and with fine_tune_blocks `tail`): a resumed run's saved ones, else they are built."""
    from apps.captioning.data import load_source
    from apps.captioning.model import build_encoder, encoder_parts

    def say(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    source = load_source(data, config.max_images)
    if not source.train:
        raise ValueError(f"--data {data}: no training images (training needs Flickr_8k.trainImages.txt listing images "
                         "that have both a file and captions)")
    if vocabulary is None:
        vocabulary = Vocabulary.from_captions((c for item in source.train for c in item.captions),
                                              config.min_count, config.max_vocab)
    train_images, train_items, train_failed = load_images(source.train, config.image_size, progress="train")
    val_images, val_items, val_failed = load_images(source.val, config.image_size, progress="val")
    skipped = dict(source.skipped)
    if train_failed or val_failed:
        skipped["images that did not decode"] = len(train_failed) + len(val_failed)
    for reason, count in skipped.items():
        say(f"skipped {count} {reason}")
    if not train_items:
        raise ValueError(f"--data {data}: no training image could be read")
    if not val_items:
        raise ValueError(f"--data {data}: no validation image could be read")
    built_here = encoder is None
    encoder = encoder if encoder is not None else build_encoder(config)
    if config.train_encoder:
        train_inputs, val_inputs, input_name = train_images, val_images, "images"
    else:
        if config.encoder_weights.lower() == "none" and built_here:
            # Random weights, never trained: at least give its BatchNorms the statistics of real images.
            from apps.captioning.model import calibrate_batch_norm

            calibrate_batch_norm(encoder, train_images)
            say("note: the encoder keeps random weights (encoder_weights=none, train_encoder=false); its batch-norm "
                "statistics were measured on the training images. --set train_encoder=true or ImageNet weights see more")
        if config.fine_tune_blocks and (built_here or tail is None):
            encoder, tail = encoder_parts(encoder, config)  # cache what the frozen head computes
        train_inputs = cached_features(encoder, config, train_items, train_images, cache_dir, "train")
        val_inputs = cached_features(encoder, config, val_items, val_images, cache_dir, "val")
        input_name = "features"
    train_flipped = None
    if config.flip_images:
        mirrored = train_images[:, :, ::-1]
        train_flipped = mirrored if config.train_encoder else cached_features(
            encoder, config, train_items, mirrored, cache_dir, "train_flipped")
    grid_shape = tuple(int(size) for size in encoder.output.shape[1:])  # of the cached features when frozen
    return Prepared(source, vocabulary, encoder, train_items, val_items, train_inputs, val_inputs, input_name,
                    grid_shape, skipped, tail, train_flipped)
