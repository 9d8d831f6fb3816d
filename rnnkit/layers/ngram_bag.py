"""NgramBag: a linear model of a text's words and hashed word pairs, as a layer over token ids."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnnkit")
class NgramBag(keras.layers.Layer):
    """A learned weight for every word and every (hashed) pair of neighbouring words, summed over a text.

    The bag-of-n-grams linear model (the features of NBSVM, fastText's bigrams) inside a Keras
    model that reads token ids, so it trains jointly with a recurrent branch and exports with it:
    the hashing is integer arithmetic on the ids (builtin TFLite ops), not string work.

    Word i has row i of the table; the pair (a, b) of neighbouring ids has row
    `vocab_size + (a * vocab_size + b) mod buckets`. The output is the sum of the rows of a
    text's words and pairs divided by the square root of their count: between a sum, which
    lets long texts dominate, and fastText's mean, which needs large weights to say anything.

    Args:
        vocab_size: the number of token ids (padding 0 included).
        buckets: rows for word pairs (a prime spreads the pairs best); 0 for words alone.
        units: outputs per text (1: a logit).
        rate_multiplier: the table is used multiplied by this, so an Adam-like optimizer (whose
            steps do not depend on the gradient's scale) moves its rows this many times faster
            than the model's other weights. A word pair is in few texts and gets few updates; at
            the learning rate of an RNN beside it (around 1e-3) it would hardly move.
        **kwargs: passed to `keras.layers.Layer`. The table starts at zero.

    Inputs:
        ids: `[batch, time]` integers, 0 at padding (padding and pairs touching it count for nothing).

    Outputs:
        `[batch, units]`; zeros for a row of padding only.
    """

    def __init__(self, vocab_size, buckets=0, units=1, rate_multiplier=1.0, **kwargs):
        super().__init__(**kwargs)
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, not {vocab_size}")
        if buckets < 0 or units < 1:
            raise ValueError(f"buckets must be 0 or positive and units positive, not {buckets} and {units}")
        if rate_multiplier <= 0:
            raise ValueError(f"rate_multiplier must be positive, not {rate_multiplier}")
        self.vocab_size, self.buckets, self.units = int(vocab_size), int(buckets), int(units)
        self.rate_multiplier = float(rate_multiplier)

    def build(self, input_shape):
        self.table = self.add_weight(shape=(self.vocab_size + self.buckets, self.units), initializer="zeros",
                                     name="table")

    def call(self, ids):
        ids = ops.cast(ids, "int64")
        real = ops.cast(ids > 0, self.compute_dtype)
        total = ops.sum(ops.take(self.table, ids, axis=0) * real[..., None], axis=1)
        count = ops.sum(real, axis=1, keepdims=True)
        if self.buckets:
            left, right = ids[:, :-1], ids[:, 1:]
            rows = self.vocab_size + ops.mod(left * self.vocab_size + right, self.buckets)
            pair = real[:, :-1] * real[:, 1:]
            total = total + ops.sum(ops.take(self.table, rows, axis=0) * pair[..., None], axis=1)
            count = count + ops.sum(pair, axis=1, keepdims=True)
        return self.rate_multiplier * total / ops.sqrt(ops.maximum(count, 1.0))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update({"vocab_size": self.vocab_size, "buckets": self.buckets, "units": self.units,
                       "rate_multiplier": self.rate_multiplier})
        return config
