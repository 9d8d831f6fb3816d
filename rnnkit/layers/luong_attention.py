"""Multiplicative (Luong) attention, "general" or "dot", over a set of encoder positions."""

from __future__ import annotations

import keras
from keras import ops

from rnnkit.layers._position_attention import PositionAttention

SCORES = ("general", "dot")


@keras.saving.register_keras_serializable(package="rnnkit")
class LuongAttention(PositionAttention):
    """Multiplicative attention (Luong et al., 2015).

    `score="general"`: `score(q, k_n) = q . W k_n` (a learned bilinear form; the query
    and value sizes may differ). `score="dot"`: `score(q, k_n) = q . k_n` (no weights;
    the query and value sizes must be equal). Cheaper than additive attention: one
    matrix product per query instead of a hidden layer per (query, position) pair.

    Args:
        score: `"general"` (default) or `"dot"`.
        kernel_initializer: initializer of W (general only).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query: `[batch, query_dim]` or `[batch, queries, query_dim]`.
        values: `[batch, positions, value_dim]`.
        values_mask: optional bool `[batch, positions]`; False marks padding. When
            `values` carries a Keras mask it is used automatically.

    Returns:
        `(context, weights)`: `[batch, value_dim]` and `[batch, positions]` for a rank-2
        query, `[batch, queries, value_dim]` and `[batch, queries, positions]` for a
        rank-3 query. Masked positions get exactly zero weight.

    Masking: the query's own Keras mask (rank-3 queries) is passed on to both outputs.

    Example:

    >>> import numpy as np
    >>> attention = LuongAttention(score="general")
    >>> states = np.zeros((2, 5, 32), "float32")        # 5 decoder steps
    >>> grid = np.random.rand(2, 49, 64).astype("float32")
    >>> context, weights = attention(states, grid)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 5, 64), (2, 5, 49))
    """

    def __init__(self, score="general", kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if score not in SCORES:
            raise ValueError(f"LuongAttention score must be one of {', '.join(SCORES)}, not {score!r}")
        self.score_mode = score
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, query_shape, values_shape, values_mask_shape=None):
        query_dim, value_dim = query_shape[-1], values_shape[-1]
        if self.score_mode == "dot":
            if query_dim is not None and value_dim is not None and query_dim != value_dim:
                raise ValueError(
                    f"LuongAttention(score='dot') needs query and values of the same size, got {query_dim} and "
                    f"{value_dim}; use score='general' or project one of them"
                )
        else:
            self.kernel = self.add_weight(
                name="kernel", shape=(query_dim, value_dim), initializer=self.kernel_initializer
            )
        self.built = True

    def score(self, query, values):
        if self.score_mode == "general":
            query = ops.matmul(query, self.kernel)
        return ops.matmul(query, ops.swapaxes(values, 1, 2))  # [batch, queries, positions]

    def get_config(self):
        config = super().get_config()
        config.update({
            "score": self.score_mode,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
