"""The speech models: raw waveform in, word probabilities out, features inside.

model=stream (the default): causal all the way, so the same weights also run as a stream
    waveform [batch, samples]  (mono, config.sample_rate, config.clip_seconds long)
      -> CausalLogMel                   log-mel frames that end where their hop ends (no future audio), dB
      -> feature_norm                   BatchNormalization per mel band (normalize=batch), PCEN (normalize=pcen,
                                        an automatic gain per band), or per clip over time (normalize=clip;
                                        needs the whole clip, so not streamable)
      -> SpecAugment                    training only: random time and frequency bands zeroed
      -> conv blocks                    ZeroPadding (2 frames of the past) -> Conv2D 3x3 -> BatchNorm -> ReLU ->
                                        MaxPool: 2x2 in the first block (one RNN step per 20 ms), 1x2 after
      -> frame projection               Dense(units) per step
      -> RNN (GRU | LSTM | SimpleRNN)   unidirectional, return_sequences; `rnn_layers` of them
      -> frame_probabilities            Dense(classes, softmax) at every step: the stream's answer so far
      -> LastStep                       the clip's answer: the last step's
    `stream_step` runs the same layers on one packet (2 hops, 20 ms) and the states
    (the front end's last window - hop samples, PCEN's smoother, each conv block's last
    2 input frames, the RNN states); from zero states a clip fed packet by packet ends
    with the probabilities of the whole clip.

model=attention (the earlier default; bidirectional, not streamable)
    waveform -> keras MelSpectrogram (centred frames) -> BatchNorm | per-clip norm -> conv blocks
    (2x2 pooling) -> Dense -> BidirectionalRNN -> AttentionPooling -> Dense(softmax)

Keras' `MelSpectrogram` `top_db` floor is switched off in the attention model because it clamps
against the loudest value of the whole *batch*, so a clip's features would depend on the other
clips it is batched with. Both models bound the dB values below by `floor_db` instead, a fixed
floor per clip: digital silence (padding, the empty top band of an upsampled 8 kHz file) then
looks like a quiet recording rather than a -100 dB cliff that dominates the feature statistics.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from apps.speech.config import SpeechConfig
from apps.speech.layers import PCEN, CausalLogMel, LastStep, SpecAugment
from rnnkit.layers import AttentionPooling, BidirectionalRNN
from rnnkit.training import optimizer_from_config

NO_TOP_DB = 1e9  # see the module docstring
CONV_CONTEXT = 2  # frames of the past each 3x3 causal convolution reads
PACKET_HOPS = 2  # a stream packet: 2 hops (20 ms at the default 10 ms hop)
RNN_CLASSES = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM, "simple": keras.layers.SimpleRNN}


def build_model(config: SpeechConfig, num_classes: int) -> keras.Model:
    if config.model == "attention":
        return _attention_model(config, num_classes)
    return _stream_model(config, num_classes)


def _spec_augment(config: SpeechConfig, x):
    if config.spec_time_masks * config.spec_time_width + config.spec_freq_masks * config.spec_freq_width == 0:
        return x
    return SpecAugment(config.spec_time_masks, config.spec_time_width, config.spec_freq_masks, config.spec_freq_width,
                       seed=config.seed, name="spec_augment")(x)


def _stream_model(config: SpeechConfig, num_classes: int) -> keras.Model:
    waveform = keras.Input((config.clip_samples,), name="waveform")
    x = CausalLogMel(config.sample_rate, config.fft_length, config.window_samples, config.hop_samples, config.mel_bins,
                     config.min_freq, config.max_freq or config.sample_rate / 2, config.floor_db,
                     scale="power" if config.normalize == "pcen" else "db", warp=config.pitch_change, seed=config.seed,
                     name="log_mel")(waveform)  # [batch, frames, mel]
    if config.normalize == "pcen":
        x = PCEN(config.pcen_smoothing, initial=10.0 ** (config.floor_db / 10.0), name="feature_norm")(x)
        x = keras.layers.BatchNormalization(name="feature_scale")(x)
    elif config.normalize == "clip":
        x = keras.layers.LayerNormalization(axis=1, center=False, scale=False, name="feature_norm")(x)
    else:
        x = keras.layers.BatchNormalization(name="feature_norm")(x)
    x = _spec_augment(config, x)
    frames = config.clip_samples // config.hop_samples
    x = keras.layers.Reshape((frames, config.mel_bins, 1), name="as_image")(x)
    for block in range(config.conv_blocks):
        x = keras.layers.ZeroPadding2D(((CONV_CONTEXT, 0), (1, 1)), name=f"conv_{block}_pad")(x)
        x = keras.layers.Conv2D(config.conv_filters * 2**block, 3, padding="valid", use_bias=False, name=f"conv_{block}")(x)
        x = keras.layers.BatchNormalization(name=f"conv_{block}_norm")(x)
        x = keras.layers.ReLU(name=f"conv_{block}_relu")(x)
        x = keras.layers.MaxPooling2D((2 if block == 0 else 1, 2), name=f"conv_{block}_pool")(x)
    steps, mel, channels = x.shape[1], x.shape[2], x.shape[3]
    x = keras.layers.Reshape((steps, mel * channels), name="frames")(x)
    x = keras.layers.Dense(config.units, activation="relu", name="frame_projection")(x)
    x = keras.layers.Dropout(config.dropout, name="frame_dropout")(x)
    for index in range(config.rnn_layers):
        x = RNN_CLASSES[config.cell](config.units, return_sequences=True, name=f"rnn_{index}")(x)
    x = keras.layers.Dropout(config.dropout, name="rnn_dropout")(x)
    frame_probabilities = keras.layers.Dense(num_classes, activation="softmax", name="frame_probabilities")(x)
    probabilities = LastStep(name="probabilities")(frame_probabilities)
    return keras.Model(waveform, probabilities, name="speech_stream")


def _attention_model(config: SpeechConfig, num_classes: int) -> keras.Model:
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
    elif config.normalize == "pcen":
        raise ValueError("normalize=pcen needs model=stream")
    x = _spec_augment(config, x)
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
    x = BidirectionalRNN(RNN_CLASSES[config.cell](config.units, return_sequences=True, name=config.cell), name="birnn")(x)
    pooled, _ = AttentionPooling(return_attention_scores=True, name="attention")(x)
    pooled = keras.layers.Dropout(config.dropout, name="pooled_dropout")(pooled)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(pooled)
    return keras.Model(waveform, probabilities, name="speech")


def compile_model(model: keras.Model, config: SpeechConfig, steps_per_epoch: int) -> keras.Model:
    model.compile(optimizer=optimizer_from_config(config, steps_per_epoch), loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    return model


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def is_attention_model(model: keras.Model) -> bool:
    return _has_layer(model, "attention")


def over_time_name(model: keras.Model) -> str:
    """What `inspect` gives per step: the attention weights, or the stream's probability of the clip's word."""
    return "attention" if is_attention_model(model) else "trace"


def inspection_model(model: keras.Model) -> keras.Model:
    """Waveform -> probabilities, a per-step view ([batch, frames] attention or [batch, steps, classes]) and the front end's output."""
    if is_attention_model(model):
        over_time = model.get_layer("attention").output[1]
    else:
        over_time = model.get_layer("frame_probabilities").output
    return keras.Model(model.input, [model.output, over_time, model.get_layer("log_mel").output], name="speech_inspection")


def inspector(model: keras.Model):
    """A function waveforms -> (probabilities, over_time [batch, steps], spectrogram dB [batch, mel, frames]).

    over_time is the attention weights (model=attention) or, for the stream model, the
    probability of the clip's top word after each 20 ms step: how a stream started at the
    clip's beginning would have seen it. TensorFlow ops, so it also runs inside a serving graph.
    """
    import tensorflow as tf

    inspect = inspection_model(model)
    attention = is_attention_model(model)
    power = not attention and model.get_layer("log_mel").scale == "power"

    def run(waveforms):
        probabilities, over_time, spectrogram = inspect(waveforms, training=False)
        if not attention:
            top = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            over_time = tf.gather(over_time, top, axis=2, batch_dims=1)
            if power:
                spectrogram = 10.0 * tf.math.log(spectrogram) / np.log(10.0)
            spectrogram = tf.transpose(spectrogram, [0, 2, 1])
        return probabilities, over_time, spectrogram

    return run, inspect


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
        elif isinstance(layer, keras.layers.RNN):
            config["unroll"] = True
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


# -- streaming --------------------------------------------------------------


def streamable(model: keras.Model) -> str:
    """"" when `stream_step` can run the model, else why not."""
    if is_attention_model(model):
        return "model=attention is bidirectional with attention over the whole clip"
    if isinstance(model.get_layer("feature_norm"), keras.layers.LayerNormalization):
        return "normalize=clip needs the whole clip"
    return ""


def _conv_blocks(model: keras.Model) -> int:
    return sum(1 for layer in model.layers if layer.name.startswith("conv_") and layer.name.endswith("_pad"))


def _rnn_layers(model: keras.Model) -> list:
    return [layer for layer in model.layers if layer.name.startswith("rnn_") and isinstance(layer, keras.layers.RNN)]


def packet_samples(model: keras.Model) -> int:
    return PACKET_HOPS * model.get_layer("log_mel").hop_length


def stream_state_shapes(model: keras.Model) -> dict[str, tuple[int, ...]]:
    """Name -> shape (batch 1) of every state the stream carries from one packet to the next."""
    reason = streamable(model)
    if reason:
        raise ValueError(f"this model cannot stream: {reason}")
    front = model.get_layer("log_mel")
    shapes: dict[str, tuple[int, ...]] = {"audio": (1, front.context)}
    if isinstance(model.get_layer("feature_norm"), PCEN):
        shapes["pcen"] = (1, front.mel_bins)
    for block in range(_conv_blocks(model)):
        _, _, mel, channels = model.get_layer(f"conv_{block}_pad").input.shape
        shapes[f"conv_{block}"] = (1, CONV_CONTEXT, mel, channels)
    for index, layer in enumerate(_rnn_layers(model)):
        shapes[f"rnn_{index}_h"] = (1, layer.cell.units)
        if isinstance(layer, keras.layers.LSTM):
            shapes[f"rnn_{index}_c"] = (1, layer.cell.units)
    return shapes


def initial_stream_states(model: keras.Model) -> dict[str, np.ndarray]:
    """The states of a stream that starts now: silence before it (PCEN's smoother at the floor power)."""
    states = {name: np.zeros(shape, np.float32) for name, shape in stream_state_shapes(model).items()}
    if "pcen" in states:
        states["pcen"][:] = model.get_layer("feature_norm").initial
    return states


def stream_step(model: keras.Model, packet, states: dict) -> dict:
    """One packet [1, packet_samples] and the states -> {"probabilities": [1, classes], "new_<state>": ...}.

    Keras ops on the trained layers (inference mode), so it runs eagerly, in a
    tf.function and in the converter that writes speech_stream.tflite.
    """
    new = {}
    front = model.get_layer("log_mel")
    x, new["audio"] = front.step(states["audio"], packet)
    norm = model.get_layer("feature_norm")
    if isinstance(norm, PCEN):
        x, new["pcen"] = norm.step(states["pcen"], x)
        x = model.get_layer("feature_scale")(x, training=False)
    else:
        x = norm(x, training=False)
    x = ops.expand_dims(x, -1)  # [1, frames, mel, 1]
    for block in range(_conv_blocks(model)):
        joined = ops.concatenate([states[f"conv_{block}"], x], axis=1)
        new[f"conv_{block}"] = joined[:, joined.shape[1] - CONV_CONTEXT:]
        x = ops.pad(joined, [[0, 0], [0, 0], [1, 1], [0, 0]])
        x = model.get_layer(f"conv_{block}")(x)
        x = model.get_layer(f"conv_{block}_norm")(x, training=False)
        x = model.get_layer(f"conv_{block}_relu")(x)
        x = model.get_layer(f"conv_{block}_pool")(x)
    steps = x.shape[1]
    x = ops.reshape(x, (1, steps, x.shape[2] * x.shape[3]))
    x = model.get_layer("frame_projection")(x)
    for index, layer in enumerate(_rnn_layers(model)):
        names = [f"rnn_{index}_h"] + ([f"rnn_{index}_c"] if isinstance(layer, keras.layers.LSTM) else [])
        state = [states[name] for name in names]
        outputs = []
        for step in range(steps):
            output, state = layer.cell(x[:, step], state, training=False)
            outputs.append(output)
        x = ops.stack(outputs, axis=1)
        for name, value in zip(names, state, strict=True):
            new[name] = value
    probabilities = model.get_layer("frame_probabilities")(x[:, -1])
    return {"probabilities": probabilities, **{f"new_{name}": value for name, value in new.items()}}


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
