"""The speech models: probabilities from raw waveforms, batch independence, streaming = whole clip, unrolled twin, .keras round trip."""

import dataclasses

import keras
import numpy as np
import pytest

from apps.speech.config import SpeechConfig
from apps.speech.model import (
    build_model,
    compile_model,
    initial_stream_states,
    inspector,
    packet_samples,
    stream_state_shapes,
    stream_step,
    streamable,
    unrolled_copy,
)

CONFIG = SpeechConfig(clip_seconds=0.5, fft_length=256, window_ms=16, hop_ms=10, mel_bins=16, conv_blocks=1,
                      conv_filters=4, units=8, cell="lstm")
# CONFIG holds the streaming recipe's resolved PCEN and pitch settings; the attention model takes neither.
ATTENTION = {"model": "attention", "normalize": "batch", "pitch_change": 0.0}


def randomize_statistics(model, seed=0):
    """Batch-norm statistics away from (0, 1), so a stream that skipped or misapplied them would show."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(scale=0.5, size=layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, size=layer.moving_variance.shape))
    return model


def speech_like(samples, seed=1, batch=1):
    """Quiet noise with a louder tone burst in the middle: the posteriors change along the clip."""
    rng = np.random.default_rng(seed)
    clips = rng.normal(scale=0.01, size=(batch, samples))
    t = np.arange(samples // 3) / 16000
    clips[:, samples // 3: samples // 3 + t.size] += 0.3 * np.sin(2 * np.pi * rng.uniform(300, 900, (batch, 1)) * t)
    return clips.astype(np.float32)


def feed(model, clip, states=None):
    """The clip packet by packet through stream_step: the probabilities after every packet."""
    states = initial_stream_states(model) if states is None else states
    size = packet_samples(model)
    out = []
    for index in range(clip.shape[-1] // size):
        result = stream_step(model, clip[None, index * size:(index + 1) * size], states)
        states = {name: np.asarray(result[f"new_{name}"]) for name in states}
        out.append(np.asarray(result["probabilities"])[0])
    return np.stack(out)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return randomize_statistics(build_model(CONFIG, 5))


@pytest.fixture(scope="module")
def waveforms():
    rng = np.random.default_rng(1)
    clips = rng.normal(scale=0.05, size=(3, CONFIG.clip_samples)).astype(np.float32)
    clips[1] *= 20  # a loud clip next to quiet ones
    clips[2] = 0.0  # digital silence
    return clips


def test_probabilities_do_not_depend_on_the_other_clips_of_the_batch(model, waveforms):
    batched = np.asarray(model(waveforms))
    assert batched.shape == (3, 5)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=1e-5)
    for index in range(3):
        np.testing.assert_allclose(np.asarray(model(waveforms[index: index + 1]))[0], batched[index], atol=1e-6)


def test_spectrogram_floor_and_the_stream_trace_over_time(model, waveforms):
    inspect, _ = inspector(model)
    probabilities, trace, spectrogram = (np.asarray(x) for x in inspect(waveforms))
    steps = CONFIG.clip_samples // packet_samples(model)
    assert spectrogram.shape == (3, CONFIG.mel_bins, CONFIG.clip_samples // CONFIG.hop_samples) and trace.shape == (3, steps)
    np.testing.assert_allclose(trace[:, -1], probabilities.max(axis=1), atol=1e-6)  # the last step is the clip's answer
    np.testing.assert_allclose(spectrogram[2], CONFIG.floor_db, atol=1e-4)  # silence sits on the floor
    assert spectrogram[1].max() > spectrogram[0].max() + 20


@pytest.mark.parametrize("settings", [
    {"cell": "gru"},
    {"cell": "lstm", "rnn_layers": 2, "conv_blocks": 2},
    {"cell": "simple", "normalize": "pcen"},
    {"cell": "gru", "conv_blocks": 0, "spec_time_masks": 2, "spec_freq_masks": 2, "pitch_change": 0.1},
], ids=["gru", "lstm-2-layers-2-blocks", "simple-pcen", "no-conv-augmented"])
def test_a_stream_fed_packet_by_packet_gives_the_whole_clips_posteriors(settings):
    config = dataclasses.replace(CONFIG, **settings)
    config.validate()
    keras.utils.set_random_seed(2)
    model = randomize_statistics(build_model(config, 4))
    clip = speech_like(config.clip_samples)[0]
    streamed = feed(model, clip)
    assert streamed.shape == (config.clip_samples // packet_samples(model), 4)
    np.testing.assert_allclose(streamed[-1], np.asarray(model(clip[None]))[0], atol=1e-5)
    # Every packet's answer is the whole model's answer on the audio so far (the rest of the clip silent).
    half = len(streamed) // 2
    prefix = clip.copy()
    prefix[half * packet_samples(model):] = 0.0
    np.testing.assert_allclose(streamed[half - 1], feed(model, prefix)[half - 1], atol=1e-6)
    assert np.abs(streamed[half - 1] - streamed[-1]).max() > 1e-4  # the answer does move along the clip
    # The states carry the past: starting from other states gives other answers.
    wrong = {name: value + 0.5 for name, value in initial_stream_states(model).items()}
    assert np.abs(feed(model, clip[: 3 * packet_samples(model)], wrong)[-1] - streamed[2]).max() > 1e-4


def test_state_shapes_and_what_cannot_stream():
    keras.utils.set_random_seed(0)
    model = build_model(dataclasses.replace(CONFIG, cell="lstm", normalize="pcen"), 3)
    shapes = stream_state_shapes(model)
    assert shapes == {"audio": (1, CONFIG.window_samples - CONFIG.hop_samples), "pcen": (1, 16), "conv_0": (1, 2, 16, 1),
                      "rnn_0_h": (1, 8), "rnn_0_c": (1, 8)}
    assert initial_stream_states(model)["pcen"].min() == pytest.approx(10 ** (CONFIG.floor_db / 10))
    assert "needs the whole clip" in streamable(build_model(dataclasses.replace(CONFIG, normalize="clip"), 3))
    attention = build_model(dataclasses.replace(CONFIG, **ATTENTION), 3)
    assert "bidirectional" in streamable(attention)
    with pytest.raises(ValueError, match="cannot stream"):
        stream_state_shapes(attention)


def test_augmentation_layers_act_in_training_only():
    config = dataclasses.replace(CONFIG, spec_time_masks=2, spec_freq_masks=2, pitch_change=0.2)
    keras.utils.set_random_seed(0)
    model = build_model(config, 3)
    clip = speech_like(config.clip_samples, batch=2)
    front = keras.Model(model.input, model.get_layer("spec_augment").output)
    np.testing.assert_allclose(np.asarray(front(clip, training=False)), np.asarray(front(clip, training=False)))
    trained = np.asarray(front(clip, training=True))
    assert (trained == 0).any() and not np.allclose(trained, np.asarray(front(clip, training=False)), atol=1e-3)
    plain = keras.Model(model.input, model.get_layer("log_mel").output)
    assert not np.allclose(np.asarray(plain(clip, training=True)), np.asarray(plain(clip)), atol=1e-3)  # the warp


def test_unrolled_twin_and_keras_round_trip_give_the_same_outputs(model, waveforms, tmp_path):
    expected = np.asarray(model(waveforms))
    np.testing.assert_allclose(np.asarray(unrolled_copy(model)(waveforms)), expected, atol=1e-6)
    path = tmp_path / "speech.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(reloaded(waveforms)), expected, atol=1e-6)
    np.testing.assert_allclose(feed(reloaded, waveforms[0])[-1], expected[0], atol=1e-5)


def test_attention_model_still_builds_and_round_trips(waveforms, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model(dataclasses.replace(CONFIG, **ATTENTION, cell="simple"), 5)
    probabilities, attention, _ = (np.asarray(x) for x in inspector(model)[0](waveforms))
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    model.save(tmp_path / "attention.keras")
    reloaded = keras.saving.load_model(tmp_path / "attention.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(reloaded(waveforms)), probabilities, atol=1e-6)


def test_simple_rnn_cell_trains_saves_reloads_and_exports_both_tflite_models(tmp_path):
    from apps.speech.export import (
        convert_stream_tflite,
        convert_tflite,
        run_stream,
        stream_record,
        tflite_probabilities,
    )
    from rnnkit.export import tflite

    config = dataclasses.replace(CONFIG, cell="simple")
    keras.utils.set_random_seed(0)
    model = compile_model(build_model(config, 3), config, steps_per_epoch=1)
    clips = speech_like(config.clip_samples, batch=4)
    before = [np.array(weight) for weight in model.get_layer("rnn_0").get_weights()]
    model.fit(clips, np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_layer("rnn_0").get_weights(), strict=True))
    assert isinstance(model.get_layer("rnn_0"), keras.layers.SimpleRNN)
    model.save(tmp_path / "simple.keras")
    model = keras.saving.load_model(tmp_path / "simple.keras", compile=False, safe_mode=True)
    expected = np.asarray(model(clips))
    np.testing.assert_allclose(tflite_probabilities(convert_tflite(model, config), clips), expected, atol=1e-5)
    stream = convert_stream_tflite(model)
    assert "WHILE" not in tflite.check_builtin_only(stream)
    runner = tflite.signature_runner(stream, "serve")
    np.testing.assert_allclose(run_stream(runner, stream_record(model), clips[0])[-1], expected[0], atol=1e-5)


def test_clip_normalization_ignores_the_recording_level():
    keras.utils.set_random_seed(0)
    model = build_model(dataclasses.replace(CONFIG, normalize="clip"), 5)
    clip = np.random.default_rng(2).uniform(-0.3, 0.3, size=(1, CONFIG.clip_samples)).astype(np.float32)
    # Twice as loud is +6 dB in every band: a constant the per-clip normalization takes out.
    np.testing.assert_allclose(np.asarray(model(2 * clip)), np.asarray(model(clip)), atol=1e-4)
    base = randomize_statistics(build_model(CONFIG, 5))
    assert not np.allclose(np.asarray(base(2 * clip)), np.asarray(base(clip)), atol=1e-4)


def test_config_refuses_impossible_settings():
    with pytest.raises(ValueError, match="hop .* <= window .* <= fft_length"):
        SpeechConfig(window_ms=50, fft_length=512).validate()
    with pytest.raises(ValueError, match="max_freq"):
        SpeechConfig(max_freq=9000).validate()
    with pytest.raises(ValueError, match="cell must be one of gru, lstm, simple"):
        SpeechConfig(cell="rnn").validate()
    with pytest.raises(ValueError, match="whole 2-hop packets"):
        SpeechConfig(clip_seconds=0.51).validate()
    with pytest.raises(ValueError, match="normalize=pcen and pitch_change need model=stream"):
        SpeechConfig(model="attention", normalize="pcen").validate()
