"""The speech model: raw waveform in, word probabilities out, features inside.

    waveform [batch, samples]  (mono, config.sample_rate, config.clip_seconds long)
      -> log-mel spectrogram            keras.layers.MelSpectrogram, dB
      -> BatchNormalization             one learned scale/offset for the dB values (normalize=batch),
         or LayerNormalization over time  each mel band of each clip to mean 0, variance 1 (normalize=clip)
      -> conv blocks                    Conv2D 3x3 -> BatchNorm -> ReLU -> MaxPool 2x2, over (time, mel)
      -> frame projection               Dense(units) per time step
      -> BidirectionalRNN(GRU | LSTM)   rnnkit, return_sequences
      -> AttentionPooling               rnnkit; its weights say which frames decided
      -> Dense(classes, softmax)

The spectrogram is Keras' own `MelSpectrogram` (it converts to builtin TFLite
ops: RFFT2D, LOG, ...). Its `top_db` floor is switched off because it clamps
against the loudest value of the whole *batch*, so a clip's features would
depend on the other clips it is batched with (and differ between batched
serving and the batch-1 TFLite model). The dB values are bounded below by
`floor_db` instead (through `min_power`), a fixed floor per clip: digital
silence (padding, the empty top band of an upsampled 8 kHz file) then looks
like a quiet recording rather than a -100 dB cliff that dominates the
feature statistics.
"""

from __future__ import annotations

import keras

from apps.speech.config import SpeechConfig
from rnnkit.layers import AttentionPooling, BidirectionalRNN
from rnnkit.training import optimizer_from_config

NO_TOP_DB = 1e9  # see the module docstring


def build_model(config: SpeechConfig, num_classes: int) -> keras.Model:
    waveform = keras.Input((config.clip_samples,), name="waveform")
    x = keras.layers.MelSpectrogram(
        fft_length=config.fft_length,
        sequence_stride=config.hop_samples,
        sequence_length=config.window_samples,
        sampling_rate=config.sample_rate,
        num_mel_bins=config.mel_bins,
        min_freq=config.min_freq,
        max_freq=config.max_freq or None,
        top_db=NO_TOP_DB,
        min_power=10.0 ** (config.floor_db / 10.0),
        name="log_mel",
    )(waveform)  # [batch, mel, time]
    x = keras.layers.Permute((2, 1), name="time_major")(x)  # [batch, time, mel]
    if config.normalize == "clip":
        # Each band of each clip to mean 0, variance 1 over time: a microphone's own colouring is a
        # constant per band, so this takes it out (cepstral mean and variance normalisation).
        x = keras.layers.LayerNormalization(axis=1, center=False, scale=False, name="feature_norm")(x)
    x = keras.layers.Reshape((-1, config.mel_bins, 1), name="as_image")(x)
    if config.normalize == "batch":
        x = keras.layers.BatchNormalization(name="feature_norm")(x)
    for block in range(config.conv_blocks):
        x = keras.layers.Conv2D(config.conv_filters * 2**block, 3, padding="same", use_bias=False, name=f"conv_{block}")(x)
        x = keras.layers.BatchNormalization(name=f"conv_{block}_norm")(x)
        x = keras.layers.ReLU(name=f"conv_{block}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"conv_{block}_pool")(x)
    frames, mel, channels = x.shape[1], x.shape[2], x.shape[3]
    x = keras.layers.Reshape((frames, mel * channels), name="frames")(x)
    x = keras.layers.Dense(config.units, activation="relu", name="frame_projection")(x)
    x = keras.layers.Dropout(config.dropout, name="frame_dropout")(x)
    rnn_class = keras.layers.LSTM if config.cell == "lstm" else keras.layers.GRU
    x = BidirectionalRNN(rnn_class(config.units, return_sequences=True, name=config.cell), name="birnn")(x)
    pooled, _ = AttentionPooling(return_attention_scores=True, name="attention")(x)
    pooled = keras.layers.Dropout(config.dropout, name="pooled_dropout")(pooled)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(pooled)
    return keras.Model(waveform, probabilities, name="speech")


def compile_model(model: keras.Model, config: SpeechConfig, steps_per_epoch: int) -> keras.Model:
    model.compile(optimizer=optimizer_from_config(config, steps_per_epoch), loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    return model


def inspection_model(model: keras.Model) -> keras.Model:
    """Waveform -> probabilities, attention weights over the RNN frames, and the log-mel spectrogram."""
    attention = model.get_layer("attention").output[1]
    spectrogram = model.get_layer("log_mel").output
    return keras.Model(model.input, [model.output, attention, spectrogram], name="speech_inspection")


def unrolled_copy(model: keras.Model) -> keras.Model:
    """The same model with its RNNs unrolled (same weights): a flat graph for TFLite.

    The frame count is fixed and small, and a flat graph is what TFLite's int8
    calibration can handle: calibrating the WHILE loop of a rolled RNN crashes
    the converter (TF 2.21).
    """

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, BidirectionalRNN):
            for key in ("layer", "backward_layer"):
                config[key]["config"]["unroll"] = True
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


def load_run(run_dir):
    """The trained model, labels and config of a speech run folder."""
    from pathlib import Path

    from rnnkit.config import read_saved_config
    from rnnkit.io import read_json
    from rnnkit.training import RunDir

    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"--model {run_dir}: no such run folder")
    run = RunDir(run_dir)
    config = read_saved_config(SpeechConfig, run.config_path)
    labels_path = run.path / "labels.json"
    if not labels_path.is_file():
        raise FileNotFoundError(f"{labels_path}: missing; is {run_dir} a speech run folder?")
    labels = read_json(labels_path)["labels"]
    model = keras.saving.load_model(run.trained_model_path(), compile=False)
    return model, labels, config
