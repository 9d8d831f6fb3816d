"""Serving and TFLite exports of a tiny speech run, and what they do with bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import run_python


@pytest.fixture(scope="module")
def served(tiny_export):
    return tf.saved_model.load(tiny_export["saved_model"])


def test_export_layout_and_tflite_record(tiny_export):
    version = Path(tiny_export["saved_model"])
    assert version.name == "1" and (version / "saved_model.pb").is_file()
    assert json.loads((version / "assets.extra" / "labels.json").read_text())["labels"] == ["hiss", "rising", "steady"]
    record = json.loads((version / "speech_tflite.json").read_text())
    assert record["inputs"] == {"waveform": [1, 8000]} and record["sample_rate"] == 16000
    for kind in ("float", "int8"):
        ops = record[kind]["ops"]
        assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"] and "RFFT2D" in ops
        assert (version / record[kind]["file"]).stat().st_size == record[kind]["bytes"]
    assert record["float"]["max_abs_diff"] <= record["float"]["atol"]
    assert "WHILE" in record["float"]["ops"] and "WHILE" not in record["int8"]["ops"]  # int8 is unrolled
    int8 = record["int8"]
    assert int8["accuracy_change"] == pytest.approx(int8["accuracy"] - record["keras"]["accuracy"])
    assert 0.0 <= int8["agreement_with_keras"] <= 1.0 and "QUANTIZE" in int8["ops"]


def test_serving_signature_takes_wav_bytes_and_answers_bad_ones_per_clip(served, tiny_run, wav_folder):
    from apps.speech.model import load_run
    from rnnkit.data.audio import ClipDecoder

    _, files = wav_folder
    names = ["8k", "stereo", "long", "float", "corrupt", "empty"]
    out = served.signatures["serving_default"](wav=tf.constant([files[name].read_bytes() for name in names]))
    errors = [error.decode() for error in out["error"].numpy()]
    assert errors[:4] == ["", "", "", ""] and "corrupt WAV" in errors[4] and errors[5] == "empty file (0 bytes)"
    assert out["sample_rate"].numpy().tolist()[:4] == [8000, 44100, 16000, 22050]
    assert out["duration"].numpy()[2] == pytest.approx(30.0)
    assert out["label"].numpy().tolist()[4:] == [b"", b""] and not out["probabilities"].numpy()[4:].any()
    model, labels, config = load_run(tiny_run)
    decoder = ClipDecoder(config.sample_rate, config.clip_samples, config.crop)
    waveforms = np.stack([decoder.file(files[name])[0] for name in names[:4]])
    expected = np.asarray(model(waveforms))
    np.testing.assert_allclose(out["probabilities"].numpy()[:4], expected, atol=1e-5)
    assert [label.decode() for label in out["label"].numpy()[:4]] == [labels[i] for i in expected.argmax(1)]
    assert out["top_labels"].shape == (6, 3) and out["trace"].shape == (6, config.clip_samples // 320)

    # The waveform signature: any length, padded or cut; the same answer for the same samples.
    waveform = served.signatures["waveform"](waveform=tf.constant(waveforms))
    np.testing.assert_allclose(waveform["probabilities"].numpy(), expected, atol=1e-5)
    short = served.signatures["waveform"](waveform=tf.constant(waveforms[:, :5000]))
    assert short["probabilities"].shape == (4, 3)


def test_saved_model_cli_runs_both_signatures_in_a_fresh_process(tiny_export, wav_folder, tmp_path):
    _, files = wav_folder
    clips = tmp_path / "clips.npy"
    np.save(clips, np.array([files["stereo"].read_bytes(), b"not a wav"], dtype=object))
    base = ["-m", "tensorflow.python.tools.saved_model_cli", "run", "--dir", tiny_export["saved_model"], "--tag_set", "serve"]
    result = run_python(*base, "--signature_def", "serving_default", "--inputs", f"wav={clips}", timeout=240)
    assert "Result for output key label" in result.stdout and "Result for output key top_probabilities" in result.stdout
    assert "not a WAV file (no RIFF/WAVE header)" in result.stdout


def test_tflite_models_track_keras_and_predict_runs_them(tiny_export, tiny_run, wav_folder, capsys):
    from apps.speech.model import load_run
    from rnnkit.cli import main as rnnkit_main
    from rnnkit.data.audio import ClipDecoder
    from rnnkit.export import tflite

    _, files = wav_folder
    model, labels, config = load_run(tiny_run)
    decoder = ClipDecoder(config.sample_rate, config.clip_samples)
    waveforms = np.stack([decoder.file(files[name])[0] for name in ("stereo", "long", "float")])
    runner = tflite.signature_runner(Path(tiny_export["tflite"]), "serve")
    lite = np.concatenate([runner(waveform=clip[None])["probabilities"] for clip in waveforms])
    np.testing.assert_allclose(lite, np.asarray(model(waveforms)), atol=1e-4)

    for model_path in (tiny_export["tflite_int8"], tiny_export["saved_model"]):
        code = rnnkit_main(["speech", "predict", "--model", model_path, str(files["stereo"]), str(files["empty"])])
        captured = capsys.readouterr()
        assert code == 2 and captured.out.startswith(f"{files['stereo']}: ") and len(captured.out.split()) == 7
        assert "empty file (0 bytes)" in captured.err


def test_export_writes_a_verified_builtin_streaming_model(tiny_export):
    version = Path(tiny_export["saved_model"])
    stream = json.loads((version / "speech_tflite.json").read_text())["stream"]
    assert stream["file"] == "speech_stream.tflite" and (version / stream["file"]).stat().st_size == stream["bytes"]
    assert stream["packet_samples"] == 320 and stream["states"] == {"audio": [1, 96], "pcen": [1, 16], "conv_0": [1, 2, 16, 1],
                                                                "rnn_0_h": [1, 8]}  # the default recipe has PCEN
    assert not [op for op in stream["ops"] if op.startswith("Flex") or op == "CUSTOM"] and "WHILE" not in stream["ops"]
    assert stream["max_abs_diff"] <= stream["atol"] == 1e-4 and stream["checked_clips"] >= 1


def test_one_second_clip_streamed_through_tflite_ends_with_the_whole_clips_posteriors():
    """The default model (40 mel bands, 2 conv blocks, GRU-64), untrained with moved batch-norm statistics."""
    import keras

    from apps.speech.config import SpeechConfig
    from apps.speech.export import convert_stream_tflite, run_stream, stream_record
    from apps.speech.model import build_model
    from rnnkit.export import tflite
    from tests.apps.speech.test_model import randomize_statistics, speech_like

    config = SpeechConfig()
    keras.utils.set_random_seed(4)
    model = randomize_statistics(build_model(config, 12))
    clip = speech_like(config.clip_samples, seed=5)[0]
    assert clip.size == 16000
    runner = tflite.signature_runner(convert_stream_tflite(model), "serve")
    streamed = run_stream(runner, stream_record(model), clip)
    assert streamed.shape == (50, 12)
    whole = np.asarray(model(clip[None]))[0]
    np.testing.assert_allclose(streamed[-1], whole, atol=1e-4)
    assert np.abs(streamed[24] - whole).max() > 1e-4  # halfway through, the stream had heard less


def test_staggered_streams_answer_as_the_whole_model_on_the_last_second():
    """K copies of the stream, each reset every second at offsets of 1/K s: each answer has heard one clip's worth at most."""
    import keras

    from apps.speech.config import SpeechConfig
    from apps.speech.export import convert_stream_tflite, run_stream, stream_record
    from apps.speech.model import build_model
    from rnnkit.export import tflite
    from tests.apps.speech.test_model import randomize_statistics, speech_like

    config = SpeechConfig()
    keras.utils.set_random_seed(4)
    model = randomize_statistics(build_model(config, 12))
    recording = np.concatenate([speech_like(config.clip_samples, seed=seed)[0] for seed in (6, 7, 8)])
    runner = tflite.signature_runner(convert_stream_tflite(model), "serve")
    record, packet = stream_record(model), 320
    staggered = run_stream(runner, record, recording, streams=2, reset_packets=50)
    never_reset = run_stream(runner, record, recording)
    assert staggered.shape == never_reset.shape == (150, 12)
    for index in (74, 99, 124):  # the copy reset 50 packets earlier answers: the second ending at packet `index`
        window = recording[(index - 49) * packet:(index + 1) * packet]
        whole = np.asarray(model(window[None]))[0]
        np.testing.assert_allclose(staggered[index], whole, atol=1e-4)
    np.testing.assert_allclose(staggered[:50], never_reset[:50], atol=1e-6)  # nothing is reset in the first second
    assert np.abs(staggered[74] - never_reset[74]).max() > 1e-4  # the never-reset stream still hears the first clip
    with pytest.raises(ValueError, match="reset_packets"):
        run_stream(runner, record, recording, streams=2)
