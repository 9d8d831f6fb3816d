"""The forecast commands end to end on a tiny run: train on a messy file, evaluate, predict, resume, tune, errors."""

import json
import shutil

import numpy as np
import pandas as pd

from apps.forecast.config import ForecastConfig
from rnnkit.cli import main as rnnkit_main
from tests.apps.forecast.conftest import TINY, small_frame, write_csv


def last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_training_writes_what_evaluate_needs_into_the_run(tiny_run):
    schema = json.loads((tiny_run / "series.json").read_text())
    assert schema["columns"] == ["load", "temperature", "price", "humidity", "wind=NW", "wind=SE"]
    assert schema["targets"] == ["load", "temperature", "price", "humidity"] and schema["period"] == 24
    assert len(schema["mean"]) == len(schema["std"]) == 6 and schema["split_kind"] == "ratio"
    assert (tiny_run / "linear_baseline.npz").is_file() and (tiny_run / "model.keras").is_file()
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["data_report"]["duplicates"] == 1
    assert set(summary["validation"]) == {"model", "last_value", "seasonal_naive", "linear"}
    assert 0.0 <= summary["validation"]["model"]["interval"]["coverage"] <= 1.0


def test_evaluate_scores_the_test_split_beside_the_baselines(tiny_run, series_csv, tmp_path, capsys):
    assert rnnkit_main(["forecast", "evaluate", "--model", str(tiny_run), "--data", str(series_csv), "--json",
                        "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "scoring the test split of messy.csv (the run's own training source" in out  # before the metrics
    metrics = json.loads(out.strip().splitlines()[-1])
    assert metrics["split"] == "test" and "own training source" in metrics["split_reason"]
    assert metrics["windows"] == 240 - 12 + 1  # the last 20% of 1200 steps, every target step scored
    assert metrics["mse"] > 0 and metrics["mae"] > 0 and set(metrics["mae_original"]) == set(metrics["targets"])
    assert metrics["interval"]["levels"] == [0.1, 0.9] and 0.0 <= metrics["coverage"] <= 1.0
    assert set(metrics["baselines"]) == {"last_value", "seasonal_naive", "linear"}
    # The seasonal-naive baseline recomputed by hand on the same windows gives the same MSE.
    rows = pd.read_csv(tmp_path / "error_by_horizon.csv")
    assert len(rows) == 12 and np.isclose(rows["model_mse"].mean(), metrics["mse"], rtol=1e-4)
    assert np.isclose(rows["seasonal_naive_mse"].mean(), metrics["baselines"]["seasonal_naive"]["mse"], rtol=1e-4)
    assert (tmp_path / "forecasts.png").stat().st_size > 10_000 and (tmp_path / "error_by_horizon.png").is_file()


def test_evaluate_scores_another_file_whole_with_the_runs_own_scaling(tiny_run, tmp_path, capsys):
    """Issue 18: a different file with no split of its own is scored whole under --split auto."""
    frame = small_frame(300, seed=7)
    frame["wind"] = np.where(np.arange(300) % 2, "NW", "SE")
    other = write_csv(tmp_path / "elsewhere" / "plant.csv", frame)
    assert rnnkit_main(["forecast", "evaluate", "--model", str(tiny_run), "--data", str(other)]) == 0
    out = capsys.readouterr().out
    assert "scoring the all split of plant.csv (not the run's training source and no split of its own: every window)" in out
    metrics = json.loads((tiny_run / "eval" / "metrics.json").read_text())
    assert metrics["split"] == "all"
    assert metrics["windows"] + metrics["windows_dropped"] == 300 - 24 - 12 + 1
    assert rnnkit_main(["forecast", "evaluate", "--model", str(tiny_run), "--data", str(other), "--split", "test"]) == 2
    assert "has no split of its own" in capsys.readouterr().err


def test_predict_forecasts_the_steps_after_the_history(tiny_run, series_csv, tmp_path, capsys):
    plot = tmp_path / "forecast.png"
    assert rnnkit_main(["forecast", "predict", "--model", str(tiny_run), str(series_csv), "--end", "2021-01-20 11:00",
                        "--plot", str(plot), "--json"]) == 0
    out = last_json(capsys)
    assert out["history_end"] == "2021-01-20T11:00:00" and len(out["forecast"]) == 12
    first = out["forecast"][0]
    assert first["time"] == "2021-01-20T12:00:00"
    assert first["load@0.1"] <= first["load@0.5"] <= first["load@0.9"] and plot.is_file()


def test_resume_reads_the_runs_own_data_and_config(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert rnnkit_main(["forecast", "train", "--out", str(run), "--resume", "--epochs", "2"]) == 0
    assert "already trained 2 epochs" in capsys.readouterr().out
    assert rnnkit_main(["forecast", "train", "--out", str(run), "--resume", "--set", "units=32"]) == 2
    assert "would change units" in capsys.readouterr().err


def test_tune_writes_a_best_config_train_accepts(tmp_path):
    from rnnkit.config import load_config

    data = write_csv(tmp_path / "series.csv", small_frame(800))
    out = tmp_path / "tune"
    assert rnnkit_main(["forecast", "tune", "--data", str(data), "--out", str(out), "--trials", "1", "--epochs", "1",
                        "--units", "16", "--lookbacks", "12,24", "--seg-lens", "12", *TINY]) == 0
    best = load_config(ForecastConfig, out / "best_config.json")
    assert best.units == 16 and best.seq_len in (12, 24) and best.horizon == 12 and (out / "trials.csv").is_file()


def test_usage_errors_exit_2_with_a_message(tiny_run, tmp_path, capsys):
    assert rnnkit_main(["forecast", "train", "--data", str(tmp_path / "nowhere.csv"), "--out", str(tmp_path / "a")]) == 2
    assert "nowhere.csv: no such file or folder" in capsys.readouterr().err
    assert rnnkit_main(["forecast", "train", "--data", "demo", "--out", str(tmp_path / "b"), "--set", "model=tcn"]) == 2
    assert "model must be one of segrnn, rnn, seq2seq" in capsys.readouterr().err
    assert rnnkit_main(["forecast", "train", "--data", "demo", "--out", str(tmp_path / "c"), "--set", "targets=OT"]) == 2
    assert "no column 'OT'; its columns are: load, temperature, price, humidity" in capsys.readouterr().err
    assert rnnkit_main(["forecast", "train", "--data", "tfds:weather", "--out", str(tmp_path / "d")]) == 2
    assert "reads CSV files" in capsys.readouterr().err
