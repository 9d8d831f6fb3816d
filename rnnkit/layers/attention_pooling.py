"""AttentionPooling: a learned, mask-aware weighted average over time."""

from __future__ import annotations

import keras
from keras import ops

from rnnkit import masking


@keras.saving.register_keras_serializable(package="rnnkit")
class AttentionPooling(keras.layers.Layer):
    """Pools a sequence into one vector with learned additive attention.

    Each step gets a score `v . tanh(W h_t + b)` (Bahdanau et al. 2015; the
    pooling of Yang et al. 2016); the scores go through a softmax over the
    real steps only, and the output is the weighted sum of the steps. With
    `num_heads > 1` each head has its own `v` and the pooled vectors are
    concatenated.

    Args:
        units: width of the hidden scoring layer (default: the feature width).
        num_heads: number of independent attention distributions (default 1).
        return_attention_scores: also return the attention weights.
        kernel_initializer, bias_initializer: initializers of `W`, `b` and `v`.
        **kwargs: passed to `keras.layers.Layer`.

    Inputs:
        sequences: `[batch, time, features]`.
        mask: optional `[batch, time]` bool, True at real steps (taken from
            the previous layer, e.g. `Embedding(mask_zero=True)` or
            `BidirectionalRNN`).

    Outputs:
        pooled: `[batch, features * num_heads]`.
        weights (with `return_attention_scores`): `[batch, time]` for one head,
            `[batch, time, num_heads]` otherwise; each row sums to 1 over its
            real steps and is exactly 0 at padded steps.

    Masking:
        Padded steps get zero weight and their values are never read (they
        are replaced, not multiplied, so even NaN padding changes nothing). A
        row with no real step gives a zero vector and zero weights. The mask
        is consumed: the output carries none.

    Example:
    ```python
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20000, 128, mask_zero=True)(tokens)
    x = BidirectionalRNN(keras.layers.GRU(64, return_sequences=True))(x)
    pooled, weights = AttentionPooling(return_attention_scores=True)(x)  # [batch, 128], [batch, time]
    probability = keras.layers.Dense(1, activation="sigmoid")(pooled)
    ```
    """

    def __init__(
        self,
        units=None,
        num_heads=1,
        return_attention_scores=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if units is not None and int(units) < 1:
            raise ValueError(f"units must be positive or None, not {units}")
        if int(num_heads) < 1:
            raise ValueError(f"num_heads must be at least 1, not {num_heads}")
        self.units = None if units is None else int(units)
        self.num_heads = int(num_heads)
        self.return_attention_scores = bool(return_attention_scores)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, sequences_shape):
        features = sequences_shape[-1]
        if features is None:
            raise ValueError("AttentionPooling needs a known feature size (last axis)")
        hidden = self.units or features
        self.hidden_kernel = self.add_weight(
            name="hidden_kernel", shape=(features, hidden), initializer=self.kernel_initializer
        )
        self.hidden_bias = self.add_weight(name="hidden_bias", shape=(hidden,), initializer=self.bias_initializer)
        self.score_kernel = self.add_weight(
            name="score_kernel", shape=(hidden, self.num_heads), initializer=self.kernel_initializer
        )
        self.built = True

    def call(self, sequences, mask=None):
        # Padding is replaced before scoring so that nothing it holds can reach the output.
        clean = masking.masked_fill(sequences, mask)
        hidden = ops.tanh(ops.matmul(clean, self.hidden_kernel) + self.hidden_bias)
        scores = ops.matmul(hidden, self.score_kernel)  # [batch, time, heads]
        weights = masking.masked_softmax(scores, mask, axis=1)
        # [batch, heads, time] x [batch, time, features] -> [batch, heads, features]
        pooled = ops.matmul(ops.transpose(weights, (0, 2, 1)), clean)
        pooled = ops.reshape(pooled, (-1, self.num_heads * sequences.shape[-1]))
        if self.num_heads == 1:
            weights = ops.squeeze(weights, axis=-1)
        if self.return_attention_scores:
            return pooled, weights
        return pooled

    def compute_mask(self, sequences, mask=None):
        return (None, None) if self.return_attention_scores else None

    def compute_output_shape(self, sequences_shape):
        pooled = (sequences_shape[0], sequences_shape[-1] * self.num_heads)
        if not self.return_attention_scores:
            return pooled
        weights = tuple(sequences_shape[:2]) + (() if self.num_heads == 1 else (self.num_heads,))
        return pooled, weights

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_heads": self.num_heads,
                "return_attention_scores": self.return_attention_scores,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
