"""Serving and mobile exports of the tiny run: raw text in, verified TFLite, quantization report."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_python

LONG_REVIEW = " ".join(["superb"] * 50_000 + ["boring"] * 50_000)  # 100,000 words


def test_export_layout_meta_and_verification(tiny_export):
    version = Path(tiny_export["saved_model"])
    assert version.name == "1" and (version / "saved_model.pb").is_file()
    assert json.loads((version / "assets.extra" / "rnnkit_config.json").read_text())["app"] == "sentiment"
    vocabulary = (version / "sentiment_vocab.txt").read_text(encoding="utf-8").split("\n")
    assert vocabulary[:2] == ["", "[UNK]"] and "superb" in vocabulary
    meta = json.loads((version / "sentiment_tflite.json").read_text())
    check = meta["verification"]
    assert check["cases"] >= 20 and check["max_abs_diff"] <= 1e-4
    assert "WHILE" in check["ops"] and not [op for op in check["ops"] if op.startswith("Flex") or op == "CUSTOM"]
    assert meta["tokenizer"]["max_length"] == 60 and meta["tokenizer"]["truncate"] == "head_tail"


def test_quantized_variants_report_their_accuracy_change(tiny_export):
    version = Path(tiny_export["saved_model"])
    report = json.loads((version / "sentiment_tflite.json").read_text())["quantization"]
    assert report["float32"]["reviews"] == 40 and report["float32"]["max_abs_diff_vs_keras"] < 1e-4
    assert report["float32"]["accuracy"] == pytest.approx(report["keras_accuracy"], abs=1 / 40)
    for kind in ("float16", "int8"):
        row = report[kind]
        assert (version / row["file"]).is_file() and row["size_bytes"] > 0
        assert row["accuracy_change"] == pytest.approx(row["accuracy"] - report["float32"]["accuracy"])
        assert row["max_abs_diff_vs_keras"] < 0.2
    assert report["float16"]["max_abs_diff_vs_keras"] < 5e-3


def test_saved_model_cli_runs_raw_text_in_a_fresh_process(tiny_export):
    result = run_python(
        "-m", "tensorflow.python.tools.saved_model_cli", "run", "--dir", tiny_export["saved_model"],
        "--tag_set", "serve", "--signature_def", "serving_default",
        "--input_exprs", "text=['A superb, charming film!', 'Dull and boring.', '', '   ']", timeout=240,
    )
    out = result.stdout
    for key in ("probability", "label", "label_id"):
        assert f"Result for output key {key}" in out
    labels = out.split("Result for output key label:")[1].split("Result for output key")[0]
    assert labels.count("b'positive'") + labels.count("b'negative'") == 4, out


def test_serving_signatures_take_empty_invalid_and_huge_reviews(tiny_export):
    import tensorflow as tf

    loaded = tf.saved_model.load(tiny_export["saved_model"])
    texts = tf.constant([b"", b"   ", b"superb \xff\xfe film", LONG_REVIEW.encode()])
    served = {key: value.numpy() for key, value in loaded.signatures["serving_default"](text=texts).items()}
    assert served["probability"].shape == (4,) and np.isfinite(served["probability"]).all()
    assert served["probability"][0] == served["probability"][1]
    explained = loaded.signatures["explain"](text=texts)
    tokens = explained["tokens"].numpy()
    assert tokens.shape[1] == 60  # the 100,000-word review is cut to max_length
    kept = [token.decode() for token in tokens[3]]
    assert kept[:15] == ["superb"] * 15 and kept[15:] == ["boring"] * 45  # head_tail: a quarter from the start
    assert [token.decode() for token in tokens[2] if token] == ["superb", "film"]
    attention = explained["attention"].numpy()
    np.testing.assert_allclose(attention.sum(axis=1), [0, 0, 1, 1], atol=1e-5)


def test_tflite_matches_the_keras_model_on_reviews_of_every_length(tiny_run, tiny_export):
    from apps.sentiment.data import Tokenizer, demo_reviews
    from apps.sentiment.model import load_run, predict_probabilities
    from rnnkit.export import tflite

    model, vocabulary, config, _ = load_run(tiny_run[0])
    tokenizer = Tokenizer(vocabulary, config.max_length, config.truncate)
    texts = demo_reviews(12, seed=9).texts + ["superb", LONG_REVIEW]
    rows = [tokenizer(text) for text in texts]
    assert len(rows[-1]) == 60 and len(rows[-2]) == 1
    runner = tflite.signature_runner(Path(tiny_export["tflite"]), "serve")
    lite = np.array([runner(ids=row[None, :])["probability"][0] for row in rows])
    np.testing.assert_allclose(lite, predict_probabilities(model, rows), atol=1e-5)


def test_predict_agrees_across_run_export_and_tflite(tiny_run, tiny_export, capsys):
    from rnnkit.cli import main as rnnkit_main

    reviews = ["A superb, charming film!", "Dull and boring.", ""]
    outputs = []
    for model in (tiny_run[0], tiny_export["saved_model"], tiny_export["tflite"]):
        assert rnnkit_main(["sentiment", "predict", "--model", str(model), "--json", "--explain", *reviews]) == 0
        outputs.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    for other in outputs[1:]:
        assert [row["label"] for row in other] == [row["label"] for row in outputs[0]]
        np.testing.assert_allclose([row["probability"] for row in other], [row["probability"] for row in outputs[0]],
                                   atol=1e-5)
        assert [[word for word, _ in row["top_words"]] for row in other] == \
            [[word for word, _ in row["top_words"]] for row in outputs[0]]


def test_simple_rnn_cell_trains_reloads_and_exports_builtin_tflite(acl_archive, tmp_path):
    """Issue 16: the Elman SimpleRNN is a cell choice next to LSTM and GRU, end to end."""
    from apps.sentiment.export import export
    from apps.sentiment.model import load_run
    from tests.apps.sentiment.conftest import TINY, run_cli

    run = tmp_path / "simple"
    code, output = run_cli(["sentiment", "train", "--data", str(acl_archive), "--out", str(run), "--epochs", "1",
                            *TINY, "--set", "cell=simple", "--set", "max_examples=120"])
    assert code == 0 and "BiSIMPLE-8" in output, output
    model, _, config, _ = load_run(run)
    assert config.cell == "simple"
    assert {type(layer.forward_layer).__name__ for layer in model.layers if hasattr(layer, "forward_layer")} == \
        {"SimpleRNN"}
    written = export(run, tmp_path / "saved_models", verify_reviews=12)
    meta = json.loads((Path(written["saved_model"]) / "sentiment_tflite.json").read_text())
    ops = meta["verification"]["ops"]
    assert meta["verification"]["max_abs_diff"] <= 1e-4 and "WHILE" in ops
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
