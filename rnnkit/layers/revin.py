"""RevIN: reversible instance normalization of forecasting windows."""

from __future__ import annotations

import keras
from keras import ops

MODES = ("std", "mean", "last")


@keras.saving.register_keras_serializable(package="rnnkit")
class RevIN(keras.layers.Layer):
    """Normalise each window by its own statistics, and put them back on the forecast.

    A series drifts: the level and spread of a test period are not those of
    the training period, and a network that sees raw levels learns the
    training period's. RevIN (Kim et al., ICLR 2022) takes each input window's
    own centre and scale out before the network and adds them back to its
    output, so the network only models the shape of the series. The same
    layer does both directions: called on a window it returns the normalised
    window and the statistics; called with `reverse=True` on a forecast and
    those statistics it returns the forecast in the window's units.

    Args:
        mode: what each window is normalised by, per channel:
            `"std"`: its mean and standard deviation (RevIN);
            `"mean"`: its mean only (scale 1);
            `"last"`: its last value only (scale 1; SegRNN's and NLinear's choice,
            robust when the level moves inside the window).
        affine: learn a per-channel scale and shift applied after normalising
            (and undone first when reversing), as RevIN does.
        epsilon: added to the variance (mode `"std"`) so a flat window does not
            divide by zero.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: normalising: a window `[batch, time, channels]`; reversing: a
            forecast `[batch, steps, channels', ...]` whose axis 2 holds the
            first `channels'` of the window's channels (the targets come first),
            with any further axes (e.g. quantiles) sharing those statistics.
        stats: reversing only: the `[batch, 2, channels]` statistics the forward
            call returned (row 0 the centre, row 1 the scale).
        reverse: False (default) to normalise, True to de-normalise.

    Returns:
        normalising: `(normalised [batch, time, channels], stats [batch, 2, channels])`;
        reversing: the forecast in the window's units, shaped like `inputs`.

    Masking:
        Not supported: every step of the window counts (fill or drop missing
        steps before the layer).

    Example:
    ```python
    window = keras.Input((96, 7))
    revin = RevIN(mode="last")
    normalised, stats = revin(window)
    forecast = keras.layers.Dense(24)(keras.ops.transpose(normalised, (0, 2, 1)))  # [batch, 7, 24]
    forecast = revin(keras.ops.transpose(forecast, (0, 2, 1)), stats=stats, reverse=True)  # [batch, 24, 7]
    ```
    """

    def __init__(self, mode="std", affine=False, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if float(epsilon) <= 0:
            raise ValueError(f"epsilon must be positive, not {epsilon}")
        self.mode = mode
        self.affine = bool(affine)
        self.epsilon = float(epsilon)

    def build(self, inputs_shape, stats_shape=None):
        if self.built:
            return
        channels = inputs_shape[-1] if stats_shape is None else stats_shape[-1]
        if channels is None:
            raise ValueError("RevIN needs a known number of channels (last axis of the window)")
        self.channels = int(channels)
        if self.affine:
            self.gamma = self.add_weight(name="gamma", shape=(self.channels,), initializer="ones")
            self.beta = self.add_weight(name="beta", shape=(self.channels,), initializer="zeros")
        self.built = True

    def call(self, inputs, stats=None, reverse=False):
        if reverse:
            if stats is None:
                raise ValueError("RevIN(reverse=True) needs the stats the normalising call returned")
            return self._denormalise(inputs, stats)
        return self._normalise(inputs)

    def _normalise(self, window):
        if self.mode == "last":
            centre = window[:, -1:, :]
            scale = ops.ones_like(centre)
        else:
            centre = ops.mean(window, axis=1, keepdims=True)
            if self.mode == "std":
                scale = ops.sqrt(ops.var(window, axis=1, keepdims=True) + self.epsilon)
            else:
                scale = ops.ones_like(centre)
        normalised = (window - centre) / scale
        if self.affine:
            normalised = normalised * self.gamma + self.beta
        return normalised, ops.concatenate([centre, scale], axis=1)

    def _denormalise(self, forecast, stats):
        channels = forecast.shape[2]
        if channels is None:
            raise ValueError("RevIN(reverse=True) needs a known channel axis (axis 2) in the forecast")
        centre, scale = stats[:, :1, :channels], stats[:, 1:, :channels]
        extra = len(forecast.shape) - 3
        if self.affine:
            gamma, beta = self.gamma[:channels], self.beta[:channels]
            for _ in range(extra):
                gamma, beta = ops.expand_dims(gamma, -1), ops.expand_dims(beta, -1)
            # Guarded like RevIN's reference code: a learned scale near 0 must not blow up.
            forecast = (forecast - beta) / (gamma + self.epsilon * self.epsilon)
        for _ in range(extra):
            centre, scale = ops.expand_dims(centre, -1), ops.expand_dims(scale, -1)
        return forecast * scale + centre

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "affine": self.affine, "epsilon": self.epsilon})
        return config
