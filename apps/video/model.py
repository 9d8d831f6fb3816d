"""The video model: a per-frame CNN, then a masked bidirectional RNN with attention pooling over frames.

    frames [T, S, S, 3] (0..255) -> FrameWise(backbone) -> features [T, F]    backbone: small CNN or
                                                                              keras.applications, its last
                                                                              map averaged to a grid x grid
    [features, lengths] -> head:
        MaskFromLengths            padded frames (beyond each clip's length) are masked
        Dropout "feature_dropout"  on the CNN features (0.5 on frozen pretrained features, else 0)
        Dense "project" (relu)     per frame, F -> frame_units
        BidirectionalRNN(GRU|LSTM|SimpleRNN) over the real frames only, both directions
        AttentionPooling           a weight per frame (zero on padding) -> one vector
        Dense "probabilities"      softmax over the classes

With `train_backbone=False` the backbone is frozen: its features are computed
once per clip and sampling (apps.video.inputs caches them) and the model that
trains is the head alone. With `train_backbone=True` and `fine_tune_blocks=N`
only the last N blocks of a keras.applications backbone train (its batch-norm
statistics stay frozen, as fine-tuning on a few clips wants).
Either way `Classifier` puts backbone and head back together for evaluation,
prediction and export: frames + lengths -> probabilities and attention.
"""

from __future__ import annotations

import re
from pathlib import Path

import keras

from apps.video.config import VideoConfig
from rnnkit.applications import feature_extractor
from rnnkit.layers import AttentionPooling, BidirectionalRNN, FrameWise, MaskFromLengths
from rnnkit.training import optimizer_from_config

BACKBONE_FILE = "backbone.keras"  # the frozen backbone of a features run
CLASSES_FILE = "classes.json"


def _small_cnn(config: VideoConfig, shape: tuple[int, int, int]) -> keras.Model:
    frames = keras.Input(shape)
    x = keras.layers.Rescaling(1 / 255.0)(frames)
    for block, filters in enumerate((config.small_filters, config.small_filters * 2, config.small_filters * 4)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{block + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{block + 1}")(x)
    return keras.Model(frames, x, name="small_cnn")


def grid_pooling(feature_map_shape, grid: int) -> keras.layers.Layer:
    """Average a [h, w, c] map to about grid x grid cells (overlapping when h or w is not a multiple)."""
    height, width = int(feature_map_shape[0]), int(feature_map_shape[1])
    rows, columns = min(grid, height), min(grid, width)
    stride = (height // rows, width // columns)
    pool = (height - (rows - 1) * stride[0], width - (columns - 1) * stride[1])
    return keras.layers.AveragePooling2D(pool_size=pool, strides=stride, name="grid_pool")


BLOCK_NAME = re.compile(r"^(block_?\d+[a-z]?|expanded_conv(_\d+)?|stage\d+)(_|$)")


def _leaf_layers(model) -> list:
    leaves = []
    for layer in model.layers:
        leaves.extend(_leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return leaves


def freeze_all_but_last_blocks(cnn: keras.Model, blocks: int) -> int:
    """Make only the last `blocks` blocks of a keras.applications CNN trainable; returns the trainable layers.

    Blocks are told by layer names (block_16_..., expanded_conv_3_..., block6a_...);
    layers after the last block (the final 1x1 convolution) go with it. Batch
    normalization stays frozen everywhere (inference mode), so a few clips do not
    overwrite ImageNet's statistics.
    """
    leaves = [layer for layer in _leaf_layers(cnn) if layer.weights]
    names, current = [], None
    for layer in leaves:
        match = BLOCK_NAME.match(layer.name)
        if match:
            current = match.group(1)
        names.append(current)
    order = list(dict.fromkeys(name for name in names if name is not None))
    if not order:
        raise ValueError(f"{cnn.name}: no named blocks found to fine-tune; use fine_tune_blocks=0 to train it all")
    chosen = set(order[-blocks:])
    cnn.trainable = True
    trainable = 0
    for layer, name in zip(leaves, names, strict=True):
        layer.trainable = name in chosen and not isinstance(layer, keras.layers.BatchNormalization)
        trainable += int(layer.trainable)
    return trainable


def build_backbone(config: VideoConfig) -> keras.Model:
    """One frame (float 0..255, [S, S, 3]) -> a feature vector: the CNN, its map averaged to a grid, flattened.

    A global average (feature_grid=1) forgets *where* things are, and then a
    shape moving left and one moving right give the same features at every
    frame; a small grid keeps enough of the layout for the RNN to see motion.
    """
    shape = (config.image_size, config.image_size, 3)
    if config.backbone == "small":
        cnn = _small_cnn(config, shape)
    else:
        cnn = feature_extractor(config.backbone, config.backbone_weights, shape, flag="--backbone-weights",
                                offline_hint=", or use --set backbone=small (a small CNN trained from scratch)")
    if config.fine_tune_blocks:
        freeze_all_but_last_blocks(cnn, config.fine_tune_blocks)
    frames = keras.Input(shape, name="frame")
    feature_map = cnn(frames)
    pooled = grid_pooling(feature_map.shape[1:3], config.grid)(feature_map)
    features = keras.layers.Flatten(name="frame_features")(pooled)
    return keras.Model(frames, features, name="backbone")


def build_head(config: VideoConfig, feature_dim: int, num_classes: int, unroll: bool = False) -> keras.Model:
    """[features [T, F], lengths] -> [probabilities [classes], attention [T]]."""
    features = keras.Input((config.num_frames, feature_dim), name="features")
    lengths = keras.Input((), dtype="int32", name="lengths")
    x = MaskFromLengths(name="mask")([features, lengths])
    if config.feature_dropout:
        x = keras.layers.Dropout(config.feature_dropout, name="feature_dropout")(x)
    x = keras.layers.Dense(config.frame_units, activation="relu", name="project")(x)
    x = keras.layers.Dropout(config.dropout, name="frame_dropout")(x)
    cell = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple": keras.layers.SimpleRNN}[config.cell]
    x = BidirectionalRNN(cell(config.units, return_sequences=True, unroll=unroll, name="rnn"), name="birnn")(x)
    pooled, attention = AttentionPooling(config.attention_units, return_attention_scores=True, name="attention")(x)
    pooled = keras.layers.Dropout(config.dropout, name="pooled_dropout")(pooled)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(pooled)
    return keras.Model({"features": features, "lengths": lengths}, [probabilities, attention], name="head")


def frame_inputs(config: VideoConfig) -> dict:
    return {"frames": keras.Input((config.num_frames, config.image_size, config.image_size, 3), name="frames"),
            "lengths": keras.Input((), dtype="int32", name="lengths")}


def build_model(config: VideoConfig, num_classes: int, backbone: keras.Model | None = None) -> keras.Model:
    """The model that trains: frames end to end (train_backbone) or the head on cached features."""
    if config.train_backbone:
        backbone = backbone if backbone is not None else build_backbone(config)
        inputs = frame_inputs(config)
        features = FrameWise(backbone, name="frame_wise")(inputs["frames"])
        head = build_head(config, int(features.shape[-1]), num_classes)
        probabilities, _ = head({"features": features, "lengths": inputs["lengths"]})
        return keras.Model(inputs, probabilities, name="video_classifier")
    if backbone is None:
        raise ValueError("build_model needs the frozen backbone (for its feature size) when train_backbone is false")
    head = build_head(config, int(backbone.output.shape[-1]), num_classes)
    probabilities, _ = head(head.input)
    return keras.Model(head.input, probabilities, name="video_head")


def compile_model(model: keras.Model, config: VideoConfig, steps_per_epoch: int) -> keras.Model:
    model.compile(optimizer=optimizer_from_config(config, steps_per_epoch), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, model.output.shape[-1]),
                                                                                   name="top5_accuracy")])
    return model


class Classifier:
    """A trained run as frames + lengths -> probabilities and attention over frames."""

    def __init__(self, backbone: keras.Model, head: keras.Model, classes: list[str], config: VideoConfig):
        self.backbone, self.head, self.classes, self.config = backbone, head, classes, config
        inputs = frame_inputs(config)
        features = FrameWise(backbone, name="frame_wise")(inputs["frames"])
        probabilities, attention = head({"features": features, "lengths": inputs["lengths"]})
        self.model = keras.Model(inputs, {"probabilities": probabilities, "attention": attention}, name="video_inference")

    def __call__(self, inputs) -> dict:
        """One batch {"frames", "lengths"} -> {"probabilities", "attention"} as NumPy arrays (compiled once)."""
        import tensorflow as tf

        if not hasattr(self, "_compiled"):
            self._compiled = tf.function(lambda batch: self.model(batch, training=False), reduce_retracing=True)
        out = self._compiled({"frames": tf.cast(inputs["frames"], tf.float32),
                              "lengths": tf.cast(inputs["lengths"], tf.int32)})
        return {name: value.numpy() for name, value in out.items()}

    def predict_features(self, features, lengths, batch_size: int = 256) -> dict:
        """The head alone on per-frame features [n, T, F] (a frozen backbone's cached features)."""
        import numpy as np
        import tensorflow as tf

        if not hasattr(self, "_head"):
            self._head = tf.function(lambda batch: self.head(batch, training=False), reduce_retracing=True)
        parts = []
        for start in range(0, len(features), batch_size):
            probabilities, attention = self._head({"features": tf.constant(features[start: start + batch_size], tf.float32),
                                                   "lengths": tf.constant(lengths[start: start + batch_size], tf.int32)})
            parts.append((probabilities.numpy(), attention.numpy()))
        return {"probabilities": np.concatenate([part[0] for part in parts]),
                "attention": np.concatenate([part[1] for part in parts])}

    def predict(self, frames, lengths, batch_size: int = 32) -> dict:
        import numpy as np

        frames, lengths = np.asarray(frames, np.float32), np.asarray(lengths, np.int32)
        parts = [self({"frames": frames[start: start + batch_size], "lengths": lengths[start: start + batch_size]})
                 for start in range(0, len(frames), batch_size)]
        return {name: np.concatenate([part[name] for part in parts]) for name in ("probabilities", "attention")}

    def unrolled(self) -> Classifier:
        """The same weights with the RNNs unrolled: a flat graph for TFLite (the frame count is fixed)."""
        head = build_head(self.config, int(self.head.input["features"].shape[-1]), len(self.classes), unroll=True)
        head.set_weights(self.head.get_weights())
        return Classifier(self.backbone, head, self.classes, self.config)


def load_run(run_dir: str | Path) -> Classifier:
    """The best model of a run folder, its classes and config, as a Classifier."""
    from rnnkit.config import read_saved_config
    from rnnkit.io import read_json
    from rnnkit.training import RunDir

    run = RunDir(run_dir)
    config = read_saved_config(VideoConfig, run.config_path)
    classes_path = run.path / CLASSES_FILE
    if not classes_path.is_file():
        raise FileNotFoundError(f"{classes_path}: missing; is {run.path} a run folder made by `rnnkit video train`?")
    classes = list(read_json(classes_path))
    model = keras.saving.load_model(run.trained_model_path(), compile=False)
    if config.train_backbone:
        backbone = model.get_layer("frame_wise").layer
    else:
        backbone_path = run.path / BACKBONE_FILE
        if not backbone_path.is_file():
            raise FileNotFoundError(f"{backbone_path}: missing; the frozen backbone of this run was not saved")
        backbone = keras.saving.load_model(backbone_path, compile=False)
    return Classifier(backbone, model.get_layer("head"), classes, config)
