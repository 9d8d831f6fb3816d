"""The speech app's own layers: a causal log-mel front end, PCEN, SpecAugment masks, the last step.

Each one works on a whole clip (training, serving, the 1-s TFLite model) and
has a `step` that continues from a state (the streaming model), and the two
give the same numbers: a clip fed packet by packet through `step` ends where
`call` on the whole clip ends. Importing this module registers them for
`.keras` loading.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

PACKAGE = "rnnkit_speech"


def mel_matrix(sample_rate: int, fft_length: int, mel_bins: int, min_freq: float, max_freq: float) -> np.ndarray:
    """[fft_length // 2 + 1, mel_bins] triangular HTK-mel filters (as tf.signal's), a constant of the model."""
    import tensorflow as tf

    return tf.signal.linear_to_mel_weight_matrix(mel_bins, fft_length // 2 + 1, sample_rate, min_freq, max_freq).numpy()


@keras.saving.register_keras_serializable(package=PACKAGE)
class CausalLogMel(keras.layers.Layer):
    """Waveform -> mel spectrogram whose frames use no future audio.

    Frame `t` covers samples `[(t + 1) * hop - window, (t + 1) * hop)`: it ends
    where its hop ends, and the `window - hop` samples before the clip are
    silence. A clip of `n * hop` samples gives exactly `n` frames, and a stream
    that keeps the last `window - hop` samples as its state gives the same
    frames packet by packet (`step`). Keras' `MelSpectrogram` centres its
    frames (reflect padding, half a window of future audio), which a stream
    cannot reproduce.

    Args:
        sample_rate, fft_length, window_length, hop_length: in samples (window <= fft).
        mel_bins, min_freq, max_freq: the HTK-mel filter bank.
        floor_db: mel power below this (dB) is raised to it; see model.py.
        scale: "db" (10 log10 of the power) or "power" (the floored power, for PCEN).
        warp: training only: each clip's frequency axis is stretched by a random
            factor in [1 - warp, 1 + warp] before the mel filters (vocal tract
            length perturbation, Jaitly & Hinton 2013: pitch and formants move,
            timing does not). 0 turns it off.

    Inputs: waveform `[batch, samples]`. Outputs: `[batch, samples // hop, mel_bins]`.
    No masking.

    Example:
    ```python
    features = CausalLogMel(16000, 512, 480, 160, 40, 20.0, 8000.0, -30.0)(keras.Input((16000,)))  # [batch, 100, 40]
    ```
    """

    def __init__(self, sample_rate, fft_length, window_length, hop_length, mel_bins, min_freq, max_freq, floor_db,
                 scale="db", warp=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 1 <= hop_length <= window_length <= fft_length:
            raise ValueError(f"need 1 <= hop_length ({hop_length}) <= window_length ({window_length}) <= fft_length ({fft_length})")
        if scale not in ("db", "power"):
            raise ValueError(f"scale must be db or power, not {scale!r}")
        self.sample_rate, self.fft_length = int(sample_rate), int(fft_length)
        self.window_length, self.hop_length = int(window_length), int(hop_length)
        self.mel_bins, self.min_freq, self.max_freq = int(mel_bins), float(min_freq), float(max_freq)
        self.floor_db, self.scale, self.warp, self.seed = float(floor_db), scale, float(warp), seed
        self.context = self.window_length - self.hop_length  # samples of the past each packet needs
        self.min_power = 10.0 ** (self.floor_db / 10.0)
        self._mel = mel_matrix(self.sample_rate, self.fft_length, self.mel_bins, self.min_freq, self.max_freq).astype("float32")
        n = np.arange(self.window_length)
        self._window = (0.5 - 0.5 * np.cos(2 * np.pi * n / self.window_length)).astype("float32")  # periodic Hann
        self.seed_generator = keras.random.SeedGenerator(seed) if self.warp > 0 else None

    def _frame_indices(self, frames: int) -> np.ndarray:
        return (np.arange(frames)[:, None] * self.hop_length + np.arange(self.window_length)[None, :]).astype("int32")

    def _power(self, frames):
        """[batch, frames, window] samples -> [batch, frames, fft // 2 + 1] power spectrum."""
        windowed = frames * ops.convert_to_tensor(self._window)
        real, imag = ops.rfft(windowed, fft_length=self.fft_length)
        return ops.square(real) + ops.square(imag)

    def _warped(self, power):
        bins = self.fft_length // 2 + 1
        batch = ops.shape(power)[0]
        factor = keras.random.uniform((batch, 1), 1.0 - self.warp, 1.0 + self.warp, seed=self.seed_generator)
        source = ops.clip(ops.arange(bins, dtype="float32")[None, :] / factor, 0.0, bins - 1.0)  # [batch, bins]
        low = ops.floor(source)
        fraction = source - low
        low = ops.cast(low, "int32")
        high = ops.minimum(low + 1, bins - 1)
        weights = (ops.one_hot(low, bins) * (1.0 - fraction)[..., None]
                   + ops.one_hot(high, bins) * fraction[..., None])  # [batch, target bin, source bin]
        return ops.einsum("btj,bkj->btk", power, weights)

    def _features(self, frames, training=False):
        power = self._power(frames)
        if training and self.warp > 0:
            power = self._warped(power)
        mel = ops.maximum(ops.matmul(power, ops.convert_to_tensor(self._mel)), self.min_power)
        if self.scale == "power":
            return mel
        return 10.0 * ops.log(mel) / math.log(10.0)

    def call(self, waveform, training=False):
        samples = waveform.shape[1]
        if samples is None or samples % self.hop_length:
            raise ValueError(f"CausalLogMel needs a fixed number of samples divisible by hop_length {self.hop_length}, not {samples}")
        padded = ops.pad(waveform, [[0, 0], [self.context, 0]])
        frames = ops.take(padded, ops.convert_to_tensor(self._frame_indices(samples // self.hop_length)), axis=1)
        return self._features(frames, training)

    def step(self, context, packet):
        """(the last `context` samples, a packet of k * hop samples) -> (k frames, the new context)."""
        audio = ops.concatenate([context, packet], axis=1)
        frames = ops.take(audio, ops.convert_to_tensor(self._frame_indices(packet.shape[1] // self.hop_length)), axis=1)
        return self._features(frames), audio[:, audio.shape[1] - self.context:]

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        return (input_shape[0], None if samples is None else samples // self.hop_length, self.mel_bins)

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate, "fft_length": self.fft_length,
                "window_length": self.window_length, "hop_length": self.hop_length, "mel_bins": self.mel_bins,
                "min_freq": self.min_freq, "max_freq": self.max_freq, "floor_db": self.floor_db, "scale": self.scale,
                "warp": self.warp, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PCEN(keras.layers.Layer):
    """Per-channel energy normalization (Wang et al. 2017), trainable, causal.

        M[t] = (1 - s) M[t-1] + s E[t]                 a smoother per mel band (M[-1] = `initial`)
        PCEN[t] = (E[t] / (eps + M[t]) ** alpha + delta) ** r - delta ** r

    An automatic gain control per band: a loud microphone, a near or far
    speaker and a steady background all come out alike. `alpha`, `delta` and
    `r` are learned per band (in log space, so they stay positive); `s` is
    fixed (0.025 a frame: a time constant of 40 frames, 0.4 s at 10 ms hops).
    Over a whole clip the smoother is one matrix product (the recursion
    unrolled, exact); `step` runs the recursion from a state.

    Inputs: mel power `[batch, frames, bands]` (positive). Outputs: the same shape.
    `initial` is the smoother's value before the first frame: the floor power,
    so a stream (and a clip) starts as if from silence. No masking.
    """

    def __init__(self, smoothing=0.025, initial=1e-3, alpha=0.98, delta=2.0, root=0.5, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], not {smoothing}")
        self.smoothing, self.initial, self.epsilon = float(smoothing), float(initial), float(epsilon)
        self.alpha_init, self.delta_init, self.root_init = float(alpha), float(delta), float(root)

    def build(self, input_shape):
        bands = input_shape[-1]

        def constant(value):
            return keras.initializers.Constant(math.log(value))

        self.log_alpha = self.add_weight(name="log_alpha", shape=(bands,), initializer=constant(self.alpha_init))
        self.log_delta = self.add_weight(name="log_delta", shape=(bands,), initializer=constant(self.delta_init))
        self.log_root = self.add_weight(name="log_root", shape=(bands,), initializer=constant(self.root_init))

    def _normalize(self, energy, smooth):
        alpha, delta, root = ops.exp(self.log_alpha), ops.exp(self.log_delta), ops.exp(self.log_root)
        gain = ops.exp(-alpha * ops.log(self.epsilon + smooth))
        return ops.power(energy * gain + delta, root) - ops.power(delta, root)

    def call(self, energy):
        frames = energy.shape[1]
        s = self.smoothing
        t = np.arange(frames)
        lags = t[:, None] - t[None, :]
        weights = np.where(lags >= 0, s * (1.0 - s) ** np.maximum(lags, 0), 0.0).astype("float32")  # [t, k]
        carry = ((1.0 - s) ** (t + 1) * self.initial).astype("float32")  # what M[-1] leaves at each t
        smooth = ops.einsum("tk,bkf->btf", ops.convert_to_tensor(weights), energy) + ops.convert_to_tensor(carry)[None, :, None]
        return self._normalize(energy, smooth)

    def step(self, state, energy):
        """(M of the last frame [batch, bands], energy [batch, k, bands]) -> (PCEN [batch, k, bands], new M)."""
        outputs = []
        for index in range(energy.shape[1]):
            state = (1.0 - self.smoothing) * state + self.smoothing * energy[:, index]
            outputs.append(state)
        smooth = ops.stack(outputs, axis=1)
        return self._normalize(energy, smooth), state

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing, "initial": self.initial, "alpha": self.alpha_init,
                "delta": self.delta_init, "root": self.root_init, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpecAugment(keras.layers.Layer):
    """Training only: zero random bands of time frames and of frequency bins (Park et al. 2019).

    Each clip gets `time_masks` masks of 0..`time_width` consecutive frames and
    `freq_masks` masks of 0..`freq_width` consecutive bins, at random places.
    It sits after the feature normalization, where 0 is the average value. At
    inference it passes its input through (and the streaming model leaves it out).

    Inputs / outputs: `[batch, frames, bins]`. No masking.
    """

    def __init__(self, time_masks=2, time_width=10, freq_masks=2, freq_width=5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.time_masks, self.time_width = int(time_masks), int(time_width)
        self.freq_masks, self.freq_width = int(freq_masks), int(freq_width)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _keep(self, batch, size, count, width):
        positions = ops.arange(size, dtype="float32")[None, :]
        keep = ops.ones((batch, size))
        for _ in range(count):
            span = ops.floor(keras.random.uniform((batch, 1), 0.0, width + 1.0, seed=self.seed_generator))
            start = ops.floor(keras.random.uniform((batch, 1), 0.0, 1.0, seed=self.seed_generator) * (size - span + 1.0))
            inside = ops.logical_and(positions >= start, positions < start + span)
            keep = keep * (1.0 - ops.cast(inside, "float32"))
        return keep

    def call(self, features, training=False):
        if not training or (self.time_masks * self.time_width + self.freq_masks * self.freq_width) == 0:
            return features
        batch, frames, bins = ops.shape(features)[0], features.shape[1], features.shape[2]
        keep_time = self._keep(batch, frames, self.time_masks, min(self.time_width, frames))
        keep_freq = self._keep(batch, bins, self.freq_masks, min(self.freq_width, bins))
        return features * keep_time[:, :, None] * keep_freq[:, None, :]

    def get_config(self):
        return {**super().get_config(), "time_masks": self.time_masks, "time_width": self.time_width,
                "freq_masks": self.freq_masks, "freq_width": self.freq_width, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LastStep(keras.layers.Layer):
    """`[batch, time, features]` -> `[batch, features]`: the last step (a unidirectional RNN's answer so far)."""

    def call(self, sequences):
        return sequences[:, -1]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
