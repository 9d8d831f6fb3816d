"""Streaming keyword spotting: the recognizer's smoothing rules, the stream command on any WAV, false-accept rates."""

import json
from pathlib import Path

import numpy as np
import pytest

from apps.speech.stream import RecognizeCommands, detect
from rnnkit.cli import main as rnnkit_main
from tests.apps.speech.conftest import word_clip, write_wav

LABELS = ["_silence_", "_unknown_", "yes", "no"]


def posteriors(pattern, packets_each=25):
    """One-hot-ish posteriors: each (label, packets) in `pattern` held for that many 20 ms packets."""
    rows = []
    for label, count in pattern:
        row = np.full(len(LABELS), 0.02)
        row[LABELS.index(label)] = 1.0 - 0.02 * (len(LABELS) - 1)
        rows += [row] * count
    return np.array(rows)


def test_recognizer_smooths_thresholds_and_suppresses_like_recognize_commands():
    # yes for 0.5 s, silence, yes again: two detections (silence clears the last word).
    found = detect(posteriors([("_silence_", 50), ("yes", 25), ("_silence_", 50), ("yes", 25), ("_silence_", 25)]),
                   LABELS, 20.0, window_ms=500, threshold=0.7, suppression_ms=1000, minimum_count=3)
    assert [item["label"] for item in found] == ["yes", "yes"]
    assert 1.0 < found[0]["time"] < 1.5 and 2.5 < found[1]["time"] < 3.0  # the words start at 1.0 and 2.5 s
    # The same word held on is one detection; a change within the refractory period is suppressed.
    found = detect(posteriors([("yes", 100), ("no", 10), ("_silence_", 30)]), LABELS, 20.0, window_ms=100,
                   threshold=0.7, suppression_ms=3000, minimum_count=3)
    assert [item["label"] for item in found] == ["yes"]
    # A blip too short for the averaging window stays below the threshold; _unknown_ is never a keyword.
    found = detect(posteriors([("_silence_", 50), ("no", 5), ("_silence_", 50), ("_unknown_", 50)]), LABELS, 20.0,
                   window_ms=500, threshold=0.7, suppression_ms=0, minimum_count=3)
    assert found == []
    recognizer = RecognizeCommands(LABELS, window_ms=500, minimum_count=3)
    assert recognizer.process(posteriors([("yes", 1)])[0], 20.0) == ("_silence_", 0.0, False)  # too few results yet
    with pytest.raises(ValueError, match="before the previous result"):
        recognizer.process(posteriors([("yes", 1)])[0], 10.0)
    with pytest.raises(ValueError, match="--threshold in"):
        RecognizeCommands(LABELS, threshold=1.5)


def test_false_accepts_count_keywords_taken_on_unknown_and_silence():
    from apps.speech.evaluate import false_accepts

    true = np.array([0, 0, 0, 0, 1, 1, 2, 3])
    predicted = np.array([0, 2, 2, 1, 3, 1, 2, 3])
    rates = false_accepts(true, predicted, LABELS)
    assert rates["_silence_"] == {"clips": 4, "any": 0.5, "yes": 0.5, "no": 0.0}
    assert rates["_unknown_"] == {"clips": 2, "any": 0.5, "yes": 0.0, "no": 0.5}


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Three words with quiet noise between them, at 44.1 kHz in stereo, plus a short, an empty and a corrupt file."""
    root = tmp_path_factory.mktemp("recordings")
    rng = np.random.default_rng(3)
    rate = 44100
    pieces = [rng.normal(scale=0.005, size=rate)]
    for index, word in enumerate(("rising", "steady", "hiss")):
        pieces += [word_clip(word, rate, 500 + index, seconds=0.5), rng.normal(scale=0.005, size=int(1.5 * rate))]
    samples = np.concatenate(pieces)
    files = {"long": write_wav(root / "long.wav", np.stack([samples, 0.8 * samples], axis=1), rate),
             "short": write_wav(root / "short.wav", word_clip("rising", 8000, 9, seconds=0.3), 8000)}
    (root / "empty.wav").write_bytes(b"")
    (root / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x07" * 7)
    files.update(empty=root / "empty.wav", corrupt=root / "corrupt.wav")
    return files, samples.size / rate


def stream_json(capsys, *arguments):
    assert rnnkit_main(["speech", "stream", *arguments, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    return lines[:-1], lines[-1]


def test_stream_command_detects_with_times_through_tflite_export_and_run(tiny_export, tiny_run, recording, capsys):
    files, seconds = recording
    found, summary = stream_json(capsys, "--model", tiny_export["saved_model"], str(files["long"]), "--threshold", "0",
                                 "--suppression-ms", "500")
    assert summary["packets"] == int(np.ceil(seconds * 16000 / 320)) and summary["sample_rate"] == 44100
    assert summary["detections"] == len(found) >= 1 and summary["threshold"] == 0.0
    times = [item["time"] for item in found]
    assert times == sorted(times) and 0 < times[0] and times[-1] <= seconds + 0.02
    assert all(later - earlier > 0.5 for earlier, later in zip(times, times[1:], strict=False))
    assert {item["label"] for item in found} <= {"hiss", "rising", "steady"}
    # The .tflite file itself, and the run folder (the same step in Keras), find the same words at the same times.
    tflite_found, _ = stream_json(capsys, "--model", tiny_export["tflite_stream"], str(files["long"]), "--threshold", "0",
                                  "--suppression-ms", "500")
    keras_found, _ = stream_json(capsys, "--model", str(tiny_run), str(files["long"]), "--threshold", "0", "--suppression-ms", "500")
    assert tflite_found == found
    assert [(item["time"], item["label"]) for item in keras_found] == [(item["time"], item["label"]) for item in found]


def test_stream_command_handles_short_files_and_refuses_bad_ones_with_the_reason(tiny_export, recording, capsys):
    files, _ = recording
    code = rnnkit_main(["speech", "stream", "--model", tiny_export["saved_model"], str(files["short"])])
    out = capsys.readouterr().out
    assert code == 0 and "0.30 s recording: padded with silence to 0.5 s" in out and "25 packets of 20 ms" in out
    for name, reason in (("empty", "empty file (0 bytes)"), ("corrupt", "corrupt WAV")):
        assert rnnkit_main(["speech", "stream", "--model", tiny_export["saved_model"], str(files[name])]) == 2
        assert f"{files[name]}: {reason}" in capsys.readouterr().err
    assert rnnkit_main(["speech", "stream", "--model", str(Path(tiny_export["saved_model"]) / "speech.tflite"), str(files["short"])]) == 2
    assert "not the streaming model; use" in capsys.readouterr().err


def test_stream_command_runs_staggered_streams_and_refuses_a_count_beyond_one_clip(tiny_export, recording, capsys):
    files, seconds = recording
    arguments = ["--model", tiny_export["saved_model"], str(files["long"]), "--threshold", "0", "--suppression-ms", "500"]
    found, summary = stream_json(capsys, *arguments, "--streams", "3")
    single, default = stream_json(capsys, *arguments, "--streams", "1")
    assert stream_json(capsys, *arguments)[1]["streams"] == 4 and default["streams"] == 1
    assert summary["streams"] == 3 and summary["packets"] == int(np.ceil(seconds * 16000 / 320))
    assert summary["detections"] == len(found) >= 1
    assert [item["score"] for item in found] != [item["score"] for item in single]  # the resets change what it hears
    assert rnnkit_main(["speech", "stream", *arguments, "--streams", "26"]) == 2  # the tiny model's clip is 25 packets
    assert "--streams must be between 1 and 25" in capsys.readouterr().err
