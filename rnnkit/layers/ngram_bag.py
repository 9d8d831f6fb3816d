"""NgramBag: a linear model of a text's words and word pairs, as a layer over token ids."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _flat_ids(rows) -> tuple[np.ndarray, np.ndarray]:
    """(ids, text index of each id) of a `tf.RaggedTensor` or a list of 1-D id arrays."""
    if hasattr(rows, "row_splits"):
        values, splits = np.asarray(rows.flat_values), np.asarray(rows.row_splits)
    else:
        rows = [np.asarray(row, np.int64).ravel() for row in rows]
        values = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        splits = np.concatenate([[0], np.cumsum([len(row) for row in rows])])
    return values.astype(np.int64), np.repeat(np.arange(len(splits) - 1, dtype=np.int64), np.diff(splits))


def neighbour_pairs(rows, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(text index, key `a * vocab_size + b`) of every pair of neighbouring ids in `rows` (a
    `tf.RaggedTensor` or a list of 1-D id arrays), in order; pairs touching padding (0) are left out."""
    values, text = _flat_ids(rows)
    real = (text[:-1] == text[1:]) & (values[:-1] > 0) & (values[1:] > 0)
    return text[:-1][real], values[:-1][real] * vocab_size + values[1:][real]


def frequent_pairs(rows, vocab_size: int, min_texts: int = 2) -> np.ndarray:
    """The neighbouring id pairs found in at least `min_texts` of `rows`, as sorted keys `a * vocab_size + b`.

    `rows`: a `tf.RaggedTensor` of token ids or a list of 1-D id arrays (0 is padding: pairs
    touching it are not counted). These keys are what `NgramBag(pairs=...)` gives a row each.
    """
    text, keys = neighbour_pairs(rows, vocab_size)
    # a pair counts once per text: unique (text, key) first, then count the texts of each key
    per_text = np.unique(np.stack([text, keys], axis=1), axis=0)[:, 1] if len(keys) else keys
    unique, texts = np.unique(per_text, return_counts=True)
    return unique[texts >= max(1, int(min_texts))]


@keras.saving.register_keras_serializable(package="rnnkit")
class NgramBag(keras.layers.Layer):
    """A learned weight for every word and every known (or hashed) pair of neighbouring words, summed over a text.

    The bag-of-n-grams linear model (the features of NBSVM, fastText's bigrams) inside a Keras
    model that reads token ids, so it trains jointly with a recurrent branch and exports with it:
    the hashing is integer arithmetic on the ids (builtin TFLite ops), not string work.

    Word i has row i of the table. A pair (a, b) of neighbouring ids, key `a * vocab_size + b`,
    gets its row in one of two ways:
    - `pairs`: a list of known keys (`frequent_pairs` of the training texts); the k-th known key
      has row `vocab_size + k`, found by a binary search over the sorted keys (gathers and
      comparisons, builtin TFLite ops), and a pair that is not in the list counts for nothing,
      as a bag-of-n-grams model leaves out the n-grams its training texts did not have.
    - `buckets`: the hashing trick, row `vocab_size + key mod buckets`, for any pair; pairs that
      share a row share a weight (IMDB's 1.1 M word pairs in 1 M buckets cost NBSVM 0.7 points).
    The output is the sum of the rows of a text's words and pairs divided by the square root of
    their count: between a sum, which lets long texts dominate, and fastText's mean, which needs
    large weights to say anything.

    Args:
        vocab_size: the number of token ids (padding 0 included).
        buckets: hashed rows for word pairs (a prime spreads the pairs best); 0 for no hashing.
        pairs: the known pair keys (any order; a 1-D integer array), or their number when the
            keys come with saved weights (what `get_config` stores); 0 for none. Not with `buckets`.
        dropout: in training, each word and pair of a text is left out of its sum with this
            probability (the kept ones count 1 / (1 - dropout)), the dropout regularisation of
            bag-of-words models (Wager et al. 2013): a text's weights cannot all lean on the few
            n-grams that give its label away in training.
        seed: seed of the dropout draws.
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

    def __init__(self, vocab_size, buckets=0, units=1, rate_multiplier=1.0, pairs=0, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, not {vocab_size}")
        if buckets < 0 or units < 1:
            raise ValueError(f"buckets must be 0 or positive and units positive, not {buckets} and {units}")
        if rate_multiplier <= 0:
            raise ValueError(f"rate_multiplier must be positive, not {rate_multiplier}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {dropout}")
        self.dropout, self.seed = float(dropout), seed
        self.seed_generator = keras.random.SeedGenerator(seed) if dropout else None
        self._keys = None
        if np.ndim(pairs):
            self._keys = np.unique(np.asarray(pairs, np.int64))
            if len(self._keys) and (self._keys[0] < 0 or self._keys[-1] >= vocab_size * vocab_size):
                raise ValueError(f"pair keys are a * vocab_size + b for ids a, b below vocab_size={vocab_size}")
            pairs = len(self._keys)
        if pairs < 0 or (pairs and buckets):
            raise ValueError(f"pairs must be 0 or positive, and not given with buckets; got {pairs} and {buckets}")
        self.vocab_size, self.buckets, self.units, self.pairs = int(vocab_size), int(buckets), int(units), int(pairs)
        self.rate_multiplier = float(rate_multiplier)

    def build(self, input_shape):
        self.table = self.add_weight(shape=(self.vocab_size + self.buckets + self.pairs, self.units),
                                     initializer="zeros", name="table")
        if self.pairs:
            self.pair_keys = self.add_weight(shape=(self.pairs,), dtype=self._key_dtype, initializer="zeros",
                                             trainable=False, name="pair_keys")
            if self._keys is not None:
                self.pair_keys.assign(self._keys)

    @property
    def _key_dtype(self):
        """int32 when every key a * vocab_size + b fits (vocabularies up to 46,340 ids): half the bytes in the exports."""
        return "int32" if self.vocab_size * self.vocab_size < 2**31 else "int64"

    def _known_pair_positions(self, keys):
        """For each key, the number of known keys below it (binary lifting) and whether it is one of them."""
        known, count = self.pair_keys, self.pairs
        position = ops.zeros_like(keys)
        step = 1 << (count.bit_length() - 1)
        while step:
            candidate = position + step
            below = ops.take(known, ops.minimum(candidate, count) - 1) < keys
            position = ops.where(ops.logical_and(candidate <= count, below), candidate, position)
            step >>= 1
        found = ops.take(known, ops.minimum(position, count - 1)) == keys
        return position, found

    def _kept(self, weights, training):
        """`weights` with each entry left out at the dropout rate in training (the rest scaled up)."""
        if not (training and self.dropout):
            return weights
        keep = keras.random.uniform(ops.shape(weights), seed=self.seed_generator) >= self.dropout
        return weights * ops.cast(keep, weights.dtype) / (1.0 - self.dropout)

    def call(self, ids, training=False):
        ids = ops.cast(ids, self._key_dtype if self.pairs else "int64")
        real = ops.cast(ids > 0, self.compute_dtype)
        total = ops.sum(ops.take(self.table, ids, axis=0) * self._kept(real, training)[..., None], axis=1)
        count = ops.sum(real, axis=1, keepdims=True)
        if self.buckets or self.pairs:
            keys = ids[:, :-1] * self.vocab_size + ids[:, 1:]
            pair = real[:, :-1] * real[:, 1:]
            if self.buckets:
                rows = self.vocab_size + ops.mod(keys, self.buckets)
            else:
                position, found = self._known_pair_positions(keys)
                rows = ops.where(found, self.vocab_size + position, 0)
                pair = pair * ops.cast(found, self.compute_dtype)
            total = total + ops.sum(ops.take(self.table, rows, axis=0) * self._kept(pair, training)[..., None], axis=1)
            count = count + ops.sum(pair, axis=1, keepdims=True)
        return self.rate_multiplier * total / ops.sqrt(ops.maximum(count, 1.0))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update({"vocab_size": self.vocab_size, "buckets": self.buckets, "units": self.units,
                       "rate_multiplier": self.rate_multiplier, "pairs": self.pairs, "dropout": self.dropout,
                       "seed": self.seed})
        return config
