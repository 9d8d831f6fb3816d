"""Audio clips for tf.data pipelines and serving graphs: WAV decoding, mono, resampling, fixed length.

Everything here is TensorFlow ops, so the very same code runs in a training
pipeline, inside an exported serving function (a client sends WAV bytes) and
eagerly for `predict`:

    info = parse_wav(contents)          # header fields + "error" (b"" when readable); never raises
    samples = decode_wav(contents)      # float32 [frames, channels] in [-1, 1]
    clip = decode_clip(contents, 16000, 16000)   # the model's input: mono, 16 kHz, 1 s
    clip["waveform"], clip["error"], clip["sample_rate"], clip["duration"]

Why not `tf.audio.decode_wav`: it reads 16-bit PCM only and raises on a bad
file, which kills a whole serving batch (or a training epoch) for one bad
clip. `parse_wav` walks the RIFF chunks itself, reads 8/16/24/32-bit PCM and
32/64-bit float (plain or WAVE_FORMAT_EXTENSIBLE), uses the whole frames of a
truncated file, and reports any other problem as a message in `error` so the
caller decides: a training pipeline skips and counts, a server answers that
one clip with the error.

A clip longer than the model's duration is cut to its loudest window (or its
start or centre, see `CROPS`) *before* resampling, so a 30-second file costs
no more than a 1-second one; a shorter clip is padded with silence at the
end. Resampling is band-limited (FFT): the spectrum is cut or zero-extended
to the new rate, which is also the anti-aliasing filter when downsampling.

Augmentation for training: `time_shift`, `change_speed`, `random_gain` and `add_background_noise`
(random windows of long noise recordings, as Speech Commands'
`_background_noise_` folder holds).
"""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

CROPS = ("loudest", "start", "center")
MAX_CHUNKS = 64  # RIFF chunks inspected before giving up on finding "fmt " and "data"

# (format tag, bits per sample) -> decoder branch; see _decode_branches.
_ENCODINGS = {(1, 8): 0, (1, 16): 1, (1, 24): 2, (1, 32): 3, (3, 32): 4, (3, 64): 5}
_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
# WAVs from Python's `wave`, sox, ffmpeg and recorders stay far below this; it only
# guards the arithmetic against absurd headers.
_MAX_CHANNELS = 64


# -- parsing ----------------------------------------------------------------


def _byte_reader(contents):
    """Little-endian unsigned integers at byte offsets of a scalar string, zero past its end."""
    size = tf.cast(tf.strings.length(contents), tf.int64)

    def unsigned(offset, width: int):
        offset = tf.clip_by_value(tf.cast(offset, tf.int64), 0, size)  # substr past the end raises
        raw = tf.io.decode_raw(tf.strings.substr(contents, offset, width), tf.uint8)
        raw = tf.pad(raw, [[0, width - tf.shape(raw)[0]]])
        weights = tf.constant([256**index for index in range(width)], tf.int64)
        return tf.reduce_sum(tf.cast(raw, tf.int64) * weights)

    def text(offset, width: int):
        offset = tf.clip_by_value(tf.cast(offset, tf.int64), 0, size)
        return tf.strings.substr(contents, offset, width)

    return size, unsigned, text


def parse_wav(contents) -> dict[str, tf.Tensor]:
    """Header fields of WAV bytes (a scalar string tensor); never raises.

    Returns a dict of scalars: `error` (string, b"" when the file is usable),
    `sample_rate`, `channels`, `bits`, `format` (1 PCM, 3 float), `frames`
    (whole frames present, int64), `data_offset`, `frame_bytes` and
    `truncated` (bool: the header promises more data than the file holds).
    """
    contents = tf.convert_to_tensor(contents, tf.string)
    size, unsigned, text = _byte_reader(contents)
    is_riff = tf.logical_and(tf.equal(text(0, 4), "RIFF"), tf.equal(text(8, 4), "WAVE"))

    def walk(offset, count, fmt_offset, fmt_size, data_offset, data_size):
        chunk, chunk_size = text(offset, 4), unsigned(offset + 4, 4)
        is_fmt = tf.logical_and(tf.equal(chunk, "fmt "), fmt_offset < 0)
        is_data = tf.logical_and(tf.equal(chunk, "data"), data_offset < 0)
        fmt_offset = tf.where(is_fmt, offset + 8, fmt_offset)
        fmt_size = tf.where(is_fmt, chunk_size, fmt_size)
        data_offset = tf.where(is_data, offset + 8, data_offset)
        data_size = tf.where(is_data, chunk_size, data_size)
        return offset + 8 + chunk_size + chunk_size % 2, count + 1, fmt_offset, fmt_size, data_offset, data_size

    def more(offset, count, fmt_offset, fmt_size, data_offset, data_size):
        return tf.logical_and(
            tf.logical_and(is_riff, offset + 8 <= size),
            tf.logical_and(count < MAX_CHUNKS, tf.logical_or(fmt_offset < 0, data_offset < 0)),
        )

    minus_one, zero = tf.constant(-1, tf.int64), tf.constant(0, tf.int64)
    _, _, fmt_offset, fmt_size, data_offset, data_size = tf.while_loop(
        more, walk, (tf.constant(12, tf.int64), tf.constant(0), minus_one, zero, minus_one, zero)
    )
    tag = unsigned(fmt_offset, 2)
    tag = tf.where(tf.logical_and(tf.equal(tag, _EXTENSIBLE), fmt_size >= 26), unsigned(fmt_offset + 24, 2), tag)
    channels = unsigned(fmt_offset + 2, 2)
    sample_rate = unsigned(fmt_offset + 4, 4)
    bits = unsigned(fmt_offset + 14, 2)
    frame_bytes = channels * ((bits + 7) // 8)
    available = tf.maximum(size - tf.maximum(data_offset, 0), 0)
    # 0xFFFFFFFF (and anything past the end) means "to the end of the file", as streaming writers leave it.
    truncated = tf.logical_and(data_size > available, data_size != 0xFFFFFFFF)
    data_bytes = tf.minimum(data_size, available)
    frames = tf.where(frame_bytes > 0, data_bytes // tf.maximum(frame_bytes, 1), 0)
    supported = tf.constant([False])
    for known_tag, known_bits in _ENCODINGS:
        supported = tf.logical_or(supported, tf.logical_and(tf.equal(tag, known_tag), tf.equal(bits, known_bits)))
    supported = tf.reshape(supported, [])

    def field(name, value):
        return tf.strings.join([name, tf.strings.as_string(value)])

    checks = [
        (tf.equal(size, 0), tf.constant("empty file (0 bytes)")),
        (tf.logical_not(is_riff), tf.constant("not a WAV file (no RIFF/WAVE header)")),
        (fmt_offset < 0, tf.constant("WAV file without a 'fmt ' chunk")),
        (fmt_size < 16, tf.constant("WAV 'fmt ' chunk too short")),
        (fmt_offset + 16 > size, tf.constant("corrupt WAV: the 'fmt ' chunk runs past the end of the file")),
        (tf.logical_not(supported), tf.strings.join([
            "unsupported WAV encoding (", field("format ", tag), ", ", field("", bits),
            " bits); use PCM 8/16/24/32-bit or float 32/64-bit"])),
        (tf.logical_or(channels < 1, channels > _MAX_CHANNELS), field("bad channel count ", channels)),
        (tf.logical_or(sample_rate < 1000, sample_rate > 1_000_000), field("bad sample rate ", sample_rate)),
        (data_offset < 0, tf.constant("WAV file without a 'data' chunk")),
        (frames < 1, tf.constant("no audio samples (the data chunk is empty)")),
    ]
    error = tf.constant("")
    for failed, message in reversed(checks):  # the first failing check wins
        error = tf.where(failed, message, error)
    ok = tf.equal(error, "")
    return {
        "error": error,
        "sample_rate": tf.cast(tf.where(ok, sample_rate, 0), tf.int32),
        "channels": tf.cast(tf.where(ok, channels, 0), tf.int32),
        "bits": tf.cast(tf.where(ok, bits, 0), tf.int32),
        "format": tf.cast(tf.where(ok, tag, 0), tf.int32),
        "frames": tf.where(ok, frames, 0),
        "data_offset": tf.maximum(data_offset, 0),
        "frame_bytes": tf.where(ok, frame_bytes, 0),
        "truncated": tf.logical_and(ok, truncated),
    }


def _decode_branches(raw) -> list[Callable[[], tf.Tensor]]:
    """One decoder per entry of _ENCODINGS, each giving float32 samples in [-1, 1]."""

    def pcm8():
        return (tf.cast(tf.io.decode_raw(raw, tf.uint8), tf.float32) - 128.0) / 128.0

    def pcm16():
        return tf.cast(tf.io.decode_raw(raw, tf.int16, little_endian=True), tf.float32) / 32768.0

    def pcm24():
        triples = tf.reshape(tf.cast(tf.io.decode_raw(raw, tf.uint8), tf.int32), [-1, 3])
        value = triples[:, 0] + triples[:, 1] * 256 + triples[:, 2] * 65536
        value = tf.where(value >= 2**23, value - 2**24, value)
        return tf.cast(value, tf.float32) / float(2**23)

    def pcm32():
        return tf.cast(tf.io.decode_raw(raw, tf.int32, little_endian=True), tf.float32) / float(2**31)

    def float32():
        return tf.io.decode_raw(raw, tf.float32, little_endian=True)

    def float64():
        return tf.cast(tf.io.decode_raw(raw, tf.float64, little_endian=True), tf.float32)

    return [pcm8, pcm16, pcm24, pcm32, float32, float64]


def decode_wav(contents, info: dict | None = None) -> tf.Tensor:
    """float32 [frames, channels] samples of WAV bytes; [0, 1] when `parse_wav` reports an error.

    Float files are clipped to [-1, 1] and NaN or infinite samples become 0.
    """
    contents = tf.convert_to_tensor(contents, tf.string)
    info = parse_wav(contents) if info is None else info
    ok = tf.equal(info["error"], "")
    length = tf.where(ok, info["frames"] * info["frame_bytes"], 0)
    raw = tf.strings.substr(contents, tf.where(ok, info["data_offset"], 0), length)
    branch = tf.constant(1)  # an empty int16 decode for unusable files
    for (tag, bits), index in _ENCODINGS.items():
        branch = tf.where(tf.logical_and(tf.equal(info["format"], tag), tf.equal(info["bits"], bits)), index, branch)
    flat = tf.switch_case(branch, _decode_branches(raw))
    flat = tf.where(tf.math.is_finite(flat), flat, 0.0)
    flat = tf.clip_by_value(flat, -1.0, 1.0)
    return tf.reshape(flat, [-1, tf.maximum(info["channels"], 1)])


# -- shaping a clip ---------------------------------------------------------


def to_mono(samples) -> tf.Tensor:
    """[frames, channels] -> [frames]: the mean of the channels."""
    return tf.reduce_mean(samples, axis=1)


def crop(waveform, length, mode: str = "loudest", sample_rate=None) -> tf.Tensor:
    """At most `length` samples of a 1-D waveform: its loudest window, start or centre.

    `loudest` slides the window in 10 ms hops (of `sample_rate`, default
    100 hops a second of `length`) and keeps the one with the most energy;
    when many hold the same energy (a short sound in silence) the middle one,
    which centres the sound. A waveform of `length` samples or fewer is
    returned as it is.
    """
    if mode not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, not {mode!r}")
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    total = tf.shape(waveform)[0]
    length = tf.cast(length, tf.int32)
    spare = tf.maximum(total - length, 0)
    if mode == "start":
        start = tf.constant(0)
    elif mode == "center":
        start = spare // 2
    else:
        hop = tf.maximum(tf.cast(sample_rate, tf.int32) // 100, 1) if sample_rate is not None else tf.maximum(length // 100, 1)
        hops = total // hop
        energy = tf.reduce_sum(tf.reshape(tf.square(waveform[: hops * hop]), [hops, hop]), axis=1)
        window = tf.maximum(length // hop, 1)
        running = tf.concat([[0.0], tf.cumsum(tf.cast(energy, tf.float64))], axis=0)
        sums = tf.concat([running[window:] - running[:-window], [-1.0]], axis=0)  # [-1.0] keeps argmax defined
        # A sound shorter than the window fits many windows equally well: take the middle one, so it is centred.
        near_best = sums >= tf.reduce_max(sums) * (1.0 - 1e-6)
        first = tf.argmax(tf.cast(near_best, tf.int32))
        last = tf.cast(tf.shape(sums)[0], tf.int64) - 1 - tf.argmax(tf.cast(tf.reverse(near_best, [0]), tf.int32))
        start = tf.minimum(tf.cast((first + last) // 2, tf.int32) * hop, spare)
    start = tf.where(total > length, start, 0)
    return waveform[start: start + length]


def resample(waveform, rate_in, rate_out) -> tf.Tensor:
    """Band-limited resampling of a 1-D waveform from `rate_in` to `rate_out` Hz (FFT based).

    The output has `round(frames * rate_out / rate_in)` samples. Going down,
    every frequency above the new Nyquist limit is removed (no aliasing);
    going up, nothing new is invented.
    """
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    rate_in, rate_out = tf.cast(rate_in, tf.int64), tf.cast(rate_out, tf.int64)
    frames = tf.cast(tf.shape(waveform)[0], tf.int64)
    target = (frames * rate_out + rate_in // 2) // tf.maximum(rate_in, 1)

    def change():
        spectrum = tf.signal.rfft(waveform, fft_length=tf.reshape(tf.cast(frames, tf.int32), [1]))
        bins = tf.cast(target // 2 + 1, tf.int32)
        kept = spectrum[: tf.minimum(bins, tf.shape(spectrum)[0])]
        kept = tf.pad(kept, [[0, bins - tf.shape(kept)[0]]])
        out = tf.signal.irfft(kept, fft_length=tf.reshape(tf.cast(target, tf.int32), [1]))
        return out * tf.cast(target, tf.float32) / tf.cast(frames, tf.float32)

    same = tf.logical_or(tf.equal(rate_in, rate_out), tf.logical_or(frames < 2, target < 2))
    return tf.cond(same, lambda: waveform, change)


def fix_length(waveform, length) -> tf.Tensor:
    """Cut a 1-D waveform to `length` samples or pad it with zeros at the end."""
    waveform = tf.convert_to_tensor(waveform, tf.float32)[:length]
    out = tf.pad(waveform, [[0, length - tf.shape(waveform)[0]]])
    return tf.ensure_shape(out, [length]) if isinstance(length, int) else out


def decode_clip(contents, sample_rate: int, clip_samples: int, crop_mode: str = "loudest") -> dict[str, tf.Tensor]:
    """WAV bytes -> the model's input: mono, `sample_rate` Hz, exactly `clip_samples` long.

    Returns `waveform` float32 [clip_samples] (zeros when the file is
    unusable), `error` (b"" when usable), `sample_rate` and `channels` of the
    file, and `duration` (seconds of audio in the file). Never raises.
    """
    info = parse_wav(contents)
    samples = to_mono(decode_wav(contents, info))
    file_rate = tf.maximum(info["sample_rate"], 1)
    # Cut at the file's rate first, so a long file costs no more than a short one.
    span = tf.cast(tf.math.ceil(clip_samples * tf.cast(file_rate, tf.float64) / sample_rate), tf.int32)
    samples = crop(samples, span, crop_mode, sample_rate=file_rate)
    samples = resample(samples, file_rate, sample_rate)
    ok = tf.equal(info["error"], "")
    waveform = tf.where(ok, fix_length(samples, clip_samples), tf.zeros([clip_samples]))
    return {
        "waveform": waveform,
        "error": info["error"],
        "sample_rate": info["sample_rate"],
        "channels": info["channels"],
        "duration": tf.cast(info["frames"], tf.float32) / tf.cast(file_rate, tf.float32),
    }


def prepare_waveform(waveform, clip_samples: int, crop_mode: str = "loudest", sample_rate=None) -> tf.Tensor:
    """A 1-D float waveform already at the model's rate -> exactly `clip_samples` (crop, then pad)."""
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    waveform = tf.where(tf.math.is_finite(waveform), waveform, 0.0)
    return fix_length(crop(waveform, clip_samples, crop_mode, sample_rate=sample_rate), clip_samples)


# -- augmentation -----------------------------------------------------------


def time_shift(waveform, max_shift: int, seed) -> tf.Tensor:
    """Shift a 1-D waveform by up to `max_shift` samples either way, filling with silence.

    `seed` is a stateless seed, shape [2] int.
    """
    if max_shift <= 0:
        return waveform
    length = tf.shape(waveform)[0]
    shift = tf.random.stateless_uniform([], seed, -max_shift, max_shift + 1, dtype=tf.int32)
    padded = tf.pad(waveform, [[max_shift, max_shift]])
    return padded[max_shift - shift: max_shift - shift + length]


def change_speed(waveform, max_change: float, seed) -> tf.Tensor:
    """Play a 1-D waveform up to `max_change` (0.1: 10%) faster or slower, keeping its length.

    Speed and pitch move together, as in speed perturbation for speech
    recognition (Ko et al. 2015): a cheap stand-in for other voices. The
    result is cut or padded with silence at the end.
    """
    if max_change <= 0:
        return waveform
    length = tf.shape(waveform)[0]
    factor = tf.random.stateless_uniform([], seed, 1.0 - max_change, 1.0 + max_change)
    # Read the samples as if recorded at 1000 * factor Hz and bring them to 1000 Hz.
    changed = resample(waveform, tf.cast(tf.round(1000.0 * factor), tf.int32), 1000)
    return fix_length(changed, length)


def random_gain(waveform, max_db: float, seed) -> tf.Tensor:
    """Scale by a random gain of up to +-`max_db` decibels, clipped to [-1, 1]."""
    if max_db <= 0:
        return waveform
    decibels = tf.random.stateless_uniform([], seed, -max_db, max_db)
    return tf.clip_by_value(waveform * tf.pow(10.0, decibels / 20.0), -1.0, 1.0)


def add_background_noise(waveform, noise, probability: float, max_volume: float, seed) -> tf.Tensor:
    """With `probability`, add a random window of `noise` (1-D, at least as long) at a random volume.

    The volume is uniform in [0, max_volume] times the noise as recorded; this
    is Speech Commands' own recipe (background_frequency, background_volume).
    """
    if noise is None or probability <= 0 or max_volume <= 0:
        return waveform
    noise = tf.convert_to_tensor(noise, tf.float32)
    seeds = tf.random.experimental.stateless_split(seed, 3)
    length = tf.shape(waveform)[0]
    start = tf.random.stateless_uniform([], seeds[0], 0, tf.shape(noise)[0] - length + 1, dtype=tf.int32)
    volume = tf.random.stateless_uniform([], seeds[1], 0.0, max_volume)
    use = tf.random.stateless_uniform([], seeds[2]) < probability
    noisy = tf.clip_by_value(waveform + volume * noise[start: start + length], -1.0, 1.0)
    return tf.where(use, noisy, waveform)


# -- files and WAV bytes (numpy side) ---------------------------------------


def encode_wav(samples, sample_rate: int, sample_format: str = "int16") -> bytes:
    """float samples in [-1, 1] ([frames] or [frames, channels]) -> WAV bytes.

    `sample_format` is `uint8`, `int16`, `int32` (PCM) or `float32`. Used to
    write the demo set and test fixtures.
    """
    samples = np.asarray(samples, np.float64)
    if samples.ndim == 1:
        samples = samples[:, None]
    channels = samples.shape[1]
    clipped = np.clip(samples, -1.0, 1.0)
    if sample_format == "float32":
        data = clipped.astype("<f4").tobytes()
        fmt = (3).to_bytes(2, "little") + channels.to_bytes(2, "little") + sample_rate.to_bytes(4, "little")
        fmt += (sample_rate * channels * 4).to_bytes(4, "little") + (channels * 4).to_bytes(2, "little") + (32).to_bytes(2, "little")
        body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" + len(data).to_bytes(4, "little") + data
        return b"RIFF" + len(body).to_bytes(4, "little") + body
    widths = {"uint8": 1, "int16": 2, "int32": 4}
    if sample_format not in widths:
        raise ValueError(f"sample_format must be uint8, int16, int32 or float32, not {sample_format!r}")
    width = widths[sample_format]
    if width == 1:
        data = np.round(clipped * 127.0 + 128.0).astype(np.uint8).tobytes()
    else:
        scale = 2 ** (8 * width - 1) - 1
        data = np.round(clipped * scale).astype(f"<i{width}").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(int(sample_rate))
        writer.writeframes(data)
    return buffer.getvalue()


class ClipDecoder:
    """Decode WAV files or bytes eagerly to model inputs, with errors that name the file.

        decoder = ClipDecoder(16000, 16000)
        waveform, info = decoder.file("yes.wav")    # ValueError("yes.wav: not a WAV file ...") when unusable
    """

    def __init__(self, sample_rate: int, clip_samples: int, crop_mode: str = "loudest"):
        self.sample_rate, self.clip_samples, self.crop_mode = int(sample_rate), int(clip_samples), crop_mode
        self._decode = tf.function(
            lambda contents: decode_clip(contents, self.sample_rate, self.clip_samples, self.crop_mode),
            input_signature=[tf.TensorSpec([], tf.string)],
        )

    def bytes(self, contents: bytes, name: str = "audio") -> tuple[np.ndarray, dict]:
        out = {key: value.numpy() for key, value in self._decode(tf.constant(contents)).items()}
        error = out.pop("error").decode("utf-8")
        if error:
            raise ValueError(f"{name}: {error}")
        info = {"sample_rate": int(out["sample_rate"]), "channels": int(out["channels"]), "duration": float(out["duration"])}
        return out["waveform"], info

    def file(self, path: str | Path) -> tuple[np.ndarray, dict]:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return self.bytes(path.read_bytes(), str(path))


def seconds_to_samples(seconds: float, sample_rate: int) -> int:
    return int(math.ceil(seconds * sample_rate - 1e-9))
