"""Additive (Bahdanau) attention over a set of encoder positions."""

from __future__ import annotations

import keras
from keras import ops

from rnnkit.layers._position_attention import PositionAttention


@keras.saving.register_keras_serializable(package="rnnkit")
class BahdanauAttention(PositionAttention):
    """Additive attention: `score(q, k_n) = v . tanh(W_q q + W_k k_n)` (Bahdanau et al., 2015).

    One query (a decoder state) looks at every position of a set of values
    (encoder outputs, or the cells of a CNN feature grid) and returns their
    weighted average, the weights being a softmax over the scores.

    Args:
        units: size of the hidden layer the query and the values are projected into.
        kernel_initializer: initializer of the three projections.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query: `[batch, query_dim]` (one query per row, e.g. a decoder step) or
            `[batch, queries, query_dim]` (e.g. every step of a teacher-forced decoder).
        values: `[batch, positions, value_dim]`.
        values_mask: optional bool `[batch, positions]`; False marks padding. When
            `values` carries a Keras mask (e.g. from `Embedding(mask_zero=True)`) it is
            used automatically.

    Returns:
        `(context, weights)`: context `[batch, value_dim]` and weights `[batch, positions]`
        for a rank-2 query; `[batch, queries, value_dim]` and `[batch, queries, positions]`
        for a rank-3 query. The weights of each query sum to 1 over the unmasked
        positions and are exactly 0 at masked ones (all 0 when a row is fully masked,
        so its context is 0).

    Masking: the query's own Keras mask (rank-3 queries) is passed on to both outputs.

    Example:

    >>> import numpy as np
    >>> attention = BahdanauAttention(units=16)
    >>> state = np.zeros((2, 32), "float32")           # decoder state
    >>> grid = np.random.rand(2, 49, 64).astype("float32")  # 7x7 CNN features
    >>> context, weights = attention(state, grid)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 64), (2, 49))
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.query_dense = keras.layers.Dense(
            self.units, use_bias=False, kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy, name="query"
        )
        self.key_dense = keras.layers.Dense(
            self.units, kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy, name="key"
        )
        self.score_dense = keras.layers.Dense(
            1, use_bias=False, kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy, name="score"
        )

    def build(self, query_shape, values_shape, values_mask_shape=None):
        self.query_dense.build(tuple(query_shape))
        self.key_dense.build(tuple(values_shape))
        self.score_dense.build(tuple(values_shape[:-1]) + (self.units,))
        self.built = True

    def score(self, query, values):
        projected_query = ops.expand_dims(self.query_dense(query), 2)  # [batch, queries, 1, units]
        keys = ops.expand_dims(self.key_dense(values), 1)  # [batch, 1, positions, units]
        return ops.squeeze(self.score_dense(ops.tanh(projected_query + keys)), -1)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
