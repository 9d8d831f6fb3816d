"""The captioning model, its inference twins, and caption search.

Training model (teacher forcing; `features` are cached encoder outputs, or `images`
go through the encoder when it is trained too, or with fine_tune_blocks=N cached
outputs of the encoder's head go through its last N blocks, trained):

    images [S, S, 3] -> CNN encoder -> grid [h, w, C] -> flatten [h*w, C] -> Dense "project" [N, units]
    mean of the projected grid -> Dense "init_h" (and "init_c" for LSTM): the decoder's first state
    tokens [T] -> Embedding -> GRU/LSTM/SimpleRNN "rnn" [T, units]
    attention(query = every rnn output, values = the projected grid) -> context [T, units]
    [rnn output, context] -> Dense "combine" (tanh) -> Dense "logits" [T, vocab]

Inference shares those layers:
    ImageEncoder   images -> projected grid + initial states (once per image)
    StepModel      token + projected grid + states -> logits, attention weights, new states
                   (the RNN advanced through its cell once: a flat graph, no loop)
    Captioner      greedy / beam search (rnnkit.decoding) over StepModel, compiled
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.captioning.config import CaptioningConfig
from apps.captioning.data import END_ID, PAD_ID, START_ID, Vocabulary
from rnnkit.applications import feature_extractor, split_last_blocks
from rnnkit.decoding import beam_search, greedy_search
from rnnkit.layers.bahdanau_attention import BahdanauAttention
from rnnkit.layers.luong_attention import LuongAttention
from rnnkit.training import optimizer_from_config

ENCODER_FILE = "encoder.keras"  # the frozen encoder (its head when fine_tune_blocks is set)
TAIL_FILE = "encoder_tail.keras"  # fine_tune_blocks: the tail as it was before training, to resume with
TAIL_LAYER = "encoder_tail"
BATCH_NORM_MOMENTUM = 0.99


def build_encoder(config: CaptioningConfig) -> keras.Model:
    """The keras.applications CNN without its classifier: images (0..255) -> feature grid.

    `config.encoder_weights`: "imagenet" (downloaded by Keras on first use and
    cached in ~/.keras/models), a path to a weights file for the same network,
    or "none" (random initialisation; see `calibrate_batch_norm`, or train it
    with train_encoder=true).
    """
    base = feature_extractor(config.encoder, config.encoder_weights, (config.image_size, config.image_size, 3),
                             flag="--encoder-weights", offline_hint=" (then --set train_encoder=true trains it)")
    return keras.Model(base.input, base.output, name="encoder")


def calibrate_batch_norm(encoder: keras.Model, images, batch_size: int = 64, max_batches: int = 8) -> None:
    """Set every BatchNormalization's moving statistics to their averages over `images`.

    A randomly initialised network (encoder_weights=none) has moving statistics of
    0 and 1, which at inference let activations shrink layer after layer until a
    frozen encoder gives every image almost the same features. Measuring the
    statistics on real images (training-mode passes with the momentum set for a
    running average) makes even random features differ from image to image.
    Only the statistics change; no weight is trained.
    """
    norms = [layer for layer in encoder.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms or len(images) == 0:
        return
    saved = [layer.momentum for layer in norms]
    for index, start in enumerate(range(0, min(len(images), batch_size * max_batches), batch_size)):
        for layer in norms:
            layer.momentum = index / (index + 1.0)  # batch k weighs 1/k: a running average
        encoder(np.asarray(images[start: start + batch_size], np.float32), training=True)
    for layer, momentum in zip(norms, saved, strict=True):
        layer.momentum = momentum


def make_attention(config: CaptioningConfig) -> keras.layers.Layer:
    if config.attention == "bahdanau":
        return BahdanauAttention(config.attention_units, name="attention")
    return LuongAttention(score=config.attention.split("_", 1)[1], name="attention")


def encoder_parts(encoder: keras.Model, config: CaptioningConfig) -> tuple[keras.Model, keras.Model]:
    """(frozen head, tail to fine-tune) of the encoder for fine_tune_blocks=N: the tail is its last N blocks."""
    head, tail = split_last_blocks(encoder, config.fine_tune_blocks)
    return (keras.Model(head.input, head.output, name="encoder_head"),
            keras.Model(tail.input, tail.output, name=TAIL_LAYER))


def _trainable_tail(tail: keras.Model) -> keras.Model:
    """A copy of `tail` (so every model built, e.g. each tuner trial, starts from the same weights) whose
    batch norms stay in inference mode: with 753 images their ImageNet statistics are better than new ones."""
    copy = keras.models.clone_model(tail)
    copy.set_weights(tail.get_weights())
    for layer in copy.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return keras.Model(copy.input, copy.output, name=TAIL_LAYER)


def build_model(config: CaptioningConfig, vocab_size: int, grid_shape: tuple[int, int, int] | None = None,
                encoder: keras.Model | None = None, tail: keras.Model | None = None) -> keras.Model:
    """The teacher-forced training model; inputs {"features" or "images", "tokens"} -> logits.

    `features` are the frozen encoder's cached grids, or with fine_tune_blocks=N the
    cached outputs of its head, which then go through a trainable copy of `tail`.
    """
    tokens = keras.Input((config.max_length,), dtype="int32", name="tokens")
    if config.fine_tune_blocks and not config.train_encoder:
        if tail is None:
            raise ValueError("build_model needs the encoder's tail (encoder_parts) when fine_tune_blocks is set")
        features = keras.Input(tuple(tail.input.shape[1:]), name="features")
        grid = _trainable_tail(tail)(features)
        inputs = {"features": features, "tokens": tokens}
    elif config.train_encoder:
        encoder = encoder or build_encoder(config)
        # keras.applications use BatchNormalization momentum 0.999: over a few thousand steps
        # the moving statistics would stay close to their initial values and the encoder
        # would see different numbers at inference than in training. 0.99 settles in time.
        for layer in encoder.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = min(layer.momentum, BATCH_NORM_MOMENTUM)
        images = keras.Input((config.image_size, config.image_size, 3), name="images")
        grid = encoder(images)
        inputs = {"images": images, "tokens": tokens}
    else:
        if grid_shape is None:
            raise ValueError("build_model needs the encoder's grid shape when the encoder is not trained")
        grid = keras.Input(tuple(grid_shape), name="features")
        inputs = {"features": grid, "tokens": tokens}
    height, width, channels = grid.shape[1:]
    features = keras.layers.Reshape((height * width, channels), name="flatten_grid")(grid)
    projected = keras.layers.Dense(config.units, activation="relu", name="project")(features)
    projected = keras.layers.Dropout(config.dropout, name="project_dropout")(projected)
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(projected)
    initial = [keras.layers.Dense(config.units, activation="tanh", name="init_h")(pooled)]
    if config.cell == "lstm":
        initial.append(keras.layers.Dense(config.units, name="init_c")(pooled))
    x = keras.layers.Embedding(vocab_size, config.embedding_dim, name="embedding")(tokens)
    x = keras.layers.Dropout(config.dropout, name="embedding_dropout")(x)
    rnn_class = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple": keras.layers.SimpleRNN}[config.cell]
    # Right-padded captions need no mask: a step only sees the tokens before it, and the
    # loss ignores the padding positions.
    outputs, *_ = rnn_class(config.units, return_sequences=True, return_state=True, name="rnn")(x, initial_state=initial)
    context, _ = make_attention(config)(outputs, projected)
    x = keras.layers.Concatenate(name="concat")([outputs, context])
    x = keras.layers.Dropout(config.dropout, name="output_dropout")(x)
    x = keras.layers.Dense(config.units, activation="tanh", name="combine")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model(inputs, logits, name="captioner")


def compile_model(model: keras.Model, config: CaptioningConfig, steps_per_epoch: int) -> keras.Model:
    optimizer = optimizer_from_config(config, steps_per_epoch)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID))
    return model


def state_names(config: CaptioningConfig) -> list[str]:
    return ["h", "c"] if config.cell == "lstm" else ["h"]


class ImageEncoder(keras.Model):
    """Images (0..255) -> the projected grid [batch, positions, units] and the decoder's first states."""

    def __init__(self, encoder: keras.Model, model: keras.Model, **kwargs):
        super().__init__(name="image_encoder", **kwargs)
        self.encoder = encoder
        self.flatten_grid = model.get_layer("flatten_grid")
        self.project = model.get_layer("project")
        self.pool = model.get_layer("pool")
        self.init_layers = [model.get_layer(name) for name in ("init_h", "init_c") if _has_layer(model, name)]

    def call(self, images, training=False):
        grid = self.encoder(images, training=False)
        projected = self.project(self.flatten_grid(grid))
        pooled = self.pool(projected)
        return [projected, *(layer(pooled) for layer in self.init_layers)]


class StepModel(keras.Model):
    """One decoder step: [token, projected grid, *states] -> [logits, attention weights, *new states].

    Subclassed (not functional) because the RNN is advanced through its cell,
    which a functional graph of the same layers would name twice.
    """

    def __init__(self, model: keras.Model, **kwargs):
        super().__init__(name="caption_step", **kwargs)
        self.embedding = model.get_layer("embedding")
        self.rnn = model.get_layer("rnn")
        self.attention = model.get_layer("attention")
        self.concat = model.get_layer("concat")
        self.combine = model.get_layer("combine")
        self.head = model.get_layer("logits")

    def call(self, inputs, training=False):
        token, features, *states = inputs
        x = self.embedding(token)
        output, new_states = self.rnn.cell(x, list(states), training=False)
        context, weights = self.attention(output, features)
        logits = self.head(self.combine(self.concat([output, context])))
        return [logits, weights, *new_states]


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


class Captioner:
    """Greedy or beam-search captions from images, with the attention weights of every word."""

    def __init__(self, encoder: keras.Model, model: keras.Model, vocabulary: Vocabulary, config: CaptioningConfig):
        self.encoder, self.model, self.vocabulary, self.config = encoder, model, vocabulary, config
        self.run_dir, self.saved = None, {}  # set by load_run: the run folder and its config.json extras
        self.image_encoder = ImageEncoder(encoder, model)
        self.step_model = StepModel(model)
        size = config.image_size
        projected, *states = self.image_encoder(np.zeros((1, size, size, 3), np.float32))  # build
        self.step_model([np.full((1,), START_ID, np.int32), projected, *states])
        self.positions, self.units = int(projected.shape[1]), int(projected.shape[2])
        grid = encoder.output.shape[1:3]
        self.grid_shape = (int(grid[0]), int(grid[1]))
        image_spec = tf.TensorSpec((None, size, size, 3), tf.float32)
        self._greedy = tf.function(self.search_greedy, autograph=False, input_signature=[image_spec, tf.TensorSpec((), tf.int32)])
        self._beam = tf.function(self.search_beam, autograph=False, input_signature=[
            image_spec, tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.float32)])
        self._features = tf.function(lambda images: self.encoder(images, training=False), autograph=False, input_signature=[image_spec])

    def step(self, tokens, states, constants):
        logits, weights, *new_states = self.step_model([tokens, constants[0], *states], training=False)
        return logits, new_states, weights

    def search_greedy(self, images, max_length):
        projected, *states = self.image_encoder(images, training=False)
        start = tf.fill([tf.shape(images)[0]], START_ID)
        return greedy_search(self.step, start, states, end_token=END_ID, max_length=max_length,
                             constants=[projected], pad_token=PAD_ID, no_repeat_ngram=self.config.no_repeat_ngram)

    def search_beam(self, images, beam_width, max_length, alpha):
        projected, *states = self.image_encoder(images, training=False)
        start = tf.fill([tf.shape(images)[0]], START_ID)
        return beam_search(self.step, start, states, end_token=END_ID, max_length=max_length, beam_width=beam_width,
                           alpha=alpha, constants=[projected], pad_token=PAD_ID,
                           no_repeat_ngram=self.config.no_repeat_ngram)

    def caption_arrays(self, images, beam_width: int | None = None, max_length: int | None = None,
                       alpha: float | None = None, batch_size: int = 32):
        """Images float/uint8 [n, S, S, 3] -> (best token ids [n, L], their attention [n, L, positions])."""
        beam_width = self.config.beam_width if beam_width is None else int(beam_width)
        max_length = self.config.max_length if max_length is None else int(max_length)
        alpha = self.config.length_alpha if alpha is None else float(alpha)
        if beam_width < 1:
            raise ValueError(f"--beam-width must be at least 1, not {beam_width}")
        if max_length < 1:
            raise ValueError(f"--max-length must be at least 1, not {max_length}")
        tokens, attention = [], []
        for start in range(0, len(images), batch_size):
            batch = tf.constant(np.asarray(images[start: start + batch_size], np.float32))
            if beam_width == 1:
                out = self._greedy(batch, tf.constant(max_length))
            else:
                out = self._beam(batch, tf.constant(beam_width), tf.constant(max_length), tf.constant(alpha))
            tokens.append(out.tokens[:, 0].numpy())
            attention.append(out.aux[:, 0].numpy())
        if not tokens:
            return np.zeros((0, max_length), np.int32), np.zeros((0, max_length, self.positions), np.float32)
        return np.concatenate(tokens), np.concatenate(attention)

    def captions(self, images, **kwargs) -> list[str]:
        tokens, _ = self.caption_arrays(images, **kwargs)
        return [self.vocabulary.decode(row) for row in tokens]

    def pooled_features(self, images, batch_size: int = 64) -> np.ndarray:
        """The encoder's grid averaged over positions [n, C]: the nearest-neighbour baseline's space."""
        pooled = [tf.reduce_mean(self._features(tf.constant(np.asarray(images[start: start + batch_size], np.float32))),
                                 axis=[1, 2]).numpy()
                  for start in range(0, len(images), batch_size)]
        return np.concatenate(pooled) if pooled else np.zeros((0, 0), np.float32)


def load_run(run_dir) -> Captioner:
    """The Captioner of a captioning run folder (its best model)."""
    from apps.captioning.config import CaptioningConfig
    from rnnkit.config import read_saved_config
    from rnnkit.training import RunDir

    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"--model {run_dir}: no such run folder")
    run = RunDir(run_dir)
    config = read_saved_config(CaptioningConfig, run.config_path)
    vocabulary = Vocabulary.load(run.path / "vocab.json")
    saved = json.loads(run.config_path.read_text(encoding="utf-8"))
    model = keras.saving.load_model(run.trained_model_path(), compile=False)
    if config.train_encoder:
        encoder = model.get_layer("encoder")
    else:
        encoder_path = run.path / ENCODER_FILE
        if not encoder_path.is_file():
            raise FileNotFoundError(f"{encoder_path}: missing; the run's frozen encoder is saved there by `train`")
        encoder = keras.saving.load_model(encoder_path, compile=False)
        if config.fine_tune_blocks:
            encoder = join_encoder(encoder, model.get_layer(TAIL_LAYER), config)
    captioner = Captioner(encoder, model, vocabulary, config)
    captioner.run_dir = run.path
    captioner.saved = {key: value for key, value in saved.items() if key != "config"}  # data, weights source, ...
    return captioner


def join_encoder(head: keras.Model, tail: keras.Model, config: CaptioningConfig) -> keras.Model:
    """Images -> the frozen head -> the fine-tuned tail: the whole encoder of a fine_tune_blocks run."""
    images = keras.Input((config.image_size, config.image_size, 3), name="images")
    return keras.Model(images, tail(head(images)), name="encoder")
