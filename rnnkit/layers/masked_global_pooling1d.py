"""MaskedGlobalPooling1D: mean, max or both over the real steps of a sequence."""

from __future__ import annotations

import keras
from keras import ops

from rnnkit import masking

MODES = ("mean", "max", "mean_max")


@keras.saving.register_keras_serializable(package="rnnkit")
class MaskedGlobalPooling1D(keras.layers.Layer):
    """Mean and/or max over time that only looks at real steps.

    `keras.layers.GlobalMaxPooling1D` ignores the mask (padding takes part in
    the max) and `GlobalAveragePooling1D` divides by zero on a row without
    real steps; this layer does neither.

    Args:
        mode: `"mean"`, `"max"`, or `"mean_max"` (both, concatenated: the
            "concat pooling" of ULMFiT without the last state).
        **kwargs: passed to `keras.layers.Layer`.

    Inputs:
        sequences: `[batch, time, features]`; mask: optional `[batch, time]`
        bool, True at real steps (taken from the previous layer).

    Outputs:
        `[batch, features]`, or `[batch, 2 * features]` for `mean_max`
        (mean first).

    Masking:
        Padded steps are never read (their values are replaced before
        pooling), so they change nothing; a row with no real step gives
        zeros. The mask is consumed.

    Example:
    ```python
    x = keras.layers.Embedding(20000, 64, mask_zero=True)(tokens)
    x = BidirectionalRNN(keras.layers.GRU(32, return_sequences=True))(x)
    features = MaskedGlobalPooling1D("mean_max")(x)  # [batch, 128]
    ```
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.supports_masking = True

    def call(self, sequences, mask=None):
        if self.mode == "mean":
            return masking.masked_mean(sequences, mask)
        if self.mode == "max":
            return masking.masked_max(sequences, mask)
        return ops.concatenate([masking.masked_mean(sequences, mask), masking.masked_max(sequences, mask)], axis=-1)

    def compute_mask(self, sequences, mask=None):
        return None

    def compute_output_shape(self, sequences_shape):
        features = sequences_shape[-1]
        if self.mode == "mean_max" and features is not None:
            features *= 2
        return (sequences_shape[0], features)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config
