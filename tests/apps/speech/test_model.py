"""The speech model: probabilities from raw waveforms, batch independence, the unrolled twin, .keras round trip."""

import dataclasses

import keras
import numpy as np
import pytest

from apps.speech.config import SpeechConfig
from apps.speech.model import build_model, inspection_model, unrolled_copy

CONFIG = SpeechConfig(clip_seconds=0.5, fft_length=256, window_ms=16, hop_ms=16, mel_bins=16, conv_blocks=1,
                      conv_filters=4, units=8, cell="lstm")


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model(CONFIG, 5)


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


def test_spectrogram_floor_and_attention_over_frames(model, waveforms):
    probabilities, attention, spectrogram = (np.asarray(x) for x in inspection_model(model)(waveforms))
    frames = CONFIG.clip_samples // CONFIG.hop_samples // 2 + (1 if (CONFIG.clip_samples // CONFIG.hop_samples) % 2 else 0)
    assert spectrogram.shape[:2] == (3, CONFIG.mel_bins) and attention.shape == (3, frames)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(spectrogram[2], CONFIG.floor_db, atol=1e-4)  # silence sits on the floor
    assert spectrogram[1].max() > spectrogram[0].max() + 20


def test_unrolled_twin_and_keras_round_trip_give_the_same_outputs(model, waveforms, tmp_path):
    expected = np.asarray(model(waveforms))
    np.testing.assert_allclose(np.asarray(unrolled_copy(model)(waveforms)), expected, atol=1e-6)
    path = tmp_path / "speech.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(reloaded(waveforms)), expected, atol=1e-6)


def test_clip_normalization_ignores_the_recording_level():
    keras.utils.set_random_seed(0)
    model = build_model(dataclasses.replace(CONFIG, normalize="clip"), 5)
    clip = np.random.default_rng(2).uniform(-0.3, 0.3, size=(1, CONFIG.clip_samples)).astype(np.float32)
    # Twice as loud is +6 dB in every band: a constant the per-clip normalization takes out.
    np.testing.assert_allclose(np.asarray(model(2 * clip)), np.asarray(model(clip)), atol=1e-4)
    assert not np.allclose(np.asarray(build_model(CONFIG, 5)(2 * clip)), np.asarray(build_model(CONFIG, 5)(clip)), atol=1e-4)


def test_config_refuses_impossible_settings():
    with pytest.raises(ValueError, match="hop .* <= window .* <= fft_length"):
        SpeechConfig(window_ms=50, fft_length=512).validate()
    with pytest.raises(ValueError, match="max_freq"):
        SpeechConfig(max_freq=9000).validate()
    with pytest.raises(ValueError, match="cell must be one of"):
        SpeechConfig(cell="rnn").validate()
