"""The video commands end to end on a tiny run (trained once per session)."""

import json
import shutil

import numpy as np

from apps.video.model import load_run
from rnnkit.cli import main as rnnkit_main
from tests.apps.video.conftest import TINY


def test_train_writes_a_complete_run(tiny_run):
    names = {path.name for path in tiny_run.iterdir()}
    assert {"config.json", "state.json", "classes.json", "model.keras", "history.csv", "learning_curves.png"} <= names
    history = json.loads((tiny_run / "state.json").read_text())["history"]
    assert len(history) == 1 and {"val_loss", "val_accuracy", "val_top5_accuracy"} <= set(history[0])


def test_evaluate_json_confusion_matrix_and_attention_plots(tiny_run, capsys, tmp_path):
    assert rnnkit_main(["video", "evaluate", "--model", str(tiny_run), "--data", "demo", "--json",
                        "--out", str(tmp_path), "--plots", "2"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["split"] == "test" and metrics["clips"] == 24 and metrics["skipped_clips"] == 0
    assert 0.0 <= metrics["accuracy"] <= metrics["top5_accuracy"] <= 1.0
    matrix = json.loads((tmp_path / "confusion_matrix.json").read_text())["matrix"]
    assert sum(map(sum, matrix)) == 24 and all(sum(row) == 4 for row in matrix)
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 0
    assert len(list((tmp_path / "attention").glob("*.png"))) == 2
    rows = json.loads((tmp_path / "predictions.json").read_text())
    assert len(rows) == 24 and len(rows[0]["top5"]) == 5 and rows[0]["clip"].endswith((".avi", ".mp4"))


def test_predict_gives_top5_for_avi_and_mp4_and_names_the_bad_clip(tiny_run, tiny_demo, tmp_path, capsys):
    avi = next((tiny_demo / "UCF-101" / "Grow").glob("*.avi"))
    mp4 = next((tiny_demo / "UCF-101" / "Rotate").glob("*.mp4"))
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    code = rnnkit_main(["video", "predict", "--model", str(tiny_run), str(avi), str(mp4), str(empty), "--json"])
    out = capsys.readouterr()
    assert code == 2  # one clip failed; the others were classified
    rows = [json.loads(line) for line in out.out.strip().splitlines()]
    assert [row["clip"] for row in rows] == [str(avi), str(mp4)]
    assert all(len(row["top"]) == 5 and row["frames_used"] == 6 for row in rows)
    assert all(abs(sum(item["probability"] for item in row["top"]) - 1.0) < 0.2 for row in rows)
    assert f"{empty}: empty file (0 bytes)" in out.err


def test_features_run_skips_and_counts_broken_clips(tiny_demo, tmp_path, capsys):
    data = tmp_path / "ucf"
    shutil.copytree(tiny_demo, data)
    train_line = (data / "ucfTrainTestlist" / "trainlist01.txt").read_text().splitlines()
    broken = [data / "UCF-101" / line.split()[0] for line in train_line[:2]]
    broken[0].write_bytes(b"")  # zero bytes
    broken[1].write_bytes(b"\x00\x01garbage" * 200)  # not a video
    out = tmp_path / "run"
    assert rnnkit_main(["video", "train", "--data", str(data), "--out", str(out), "--epochs", "1",
                        "--set", "train_backbone=false", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "on cached features" in printed and "skipped 2 clip(s)" in printed
    assert (out / "backbone.keras").is_file() and (out / "cache" / "train.npz").is_file()
    classifier = load_run(out)  # the frozen backbone and the trained head, put back together
    frames = np.zeros((2, 6, 32, 32, 3), np.float32)
    out_arrays = classifier.predict(frames, [6, 3])
    assert out_arrays["probabilities"].shape == (2, 6) and not out_arrays["attention"][1, 3:].any()


def test_bad_inputs_exit_2_with_the_reason(tiny_run, tmp_path, capsys):
    assert rnnkit_main(["video", "train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "nowhere: no such file or folder" in capsys.readouterr().err
    assert rnnkit_main(["video", "train", "--out", str(tiny_run), "--resume", "--set", "units=99"]) == 2
    assert "would change units" in capsys.readouterr().err
    assert rnnkit_main(["video", "train", "--data", "demo", "--out", str(tmp_path / "r2"),
                        "--backbone-weights", "imagenet"]) == 2
    assert "no ImageNet weights" in capsys.readouterr().err


def test_tune_runs_a_trial_on_cached_features(tmp_path):
    out = tmp_path / "tune"
    assert rnnkit_main(["video", "tune", "--data", "demo", "--out", str(out), "--trials", "1", "--epochs", "1",
                        "--units", "4,8", "--set", "train_backbone=false", *TINY]) == 0
    best = json.loads((out / "best_config.json").read_text())["config"]
    assert best["units"] in (4, 8) and best["cell"] in ("gru", "lstm") and best["train_backbone"] is False


def test_resume_continues_a_copied_run_from_its_checkpoint(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert rnnkit_main(["video", "train", "--out", str(run), "--resume", "--epochs", "2"]) == 0
    assert "resuming" in capsys.readouterr().out
    state = json.loads((run / "state.json").read_text())
    assert [row["epoch"] for row in state["history"]] == [1, 2]
    assert state["optimizer_iterations"] > json.loads((tiny_run / "state.json").read_text())["optimizer_iterations"]
