"""rnnkit.data.audio: WAV parsing without raising, mono, resampling, cropping, augmentation."""

import numpy as np
import pytest
import tensorflow as tf

from rnnkit.data import audio

RATE = 16000


def tone(frequency, seconds, rate, amplitude=0.5):
    t = np.arange(int(round(seconds * rate))) / rate
    return amplitude * np.sin(2 * np.pi * frequency * t)


def decoded(contents):
    info = audio.parse_wav(tf.constant(contents))
    return info["error"].numpy().decode(), audio.decode_wav(tf.constant(contents), info).numpy(), info


@pytest.mark.parametrize("sample_format, tolerance", [("uint8", 1e-2), ("int16", 1e-4), ("int32", 1e-7), ("float32", 1e-7)])
def test_every_supported_encoding_round_trips(sample_format, tolerance):
    signal = tone(440, 0.05, 8000)
    error, samples, info = decoded(audio.encode_wav(signal, 8000, sample_format))
    assert error == "" and int(info["sample_rate"]) == 8000 and samples.shape == (400, 1)
    assert np.abs(samples[:, 0] - signal).max() < tolerance


def test_24_bit_pcm_and_wave_format_extensible():
    signal = tone(300, 0.01, 16000)
    ints = np.round(signal * (2**23 - 1)).astype(np.int32)
    data = b"".join(int(value).to_bytes(3, "little", signed=True) for value in ints)
    guid = (1).to_bytes(2, "little") + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = ((0xFFFE).to_bytes(2, "little") + (1).to_bytes(2, "little") + (16000).to_bytes(4, "little")
           + (48000).to_bytes(4, "little") + (3).to_bytes(2, "little") + (24).to_bytes(2, "little")
           + (22).to_bytes(2, "little") + (24).to_bytes(2, "little") + (4).to_bytes(4, "little") + guid)
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"LIST" + (4).to_bytes(4, "little") + b"INFO"
    body += b"data" + len(data).to_bytes(4, "little") + data
    error, samples, _ = decoded(b"RIFF" + len(body).to_bytes(4, "little") + body)
    assert error == "" and np.abs(samples[:, 0] - signal).max() < 1e-6


@pytest.mark.parametrize("contents, message", [
    (b"", "empty file"),
    (b"this is not audio at all, just text" * 3, "not a WAV file"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt garbage", "runs past the end"),
    (b"RIFF\x04\x00\x00\x00WAVE", "without a 'fmt ' chunk"),
], ids=["zero-length", "text", "corrupt-fmt", "no-chunks"])
def test_unusable_bytes_give_a_message_not_an_exception(contents, message):
    error, samples, _ = decoded(contents)
    assert message in error and samples.size == 0


def test_header_only_file_has_no_samples_and_mu_law_is_named():
    assert "no audio samples" in decoded(audio.encode_wav(np.zeros(0), RATE))[0]
    mu_law = bytearray(audio.encode_wav(tone(440, 0.01, 8000), 8000, "uint8"))
    mu_law[20:22] = (7).to_bytes(2, "little")  # format tag 7: mu-law
    assert "unsupported WAV encoding (format 7, 8 bits)" in decoded(bytes(mu_law))[0]


def test_truncated_file_uses_the_whole_frames_present():
    contents = audio.encode_wav(tone(440, 0.1, RATE), RATE)  # 1600 frames, 3200 data bytes
    error, samples, info = decoded(contents[: 44 + 1001])
    assert error == "" and bool(info["truncated"]) and samples.shape == (500, 1)


def test_parsing_inside_tf_data_skips_nothing_and_raises_nothing():
    files = [audio.encode_wav(tone(440, 0.1, RATE), RATE), b"", b"junk" * 20]
    dataset = tf.data.Dataset.from_tensor_slices(files).map(lambda contents: audio.decode_clip(contents, RATE, 800)["error"])
    assert [error.decode()[:20] for error in dataset.as_numpy_iterator()] == ["", "empty file (0 bytes)", "not a WAV file (no R"]


def test_stereo_is_mixed_to_mono():
    left, right = tone(300, 0.1, RATE), tone(700, 0.1, RATE, 0.2)
    clip = audio.decode_clip(tf.constant(audio.encode_wav(np.stack([left, right], 1), RATE, "float32")), RATE, 1600)
    assert int(clip["channels"]) == 2
    np.testing.assert_allclose(clip["waveform"].numpy(), (left + right) / 2, atol=1e-6)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100])
def test_any_rate_is_resampled_to_the_model_rate(rate):
    clip = audio.decode_clip(tf.constant(audio.encode_wav(tone(440, 1.0, rate), rate)), RATE, RATE)
    waveform = clip["waveform"].numpy()
    assert waveform.shape == (RATE,) and int(clip["sample_rate"]) == rate
    expected = tone(440, 1.0, RATE)
    assert np.abs(waveform[200:-200] - expected[200:-200]).max() < 2e-3


def test_downsampling_removes_what_the_new_rate_cannot_hold():
    mixed = tone(440, 1.0, 44100) + tone(12000, 1.0, 44100)  # 12 kHz is above 16 kHz's Nyquist limit
    out = audio.resample(tf.constant(mixed, tf.float32), 44100, RATE).numpy()
    spectrum = np.abs(np.fft.rfft(out))
    assert out.shape == (RATE,) and spectrum[440] > 1000 * spectrum[4000]  # 12 kHz would alias to 4 kHz


def test_a_30_second_file_is_cut_to_its_loudest_second_centred():
    quiet = np.random.default_rng(0).normal(scale=0.001, size=30 * RATE)
    quiet[20 * RATE: 20 * RATE + 4000] += tone(500, 0.25, RATE)
    clip = audio.decode_clip(tf.constant(audio.encode_wav(quiet, RATE)), RATE, RATE)
    waveform = clip["waveform"].numpy()
    assert waveform.shape == (RATE,) and float(clip["duration"]) == pytest.approx(30.0)
    loud = np.flatnonzero(np.abs(waveform) > 0.1)
    assert 5000 < loud[0] and loud[-1] < 11000  # the 0.25 s sound sits near the middle


@pytest.mark.parametrize("mode, first", [("start", 0), ("center", 5), ("loudest", 7)])
def test_crop_modes(mode, first):
    waveform = np.zeros(12, np.float32)
    waveform[7:9] = 1.0
    out = audio.crop(tf.constant(waveform), 2, mode, sample_rate=100).numpy()
    np.testing.assert_array_equal(out, waveform[first: first + 2])


def test_fix_length_pads_and_cuts():
    assert audio.fix_length(tf.ones(3), 5).numpy().tolist() == [1, 1, 1, 0, 0]
    assert audio.fix_length(tf.ones(7), 5).numpy().tolist() == [1] * 5


def test_augmentation_is_seeded_and_keeps_the_shape():
    waveform = tf.constant(tone(440, 0.1, RATE), tf.float32)
    noise = tf.random.stateless_normal([RATE], [1, 2]) * 0.1
    seed = tf.constant([3, 4], tf.int64)
    shifted = audio.time_shift(waveform, 400, seed)
    noisy = audio.add_background_noise(waveform, noise, 1.0, 0.5, seed)
    assert shifted.shape == waveform.shape and noisy.shape == waveform.shape
    np.testing.assert_array_equal(shifted, audio.time_shift(waveform, 400, seed))
    assert not np.allclose(noisy, waveform) and np.abs(noisy).max() <= 1.0
    np.testing.assert_array_equal(audio.add_background_noise(waveform, noise, 0.0, 0.5, seed), waveform)
    faster = audio.change_speed(tf.constant(tone(400, 1.0, RATE), tf.float32), 0.2, seed).numpy()
    peak = int(np.abs(np.fft.rfft(faster)).argmax())  # 400 Hz moved by the speed factor, within 20%
    assert faster.shape == (RATE,) and peak != 400 and 320 <= peak <= 480
    np.testing.assert_array_equal(faster, audio.change_speed(tf.constant(tone(400, 1.0, RATE), tf.float32), 0.2, seed))
    louder = audio.random_gain(waveform, 6.0, seed)
    ratio = float(tf.reduce_max(tf.abs(louder)) / tf.reduce_max(tf.abs(waveform)))
    assert 10 ** (-6 / 20) <= ratio <= 10 ** (6 / 20)


def test_clip_decoder_names_the_file(tmp_path):
    decoder = audio.ClipDecoder(RATE, 800)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF")
    with pytest.raises(ValueError, match="broken.wav: not a WAV file"):
        decoder.file(bad)
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        decoder.file(tmp_path / "missing.wav")
    good = tmp_path / "good.wav"
    good.write_bytes(audio.encode_wav(tone(440, 0.02, 8000), 8000))
    waveform, info = decoder.file(good)
    assert waveform.shape == (800,) and info == {"sample_rate": 8000, "channels": 1, "duration": pytest.approx(0.02)}
