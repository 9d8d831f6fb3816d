"""FrameWise: apply a layer (a per-frame CNN) to every step of a sequence in one call."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnnkit")
class FrameWise(keras.layers.Layer):
    """Applies `layer` to each step of `[batch, time, ...]` by folding time into the batch.

    `keras.layers.TimeDistributed` calls the wrapped layer once per time step
    when the number of steps is known (a Python loop: `time` copies of a CNN
    in the graph, each on a batch of `batch`). This layer reshapes to
    `[batch * time, ...]`, calls the layer once, and reshapes back, which is
    one large batch for the CNN and one small graph for export (TFLite
    included).

    Args:
        layer: any layer or model taking `[n, ...]` (e.g. a keras.applications
            CNN without its top, or a small CNN ending in a feature vector).
        **kwargs: passed to `keras.layers.Layer`.

    Inputs:
        sequences: `[batch, time, *step_shape]` with `time` and `step_shape` known.
        mask: optional `[batch, time]`; passed on unchanged.

    Outputs:
        `[batch, time, *layer_output_shape]`.

    Masking:
        Padded steps are computed like any other (a CNN has no notion of
        padding); the mask is passed on so that the following layers skip
        them. Use `MaskFromLengths` after this layer when the lengths are known.

    Example:
    ```python
    frames = keras.Input((16, 64, 64, 3))
    lengths = keras.Input((), dtype="int32")
    cnn = keras.Sequential([keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.GlobalAveragePooling2D()])
    features = FrameWise(cnn)(frames)                 # [batch, 16, 16]
    x = MaskFromLengths()([features, lengths])
    x = BidirectionalRNN(keras.layers.GRU(32, return_sequences=True))(x)
    ```
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(f"FrameWise wraps a Keras layer or model, not {type(layer).__name__}")
        self.layer = layer
        self.supports_masking = True

    def build(self, sequences_shape):
        if len(sequences_shape) < 3:
            raise ValueError(f"FrameWise needs inputs [batch, time, ...], got shape {sequences_shape}")
        if not self.layer.built:
            self.layer.build((None, *sequences_shape[2:]))
        self.built = True

    def call(self, sequences, training=None):
        step_shape = tuple(sequences.shape[2:])
        if any(size is None for size in step_shape):
            raise ValueError(f"FrameWise needs a known step shape, got {tuple(sequences.shape)}")
        time = sequences.shape[1] if sequences.shape[1] is not None else ops.shape(sequences)[1]
        folded = ops.reshape(sequences, (-1, *step_shape))
        outputs = self.layer(folded, training=training)
        return ops.reshape(outputs, (-1, time, *tuple(outputs.shape[1:])))

    def compute_mask(self, sequences, mask=None):
        return mask

    def compute_output_shape(self, sequences_shape):
        step = self.layer.compute_output_shape((None, *sequences_shape[2:]))
        return (sequences_shape[0], sequences_shape[1], *step[1:])

    def get_config(self):
        config = super().get_config()
        config.update({"layer": keras.saving.serialize_keras_object(self.layer)})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)
