"""Fixtures for the speech tests: a small folder of WAV files with bad ones among them, a tiny run, its export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# Small enough to train in seconds: 0.5 s clips, 16 mel bins, one conv block, 8 RNN units (25 steps of 20 ms).
TINY = ["--set", "clip_seconds=0.5", "--set", "fft_length=256", "--set", "window_ms=16", "--set", "hop_ms=10",
        "--set", "mel_bins=16", "--set", "conv_blocks=1", "--set", "conv_filters=4", "--set", "units=8",
        "--set", "batch_size=8", "--set", "val_fraction=0.2", "--set", "test_fraction=0.2",
        "--set", "learning_rate=0.01"]
WORDS = ("hiss", "rising", "steady")
RATES = (8000, 16000, 44100)


def write_wav(path: Path, samples, rate: int, sample_format: str = "int16") -> Path:
    from rnnkit.data.audio import encode_wav

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_wav(samples, rate, sample_format))
    return path


def word_clip(word: str, rate: int, seed: int, seconds: float = 0.5) -> np.ndarray:
    from apps.speech.data import _demo_sound

    rng = np.random.default_rng(seed)
    clip = rng.normal(scale=0.005, size=int(seconds * rate))
    sound = _demo_sound(word, rng, rate)[: clip.size]
    clip[: sound.size] += 0.5 * sound
    return clip


def train_share_name(word: str, stem: str) -> str:
    """A file name whose hashed path puts it in the training split (test 20%, then val 20%, then train)."""
    from apps.speech.data import _fraction

    index = 0
    while _fraction(f"{word}/{stem}_{index}.wav") < 0.4:
        index += 1
    return f"{stem}_{index}.wav"


def make_wav_folder(root: Path, per_class: int = 8) -> dict[str, Path]:
    """One folder per word at 8 / 16 / 44.1 kHz, one stereo clip, one 30-second clip, a corrupt and an empty file."""
    for word_index, word in enumerate(WORDS):
        for index in range(per_class):
            rate = RATES[index % len(RATES)]
            write_wav(root / word / f"speaker{index % 4}_{index}.wav", word_clip(word, rate, 100 * word_index + index), rate)
    stereo_clip = word_clip("rising", 44100, 7)
    special = {
        "stereo": write_wav(root / "rising" / "stereo_0.wav", np.stack([stereo_clip, 0.5 * stereo_clip], 1), 44100),
        "long": write_wav(root / "steady" / "long_0.wav", np.concatenate([np.zeros(16000 * 20), word_clip("steady", 16000, 9),
                                                                         np.zeros(16000 * 9 + 8000)]), 16000),
        "float": write_wav(root / "hiss" / "float_0.wav", word_clip("hiss", 22050, 11), 22050, "float32"),
    }
    # The bad files get names that hash into the training split, so training meets them.
    corrupt = root / "steady" / train_share_name("steady", "corrupt")
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x07" * 7)
    empty = root / "hiss" / train_share_name("hiss", "empty")
    empty.write_bytes(b"")
    special["8k"] = root / "rising" / "speaker0_0.wav"  # index 0: the first of RATES
    return {**special, "corrupt": corrupt, "empty": empty}


@pytest.fixture(scope="session")
def wav_folder(session_tmp):
    root = session_tmp / "words"
    files = make_wav_folder(root)
    return root, files


@pytest.fixture(scope="session")
def tiny_run(session_tmp, wav_folder):
    from rnnkit.cli import main as rnnkit_main

    out = session_tmp / "speech-run"
    assert rnnkit_main(["speech", "train", "--data", str(wav_folder[0]), "--out", str(out), "--epochs", "2", *TINY]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_export(tiny_run, session_tmp):
    from apps.speech.export import export

    return export(tiny_run, session_tmp / "saved_models", check_count=8, calibration_count=8)
