"""The forecast app's own layers: the attention decoder and the output head (point + monotone quantiles)."""

from __future__ import annotations

import keras
from keras import ops

from rnnkit.layers import BahdanauAttention, LuongAttention

CELL_CLASSES = {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell, "simple": keras.layers.SimpleRNNCell}
RNN_CLASSES = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM, "simple": keras.layers.SimpleRNN}


def softplus(x):
    """log(1 + e^x) from builtin TFLite ops (no SOFTPLUS kernel there), stable for large |x|."""
    return ops.maximum(x, 0.0) + ops.log(1.0 + ops.exp(-ops.abs(x)))


@keras.saving.register_keras_serializable(package="forecast")
class ForecastHead(keras.layers.Layer):
    """Splits the raw outputs [batch, horizon, targets, 1 + Q] into the point forecast and Q quantiles.

    With `skip` (a forecast [batch, horizon, targets], e.g. ChannelLinear's), every output is
    that forecast plus the raw output.

    The first quantile is taken as it is and each next one adds a softplus of its raw value,
    so quantiles never cross (a 90% quantile below the 10% one would be no interval).

    Returns `(forecast [batch, horizon, targets], quantiles [batch, horizon, targets, Q])`,
    or the forecast alone when `quantiles` is 0.
    """

    def __init__(self, quantiles=0, **kwargs):
        super().__init__(**kwargs)
        self.quantiles = int(quantiles)

    def call(self, raw, skip=None):
        if skip is not None:  # a linear forecast [batch, horizon, targets] that every output is relative to
            raw = raw + ops.expand_dims(skip, -1)
        forecast = raw[..., 0]
        if not self.quantiles:
            return forecast
        levels = [raw[..., 1:2]]
        for index in range(2, self.quantiles + 1):
            levels.append(levels[-1] + softplus(raw[..., index: index + 1]))
        return forecast, ops.concatenate(levels, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"quantiles": self.quantiles})
        return config


@keras.saving.register_keras_serializable(package="forecast")
class ChannelLinear(keras.layers.Layer):
    """One linear map from a channel's window to its horizon, shared by every target channel.

    window `[batch, time, channels]` -> `[batch, horizon, targets]` (the first `targets` channels):
    the linear model of DLinear / NLinear, here as a skip path beside the recurrent model so the
    network only has to learn what a linear forecast misses.
    """

    def __init__(self, horizon, targets, **kwargs):
        super().__init__(**kwargs)
        self.horizon, self.targets = int(horizon), int(targets)

    def build(self, window_shape):
        steps = int(window_shape[1])
        # Starts at "repeat the last value" (the window is normalised by it, so at 0), not at noise.
        self.kernel = self.add_weight(name="kernel", shape=(steps, self.horizon), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(self.horizon,), initializer="zeros")
        self.built = True

    def call(self, window):
        channels = ops.transpose(window[:, :, : self.targets], (0, 2, 1))  # [batch, targets, time]
        return ops.transpose(ops.matmul(channels, self.kernel) + self.bias, (0, 2, 1))

    def get_config(self):
        config = super().get_config()
        config.update({"horizon": self.horizon, "targets": self.targets})
        return config


@keras.saving.register_keras_serializable(package="forecast")
class AttentionDecoder(keras.layers.Layer):
    """Encoder RNN over the window's steps, then one decoder step per forecast step.

    Each decoder step takes the previous step's point forecast (at first the last observed
    values) and the previous attention context, advances the cell, attends over every encoder
    step (Bahdanau or Luong attention from rnnkit.layers) and emits `targets x outputs` values.
    Training runs the same free-running loop as inference, so errors it makes on its own
    forecasts are what it learns from. The loop is unrolled: meant for horizons of up to a
    few hundred steps.

    Inputs: window `[batch, time, channels]` (normalised; the targets are its first channels).
    Outputs: `[batch, horizon, targets, outputs]`.
    """

    def __init__(self, horizon, units, targets, outputs=1, cell="gru", attention="bahdanau", num_layers=1,
                 dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.horizon, self.units, self.targets, self.outputs = int(horizon), int(units), int(targets), int(outputs)
        self.cell, self.attention, self.num_layers, self.dropout = cell, attention, int(num_layers), float(dropout)
        self.input_projection = keras.layers.Dense(self.units, name="input_projection")
        self.encoders = [RNN_CLASSES[cell](self.units, return_sequences=True, return_state=True, name=f"encoder_{index}")
                         for index in range(self.num_layers)]
        self.decoder_cell = CELL_CLASSES[cell](self.units, name="decoder_cell")
        self.attend = (BahdanauAttention(self.units, name="attention") if attention == "bahdanau"
                       else LuongAttention(name="attention"))
        self.drop = keras.layers.Dropout(self.dropout, name="dropout")
        self.output_projection = keras.layers.Dense(self.targets * self.outputs, name="output_projection")

    def build(self, window_shape):
        time = window_shape[1]
        self.input_projection.build(tuple(window_shape))
        for encoder in self.encoders:
            encoder.build((None, time, self.units))
        self.decoder_cell.build((None, self.targets + self.units))
        self.attend.build((None, self.units), (None, time, self.units))
        self.drop.build((None, 2 * self.units))
        self.output_projection.build((None, 2 * self.units))
        self.built = True

    def call(self, window, training=None):
        sequence = self.input_projection(window)
        for encoder in self.encoders:
            sequence, *states = encoder(sequence, training=training)
        previous = window[:, -1, : self.targets]
        context = ops.zeros_like(sequence[:, 0, :])
        steps = []
        for _ in range(self.horizon):
            output, states = self.decoder_cell(ops.concatenate([previous, context], axis=-1), states, training=training)
            states = list(states) if isinstance(states, (list, tuple)) else [states]
            context, _ = self.attend(output, sequence)
            values = self.output_projection(self.drop(ops.concatenate([output, context], axis=-1), training=training))
            values = ops.reshape(values, (-1, self.targets, self.outputs))
            steps.append(values)
            previous = values[..., 0]
        return ops.stack(steps, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({"horizon": self.horizon, "units": self.units, "targets": self.targets, "outputs": self.outputs,
                       "cell": self.cell, "attention": self.attention, "num_layers": self.num_layers,
                       "dropout": self.dropout})
        return config
