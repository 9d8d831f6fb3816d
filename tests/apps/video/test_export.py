"""Serving and TFLite exports of a tiny run: signatures, saved_model_cli in a fresh process, builtin-only TFLite."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main as rnnkit_main
from tests.conftest import python_env


def gif_bytes(frames: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buffer.getvalue()


def test_export_writes_a_verified_builtin_only_tflite(tiny_export):
    version = Path(tiny_export["saved_model"])
    meta = json.loads((version / "video_tflite.json").read_text())
    check = meta["verification"]
    assert check["cases"] == 4 and check["max_abs_diff"] <= 1e-4
    assert not [op for op in check["ops"] if op.startswith("Flex") or op == "CUSTOM"]
    assert "WHILE" not in check["ops"]  # the RNN is unrolled over the fixed frame count: a flat graph
    assert meta["inputs"] == {"frames": [1, 6, 32, 32, 3], "lengths": [1]}
    assert json.loads((version / "assets.extra" / "classes.json").read_text()) == meta["classes"]


def test_serving_signatures_agree_with_the_run(tiny_run, tiny_export):
    import tensorflow as tf

    from apps.video.data import render_clip
    from apps.video.model import load_run
    from rnnkit.data.video import fit_frames, sample_frames

    classifier = load_run(tiny_run)
    loaded = tf.saved_model.load(tiny_export["saved_model"])
    clip = render_clip(np.random.default_rng(2), "MoveUp", {"background": (30.0, 30.0, 90.0),
                                                            "colour": (240.0, 240.0, 80.0)}, 4)
    encoded = gif_bytes(clip)
    gif = loaded.signatures["classify_gif"](video=tf.constant([encoded, b"no video here"]))
    assert gif["error"].numpy().tolist()[0] == b"" and b"not an animated GIF" in gif["error"].numpy()[1]
    assert gif["top_classes"].numpy()[1].tolist() == [b""] * 5
    decoded, length = sample_frames(tf.io.decode_gif(encoded), 6)
    assert int(length) == 4  # shorter than the 6 frames: padded and masked
    frames = fit_frames(decoded, 32).numpy()[None]
    served = loaded.signatures["serving_default"](frames=tf.constant(frames), lengths=tf.constant([4]))
    expected = classifier.predict(frames, [4])
    np.testing.assert_allclose(served["probabilities"].numpy(), expected["probabilities"], atol=1e-5)
    np.testing.assert_allclose(gif["probabilities"].numpy()[:1], expected["probabilities"], atol=1e-5)
    best = classifier.classes[int(expected["probabilities"].argmax())]
    assert served["top_classes"].numpy()[0, 0].decode() == best


@pytest.mark.slow
def test_saved_model_cli_runs_it_in_a_fresh_process(tiny_export, tmp_path):
    frames = np.random.default_rng(0).uniform(0, 255, (2, 6, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / "frames.npy", frames)
    cli = str(Path(sys.executable).with_name("saved_model_cli"))
    result = subprocess.run([cli, "run", "--dir", tiny_export["saved_model"], "--tag_set", "serve",
                             "--signature_def", "serving_default", "--inputs", f"frames={tmp_path / 'frames.npy'}",
                             "--input_exprs", "lengths=[6,2]"], capture_output=True, text=True, timeout=300,
                            env=python_env())
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Result for output key top_classes" in result.stdout and "Result for output key attention" in result.stdout


def test_predict_from_the_export_and_the_tflite_model_match_the_run(tiny_run, tiny_export, tiny_demo, capsys):
    clip = str(next((tiny_demo / "UCF-101" / "MoveLeft").glob("*.mp4")))
    results = []
    for model in (str(tiny_run), tiny_export["saved_model"], tiny_export["tflite"]):
        assert rnnkit_main(["video", "predict", "--model", model, clip, "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    classes = [[item["class"] for item in row["top"]] for row in results]
    assert classes[0] == classes[1] == classes[2]
    scores = np.array([[item["probability"] for item in row["top"]] for row in results])
    assert np.abs(scores - scores[0]).max() <= 1e-4
