"""SegmentRNN: the segment-recurrent forecaster of SegRNN (Lin et al., 2023)."""

from __future__ import annotations

import math

import keras
from keras import ops

CELLS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM, "simple": keras.layers.SimpleRNN}


@keras.saving.register_keras_serializable(package="rnnkit")
class SegmentRNN(keras.layers.Layer):
    """Forecast every channel of a window with an RNN over segments, decoded in parallel.

    A recurrent network over hundreds of time steps is slow and forgets; over
    a handful of segments it is neither. The window is cut into segments of
    `seg_len` steps, each channel separately (channel-independent: one set of
    weights for every channel); each segment is embedded (Dense + ReLU) and
    an RNN runs over the segments. The forecast is decoded in parallel, one
    RNN step per output segment from the final state, its input a learned
    position embedding (which output segment) joined to a channel embedding
    (which channel) -- SegRNN's "parallel multi-step forecasting" (PMF), so
    no error accumulates from step to step. A Dense layer maps each decoded
    state to `seg_len` steps (times `outputs` values per step, e.g. a point
    forecast and quantiles).

    Channels after the first `targets` are covariates: they are encoded like
    the others but not forecast; a Dense summary of their final states is
    added to every target channel's state, so targets can use them.

    Args:
        horizon: steps to forecast.
        seg_len: steps per segment. A window whose length is not a multiple of it is
            padded at its start with copies of its first step.
        units: the RNN's width (SegRNN's d_model), even.
        cell: `"gru"` (SegRNN's), `"lstm"` or `"simple"` (Elman `SimpleRNN`).
        dropout: dropout on the decoded states (training only).
        targets: how many leading channels are forecast (default: all).
        outputs: values per forecast step and channel (default 1).
        **kwargs: passed to `keras.layers.Layer`.

    Inputs:
        window: `[batch, time, channels]`, already normalised (e.g. by `RevIN`).

    Outputs:
        `[batch, horizon, targets, outputs]`.

    Masking:
        Not supported: every step counts.

    Example:
    ```python
    window = keras.Input((96, 7))
    normalised, stats = RevIN(mode="last")(window)
    forecast = SegmentRNN(horizon=96, seg_len=48, units=512, dropout=0.5)(normalised)  # [batch, 96, 7, 1]
    ```
    """

    def __init__(self, horizon, seg_len, units, cell="gru", dropout=0.0, targets=None, outputs=1, **kwargs):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, not {cell!r}")
        for name, value in (("horizon", horizon), ("seg_len", seg_len), ("units", units), ("outputs", outputs)):
            if int(value) < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        if int(units) % 2:
            raise ValueError(f"units must be even (half position, half channel embedding), not {units}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {dropout}")
        if targets is not None and int(targets) < 1:
            raise ValueError(f"targets must be at least 1 or None, not {targets}")
        self.horizon, self.seg_len, self.units = int(horizon), int(seg_len), int(units)
        self.cell, self.dropout = cell, float(dropout)
        self.targets = None if targets is None else int(targets)
        self.outputs = int(outputs)
        self.out_segments = math.ceil(self.horizon / self.seg_len)
        self.embed = keras.layers.Dense(self.units, activation="relu", name="segment_embedding")
        self.rnn = CELLS[cell](self.units, return_state=True, name=cell)
        self.drop = keras.layers.Dropout(self.dropout, name="dropout")
        self.project = keras.layers.Dense(self.seg_len * self.outputs, name="projection")

    def build(self, window_shape):
        time, channels = window_shape[1], window_shape[2]
        if time is None or channels is None:
            raise ValueError("SegmentRNN needs a known window length and number of channels")
        self.padding = -int(time) % self.seg_len
        self.channels = int(channels)
        self.target_channels = self.targets or self.channels
        if self.target_channels > self.channels:
            raise ValueError(f"targets {self.target_channels} > the window's {self.channels} channels")
        self.in_segments = (int(time) + self.padding) // self.seg_len
        half = self.units // 2
        self.position_embedding = self.add_weight(name="position_embedding", shape=(self.out_segments, half),
                                                  initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.channel_embedding = self.add_weight(name="channel_embedding", shape=(self.target_channels, half),
                                                 initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.embed.build((None, self.in_segments, self.seg_len))
        self.rnn.build((None, self.in_segments, self.units))
        self.drop.build((None, self.units))
        self.project.build((None, self.units))
        covariates = self.channels - self.target_channels
        if covariates:
            self.covariate_summary = keras.layers.Dense(self.units, name="covariate_summary")
            self.covariate_summary.build((None, covariates * self.units))
        self.built = True

    def call(self, window, training=None):
        channels, targets, units = self.channels, self.target_channels, self.units
        if self.padding:
            window = ops.concatenate([ops.repeat(window[:, :1, :], self.padding, axis=1), window], axis=1)
        # [batch, time, channels] -> one row per (window, channel), one step per segment
        segments = ops.reshape(ops.transpose(window, (0, 2, 1)), (-1, self.in_segments, self.seg_len))
        _, *states = self.rnn(self.embed(segments), training=training)
        states = [ops.reshape(state, (-1, channels, units)) for state in states]
        if channels > targets:
            summary = self.covariate_summary(ops.reshape(states[0][:, targets:, :], (-1, (channels - targets) * units)))
            states[0] = states[0][:, :targets, :] + ops.expand_dims(summary, 1)
        states = [state[:, :targets, :] for state in states]
        decoded = self.decode(states)  # [batch, targets, out segments, units]
        steps = self.project(self.drop(decoded, training=training))  # [..., seg_len * outputs]
        steps = ops.reshape(steps, (-1, targets, self.out_segments * self.seg_len, self.outputs))
        return ops.transpose(steps[:, :, : self.horizon, :], (0, 2, 1, 3))

    def decode(self, states):
        """One RNN step per (window, target, output segment) from that channel's final states.

        The step's input is the position + channel embedding, the same for every window, and its
        state is the channel's, the same for every output segment; so the input and recurrent
        products are computed once each and only the gates are broadcast to
        [batch, targets, out segments, units]. The numbers are those of running the RNN one step
        on every row (tested), at a fraction of the cost when the horizon is long.
        """
        targets, segments_out, units = self.target_channels, self.out_segments, self.units
        position = ops.broadcast_to(ops.expand_dims(self.position_embedding, 0), (targets, segments_out, units // 2))
        channel = ops.broadcast_to(ops.expand_dims(self.channel_embedding, 1), (targets, segments_out, units // 2))
        queries = ops.concatenate([position, channel], axis=-1)  # [targets, out segments, units]
        cell = self.rnn.cell
        inputs = ops.expand_dims(ops.matmul(queries, cell.kernel), 0)  # [1, targets, out segments, gates * units]
        hidden = states[0]
        recurrent = ops.expand_dims(ops.matmul(hidden, cell.recurrent_kernel), 2)  # [batch, targets, 1, gates * units]
        previous = ops.expand_dims(hidden, 2)
        if self.cell == "gru":
            inputs = inputs + cell.bias[0]
            recurrent = recurrent + cell.bias[1]
            x_z, x_r, x_h = ops.split(inputs, 3, axis=-1)
            h_z, h_r, h_h = ops.split(recurrent, 3, axis=-1)
            update = ops.sigmoid(x_z + h_z)
            candidate = ops.tanh(x_h + ops.sigmoid(x_r + h_r) * h_h)
            return update * previous + (1.0 - update) * candidate
        gates = inputs + recurrent + cell.bias
        if self.cell == "lstm":
            g_i, g_f, g_c, g_o = ops.split(gates, 4, axis=-1)
            carry = ops.sigmoid(g_f) * ops.expand_dims(states[1], 2) + ops.sigmoid(g_i) * ops.tanh(g_c)
            return ops.sigmoid(g_o) * ops.tanh(carry)
        return ops.tanh(gates)

    def compute_output_shape(self, window_shape):
        return (window_shape[0], self.horizon, self.targets or window_shape[2], self.outputs)

    def get_config(self):
        config = super().get_config()
        config.update({"horizon": self.horizon, "seg_len": self.seg_len, "units": self.units, "cell": self.cell,
                       "dropout": self.dropout, "targets": self.targets, "outputs": self.outputs})
        return config
