"""MaskFromLengths: attach a Keras mask to padded features given each row's length."""

from __future__ import annotations

import keras

from rnnkit import masking


@keras.saving.register_keras_serializable(package="rnnkit")
class MaskFromLengths(keras.layers.Layer):
    """Marks the first `length` steps of each row as real and the rest as padding.

    `keras.layers.Masking` guesses padding from a sentinel value, which breaks
    when a real frame happens to equal it (silence in audio, a black video
    frame). When the lengths are known, this layer states the mask exactly;
    every mask-aware layer after it (RNNs, `BidirectionalRNN`,
    `AttentionPooling`, `MaskedGlobalPooling1D`) then skips the padding.

    Args:
        zero_padding: also replace the features at padded steps with zeros
            (default True), so layers that do not read masks see clean zeros.
        **kwargs: passed to `keras.layers.Layer`.

    Inputs:
        `[sequences, lengths]`: sequences `[batch, time, ...]` right-padded,
        lengths `[batch]` integers (values above `time` count as `time`).

    Outputs:
        the sequences (padded steps zeroed with `zero_padding`), carrying the
        mask `[batch, time]` for the following layers.

    Masking:
        Creates the mask; a mask arriving on the sequences is replaced.

    Example:
    ```python
    frames = keras.Input((None, 40))            # log-mel frames, right-padded
    lengths = keras.Input((), dtype="int32")
    x = MaskFromLengths()([frames, lengths])
    x = keras.layers.GRU(64)(x)                 # stops at each row's last real frame
    ```
    """

    def __init__(self, zero_padding=True, **kwargs):
        super().__init__(**kwargs)
        self.zero_padding = bool(zero_padding)
        self.supports_masking = True

    def call(self, inputs):
        sequences, lengths = inputs
        if not self.zero_padding:
            return sequences
        return masking.masked_fill(sequences, masking.mask_like(sequences, lengths))

    def compute_mask(self, inputs, mask=None):
        sequences, lengths = inputs
        return masking.mask_like(sequences, lengths)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"zero_padding": self.zero_padding})
        return config
