"""Serving and mobile exports of a tiny textgen run."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_python


def test_export_layout_and_verification_record(tiny_export):
    version = Path(tiny_export["saved_model"])
    assert version.name == "1" and (version / "saved_model.pb").is_file()
    assert json.loads((version / "assets.extra" / "rnnkit_config.json").read_text())["app"] == "textgen"
    meta = json.loads((version / "textgen_step.json").read_text())
    assert meta["verification"]["cases"] == 200 and meta["verification"]["max_abs_diff"] <= 1e-4
    assert not [op for op in meta["verification"]["ops"] if op.startswith("Flex") or op == "CUSTOM"]


def test_tflite_step_model_tracks_keras_for_200_steps(tiny_run, tiny_export):
    """An independent re-check: both carry their own state over 200 characters of real text."""
    from apps.textgen.model import Generator, load_run_model, state_names, zero_states
    from rnnkit.export import tflite

    model, vocabulary, _ = load_run_model(tiny_run)
    generator = Generator(model, vocabulary)
    runner = tflite.signature_runner(Path(tiny_export["tflite"]), "serve")
    names = state_names(model)
    ids, _ = vocabulary.encode(("Return the list of items. " * 10)[:200])
    keras_states = zero_states(model)
    lite_states = dict(zip(names, zero_states(model), strict=True))
    worst = 0.0
    for token in ids:
        token = np.array([token], np.int32)
        logits, *keras_states = generator.step_model([token, *keras_states])
        out = runner(token=token, **lite_states)
        lite_states = {name: out[f"new_{name}"] for name in names}
        worst = max(worst, float(np.abs(np.asarray(logits) - out["logits"]).max()))
    assert len(ids) == 200 and worst < 1e-4


def test_saved_model_cli_runs_generation_in_a_fresh_process(tiny_export):
    result = run_python(
        "-m", "tensorflow.python.tools.saved_model_cli", "run", "--dir", tiny_export["saved_model"], "--tag_set", "serve",
        "--signature_def", "generate",
        "--input_exprs", "prime=['The ', '', 'zz\u20ac'];length=30;temperature=0.8;top_k=5;top_p=0.9;seed=3",
        timeout=180,
    )
    out = result.stdout
    assert "Result for output key continuation" in out and "Result for output key text" in out
    continuation = out.split("Result for output key continuation:")[1].split("Result for output key")[0]
    assert continuation.count("b'") + continuation.count('b"') == 3, out


def test_predict_with_the_export_and_with_the_mobile_loop(tiny_export, capsys):
    from rnnkit.cli import main as rnnkit_main

    assert rnnkit_main(["textgen", "predict", "--model", tiny_export["saved_model"], "--length", "25", "--seed", "4", "Hello"]) == 0
    served = capsys.readouterr().out.strip()
    assert served.startswith("Hello") and len(served) == 30
    assert rnnkit_main(["textgen", "predict", "--model", tiny_export["tflite"], "--length", "25", "--seed", "4", "Hello"]) == 0
    mobile = capsys.readouterr().out.strip()
    assert mobile.startswith("Hello") and len(mobile) == 30


def test_export_twice_makes_version_2_and_refuses_a_taken_version(tiny_run, tmp_path):
    from apps.textgen.export import export

    first = export(tiny_run, tmp_path, with_tflite=False)
    second = export(tiny_run, tmp_path, with_tflite=False)
    assert Path(first["saved_model"]).name == "1" and Path(second["saved_model"]).name == "2"
    with pytest.raises(FileExistsError):
        export(tiny_run, tmp_path, version=1, with_tflite=False)
