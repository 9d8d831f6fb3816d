"""The part every "attend over a set of positions" layer shares: masked softmax and pooling.

Subclasses only say how a query scores each position (`score`); this base
turns the scores into weights that are exactly zero at masked positions and
into the weighted sum of the values. Private: the public layers are
`BahdanauAttention` and `LuongAttention`.
"""

from __future__ import annotations

import keras
from keras import ops

from rnnkit.masking import masked_softmax


class PositionAttention(keras.layers.Layer):
    """Base class: `call(query, values, values_mask=None) -> (context, weights)`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # The query's own mask (one per decoder step) passes through to both outputs.
        self.supports_masking = True

    def score(self, query, values):  # pragma: no cover - abstract
        """Scores [batch, queries, positions] for a query of rank 3."""
        raise NotImplementedError

    def call(self, query, values, values_mask=None):
        single_query = len(query.shape) == 2
        if single_query:
            query = ops.expand_dims(query, 1)
        scores = self.score(query, values)  # [batch, queries, positions]
        if values_mask is not None:
            # The same mask for every query; exactly zero weight at padding, zeros for an empty row.
            values_mask = ops.expand_dims(ops.cast(values_mask, "bool"), 1)
        weights = masked_softmax(scores, values_mask, axis=-1)
        context = ops.matmul(weights, values)  # [batch, queries, value_dim]
        if single_query:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def compute_mask(self, inputs, previous_mask=None):
        if previous_mask is None:
            return None
        return previous_mask, previous_mask
