"""The exports: raw units in and out of the SavedModel, a clear error for NaN and short requests,
a builtin-only TFLite model that matches Keras, and the same forecast from every kind of --model."""

import json
from pathlib import Path

import numpy as np
import pytest

from apps.forecast.predict import Forecaster, forecast_window
from tests.conftest import run_python


def served(export_dir):
    import tensorflow as tf

    return tf.saved_model.load(str(export_dir)).signatures["serving_default"]


def history_windows(tiny_run, count=3):
    from apps.forecast.data import load_series
    from apps.forecast.model import load_run

    _, config, schema = load_run(tiny_run)
    series = load_series(schema["source"], config, schema=schema)
    starts = series.window_starts("test", config)[:count]
    return np.stack([series.values[s: s + config.seq_len] for s in starts]), config, schema


def test_saved_model_takes_raw_units_and_answers_like_keras_with_the_scaling(tiny_run, tiny_export):
    from apps.forecast.model import load_run

    export_dir = Path(tiny_export["saved_model"])
    columns = json.loads((export_dir / "assets.extra" / "columns.json").read_text())
    assert columns["columns"][:4] == ["load", "temperature", "price", "humidity"] and columns["seq_len"] == 24
    history, config, schema = history_windows(tiny_run)
    out = served(export_dir)(history=history)
    model, _, _ = load_run(tiny_run)
    mean, std = np.asarray(schema["mean"], np.float32), np.asarray(schema["std"], np.float32)
    expected = np.asarray(model((history - mean) / std)["forecast"]) * std[:4] + mean[:4]
    np.testing.assert_allclose(out["forecast"].numpy(), expected, rtol=1e-4, atol=1e-3)
    assert out["quantiles"].shape == (3, 12, 4, 3) and (out["error"].numpy() == b"").all()
    # A longer history works (its last seq_len steps are read) and gives the same answer.
    longer = np.concatenate([np.zeros((3, 5, history.shape[2]), np.float32), history], axis=1)
    np.testing.assert_allclose(served(export_dir)(history=longer)["forecast"].numpy(), out["forecast"].numpy(), atol=1e-5)


def test_a_nan_gives_an_error_output_and_a_short_request_fails_clearly(tiny_run, tiny_export):
    import tensorflow as tf

    signature = served(tiny_export["saved_model"])
    history, _, _ = history_windows(tiny_run, 2)
    history[1, 20, 2] = np.nan
    out = signature(history=history)
    errors = [message.decode() for message in out["error"].numpy()]
    assert errors[0] == "" and np.isfinite(out["forecast"].numpy()[0]).all()
    assert errors[1].startswith("history has a missing or non-finite value (NaN or Inf) at step 20 of the last 24, "
                                "column price")
    assert np.isnan(out["forecast"].numpy()[1]).all() and np.isnan(out["quantiles"].numpy()[1]).all()
    with pytest.raises(tf.errors.InvalidArgumentError, match="send at least seq_len=24 steps"):
        signature(history=history[:, :10])


def test_tflite_is_builtin_only_and_matches_keras(tiny_export):
    meta = json.loads((Path(tiny_export["saved_model"]) / "forecast_tflite.json").read_text())
    check = meta["verification"]
    assert check["cases"] == 8 and check["max_abs_diff"] <= check["atol"]
    assert "WHILE" in check["ops"] and not any(op.startswith("Flex") for op in check["ops"])
    assert meta["inputs"]["history"] == [1, 24, 6] and meta["outputs"]["quantiles"] == [1, 12, 4, 3]
    assert meta["series"]["columns"][4:] == ["wind=NW", "wind=SE"] and meta["config"]["seq_len"] == 24


def test_run_export_and_tflite_give_the_same_forecast(tiny_run, tiny_export):
    history, _, _ = history_windows(tiny_run, 1)
    results = [forecast_window(path, history[0]) for path in
               (tiny_run, tiny_export["saved_model"], tiny_export["tflite"])]
    for result in results[1:]:
        np.testing.assert_allclose(result["forecast"], results[0]["forecast"], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(result["quantiles"], results[0]["quantiles"], rtol=1e-4, atol=1e-3)
    assert results[0]["forecast"].shape == (12, 4) and results[0]["levels"] == [0.1, 0.5, 0.9]
    forecaster = Forecaster(tiny_export["tflite"])
    with pytest.raises(ValueError, match="history has 5 steps; the model reads seq_len=24"):
        forecaster.forecast(history[0][:5])
    bad = history[0].copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="step 3 of the last 24, column load"):
        forecast_window(tiny_export["saved_model"], bad)


@pytest.mark.slow
def test_saved_model_cli_runs_the_export_in_a_fresh_process(tiny_run, tiny_export, tmp_path):
    history, _, _ = history_windows(tiny_run, 1)
    np.save(tmp_path / "history.npy", history)
    ran = run_python("-m", "tensorflow.python.tools.saved_model_cli", "run", "--dir", tiny_export["saved_model"],
                     "--tag_set", "serve", "--signature_def", "serving_default", "--inputs",
                     f"history={tmp_path / 'history.npy'}")
    assert "Result for output key forecast" in ran.stdout and "Result for output key quantiles" in ran.stdout
