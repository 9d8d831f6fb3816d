"""The textgen model, its one-step inference twin, and generation.

Training model:  chars [batch, time] -> Embedding -> (LSTM|GRU|SimpleRNN -> Dropout) x N -> Dense -> logits
Step model:      char [batch] + states -> logits [batch, vocab] + new states
                 (the same layers, each RNN called through its cell once)
Prime model:     chars [batch, time] + mask -> states after the last unmasked char

Generation never re-runs a window: the prime is read once, then each new
character costs one step of the RNN, with the state carried along.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from apps.textgen.config import TextGenConfig
from rnnkit.sampling import sample_next
from rnnkit.training import make_optimizer

LN2 = math.log(2.0)
RNN_CLASSES = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple": keras.layers.SimpleRNN}


@keras.saving.register_keras_serializable(package="rnnkit.textgen")
def bits_per_char(y_true, y_pred):
    """Cross-entropy in bits per character (the loss is the same in nats)."""
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True) / LN2


def build_model(config: TextGenConfig, vocab_size: int) -> keras.Model:
    chars = keras.Input((None,), dtype="int32", name="chars")
    initializer = keras.initializers.RandomNormal(stddev=1.0) if config.embedding_init == "normal" else "uniform"
    x = keras.layers.Embedding(vocab_size, config.embedding_dim, embeddings_initializer=initializer, name="embedding")(chars)
    rnn_class = RNN_CLASSES[config.cell]
    for index in range(config.num_layers):
        # return_state lets the step and prime models reuse this very layer.
        x, *_ = rnn_class(config.units, return_sequences=True, return_state=True, name=f"rnn_{index}")(x)
        x = keras.layers.Dropout(config.dropout, name=f"dropout_{index}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model(chars, logits, name="textgen")


def compile_model(model: keras.Model, config: TextGenConfig, steps_per_epoch: int) -> keras.Model:
    optimizer = make_optimizer(
        config.optimizer,
        config.learning_rate,
        clipnorm=config.clipnorm,
        weight_decay=config.weight_decay,
        schedule=config.schedule,
        total_steps=config.epochs * steps_per_epoch,
        warmup_steps=config.warmup_steps,
        final_lr_fraction=config.final_lr_fraction,
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[bits_per_char],
    )
    return model


def rnn_layers(model: keras.Model) -> list[keras.layers.Layer]:
    layers = [layer for layer in model.layers if layer.name.startswith("rnn_")]
    if not layers:
        raise ValueError(f"model {model.name!r} has no rnn_* layers; is it a textgen model?")
    return sorted(layers, key=lambda layer: int(layer.name.split("_")[1]))


def state_names(model: keras.Model) -> list[str]:
    """Names of the carried states, e.g. ['h0', 'c0', 'h1', 'c1'] for a 2-layer LSTM."""
    names = []
    for index, layer in enumerate(rnn_layers(model)):
        names.append(f"h{index}")
        if isinstance(layer, keras.layers.LSTM):
            names.append(f"c{index}")
    return names


def state_units(model: keras.Model) -> list[int]:
    sizes = []
    for layer in rnn_layers(model):
        sizes += [layer.units] * (2 if isinstance(layer, keras.layers.LSTM) else 1)
    return sizes


def zero_states(model: keras.Model, batch: int = 1) -> list[np.ndarray]:
    return [np.zeros((batch, units), np.float32) for units in state_units(model)]


class StepModel(keras.Model):
    """One character in, logits and the new states out; shares the training model's layers.

    Each RNN layer is advanced through its cell once, so there is no loop in
    the graph (a flat graph for TFLite). It is a subclassed model because two
    stacked LSTM layers have cells of the same name, which a functional model
    would refuse.
    """

    def __init__(self, model: keras.Model, **kwargs):
        super().__init__(name="textgen_step", **kwargs)
        self.embedding = model.get_layer("embedding")
        self.rnns = rnn_layers(model)
        self.head = model.get_layer("logits")
        self.widths = [2 if isinstance(layer, keras.layers.LSTM) else 1 for layer in self.rnns]

    def call(self, inputs, training=False):
        token, *states = inputs
        x = self.embedding(token)
        new_states, position = [], 0
        for layer, width in zip(self.rnns, self.widths, strict=True):
            x, state = layer.cell(x, list(states[position: position + width]), training=training)
            new_states += list(state) if isinstance(state, (list, tuple)) else [state]
            position += width
        return [self.head(x), *new_states]


def build_step_model(model: keras.Model) -> StepModel:
    step = StepModel(model)
    step([np.zeros((1,), np.int32), *zero_states(model)])  # build
    return step


def build_prime_model(model: keras.Model) -> keras.Model:
    """Right-padded chars and their mask in, each row's states after its last real char out."""
    chars = keras.Input((None,), dtype="int32", name="chars")
    mask = keras.Input((None,), dtype="bool", name="mask")
    x = model.get_layer("embedding")(chars)
    states = []
    for layer in rnn_layers(model):
        x, *layer_states = layer(x, mask=mask)
        states += layer_states
    return keras.Model([chars, mask], states, name="textgen_prime")


class Generator:
    """Samples text from a trained model one step at a time, carrying the state.

    `generate_chunk` is a compiled loop of `n` steps (temperature, top-k,
    top-p, stateless seed `[seed, step]`), used both for streaming here and
    inside the exported serving graph, so the same seed gives the same text
    whatever the chunk size.
    """

    def __init__(self, model: keras.Model, vocabulary):
        self.model = model
        self.vocabulary = vocabulary
        self.step_model = build_step_model(model)
        self.prime_model = build_prime_model(model)
        units = state_units(model)
        state_specs = [tf.TensorSpec((None, size), tf.float32) for size in units]
        self.generate_chunk = tf.function(
            self._generate_chunk,
            input_signature=[
                tf.TensorSpec((None,), tf.int32),  # last token of each row
                state_specs,
                tf.TensorSpec((), tf.int32),  # steps
                tf.TensorSpec((), tf.float32),  # temperature
                tf.TensorSpec((), tf.int32),  # top_k
                tf.TensorSpec((), tf.float32),  # top_p
                tf.TensorSpec((), tf.int64),  # seed
                tf.TensorSpec((), tf.int64),  # index of the first step
            ],
        )
        self.prime = tf.function(
            self._prime,
            input_signature=[tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None), tf.bool)],
        )

    def _generate_chunk(self, tokens, states, steps, temperature, top_k, top_p, seed, first_step):
        batch = tf.shape(tokens)[0]
        output = tf.TensorArray(tf.int32, size=steps)

        def body(step, token, carried, output):
            logits, *new_states = self.step_model([token, *carried], training=False)
            step_seed = tf.stack([seed, first_step + tf.cast(step, tf.int64)])
            token = sample_next(logits, temperature, top_k, top_p, step_seed)
            return step + 1, token, new_states, output.write(step, token)

        _, token, states, output = tf.while_loop(
            lambda step, *_: step < steps, body, (tf.constant(0), tokens, list(states), output)
        )
        ids = tf.reshape(tf.transpose(output.stack()), [batch, steps])
        return ids, states

    def _prime(self, chars, mask):
        """States after everything but the last char of each row, and that last char."""
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        last = tf.gather(chars, lengths - 1, batch_dims=1)
        head_mask = tf.logical_and(mask, tf.sequence_mask(lengths - 1, tf.shape(chars)[1]))
        states = self.prime_model([chars, head_mask], training=False)
        states = states if isinstance(states, (list, tuple)) else [states]
        # A row of one char has nothing before it; its state is zero.
        has_head = tf.reshape(lengths > 1, [-1, 1])
        states = [tf.where(has_head, state, tf.zeros_like(state)) for state in states]
        return last, states

    def encode_prime(self, prime: str) -> tuple[np.ndarray, list[str]]:
        ids, unknown = self.vocabulary.encode(prime)
        if len(ids) == 0:
            ids = np.asarray([self.vocabulary.start_id], np.int32)
        return ids, unknown

    def stream(
        self,
        prime: str,
        length: int,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
        chunk: int = 1,
    ) -> Iterator[str]:
        """Yield generated text `chunk` characters at a time (the prime is not repeated)."""
        if length < 0:
            raise ValueError(f"length must be 0 or more, not {length}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], not {top_p}")
        if top_k < 0:
            raise ValueError(f"top_k must be 0 (off) or positive, not {top_k}")
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        ids, _ = self.encode_prime(prime)
        token, states = self.prime(tf.constant(ids[None, :]), tf.ones((1, len(ids)), tf.bool))
        done = 0
        while done < length:
            steps = min(chunk, length - done)
            new_ids, states = self.generate_chunk(
                token, states, tf.constant(steps), tf.constant(float(temperature)), tf.constant(int(top_k)),
                tf.constant(float(top_p)), tf.constant(int(seed), tf.int64), tf.constant(done, tf.int64),
            )
            new_ids = new_ids.numpy()[0]
            token = tf.constant(new_ids[-1:], tf.int32)
            done += steps
            yield self.vocabulary.decode(new_ids)

    def generate(self, prime: str, length: int, **kwargs) -> str:
        kwargs.setdefault("chunk", 64)
        return "".join(self.stream(prime, length, **kwargs))


def load_run_model(run_dir) -> tuple[keras.Model, object, TextGenConfig]:
    """The trained model, vocabulary and config of a textgen run folder."""
    from pathlib import Path

    from apps.textgen.config import TextGenConfig
    from apps.textgen.data import Vocabulary
    from rnnkit.config import read_saved_config
    from rnnkit.training import RunDir

    run = RunDir(run_dir)
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"--model {run_dir}: no such run folder")
    config = read_saved_config(TextGenConfig, run.config_path)
    vocabulary = Vocabulary.load(run.path / "vocab.json")
    model = keras.saving.load_model(run.trained_model_path(), compile=False)
    return model, vocabulary, config
