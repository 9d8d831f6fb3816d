"""The speech commands end to end on a tiny run: train with bad files, evaluate, predict, tune, resume."""

import json
import shutil

import pytest

from apps.speech.config import SpeechConfig
from rnnkit.cli import main as rnnkit_main
from tests.apps.speech.conftest import TINY


def test_training_skips_and_counts_the_bad_files(tiny_run, wav_folder):
    _, files = wav_folder
    skipped = {row["path"]: row["reason"] for row in json.loads((tiny_run / "skipped.json").read_text())}
    assert set(skipped) == {str(files["corrupt"]), str(files["empty"])}
    assert skipped[str(files["empty"])] == "empty file (0 bytes)"
    assert json.loads((tiny_run / "labels.json").read_text())["labels"] == ["hiss", "rising", "steady"]
    state = json.loads((tiny_run / "state.json").read_text())
    assert state["epoch"] == 2 and state["monitor"] == "val_loss"
    assert (tiny_run / "model.keras").is_file() and (tiny_run / "learning_curves.png").is_file()


def test_evaluate_json_report_and_plots(tiny_run, wav_folder, tmp_path, capsys):
    code = rnnkit_main(["speech", "evaluate", "--model", str(tiny_run), "--data", str(wav_folder[0]), "--json",
                        "--out", str(tmp_path), "--plots", "2"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["split"] == "test" and 0.0 <= metrics["accuracy"] <= 1.0
    assert set(metrics["per_class"]) == {"hiss", "rising", "steady"}
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["clips"] > 0
    assert sum(row["support"] for row in metrics["per_class"].values()) == metrics["clips"]
    assert (tmp_path / "confusion_matrix.png").is_file() and len(list((tmp_path / "over_time").glob("*.png"))) == 2
    assert metrics["split_reason"].startswith("the run's own held-out test split")


def copy_clips(source_root, target, per_class, testing=None):
    """Some usable clips of each class into a new folder (no lists, or a testing_list.txt naming `testing` of them)."""
    import shutil

    names = []
    for word in ("hiss", "rising", "steady"):
        clips = sorted(path for path in (source_root / word).glob("speaker*.wav"))[:per_class]
        for path in clips:
            (target / word).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target / word / f"other_{path.name}")
            names.append(f"{word}/other_{path.name}")
    if testing is not None:
        (target / "testing_list.txt").write_text("\n".join(names[::testing]) + "\n")
    return names


def test_evaluate_scores_every_clip_of_another_folder_without_lists(tiny_run, wav_folder, tmp_path, capsys):
    names = copy_clips(wav_folder[0], tmp_path / "other", per_class=5)
    code = rnnkit_main(["speech", "evaluate", "--model", str(tiny_run), "--data", str(tmp_path / "other"), "--json",
                        "--out", str(tmp_path / "eval"), "--plots", "0"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    metrics = json.loads(lines[-1])
    assert metrics["split"] == "all" and metrics["clips"] == len(names) == 15
    assert "split: all (15 clips) - every clip: --data is not the run's training source" in "\n".join(lines[:-1])


def test_evaluate_scores_the_listed_files_of_a_folder_with_a_testing_list(tiny_run, wav_folder, tmp_path, capsys):
    names = copy_clips(wav_folder[0], tmp_path / "listed", per_class=5, testing=2)
    code = rnnkit_main(["speech", "evaluate", "--model", str(tiny_run), "--data", str(tmp_path / "listed"), "--json",
                        "--out", str(tmp_path / "eval"), "--plots", "0"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    metrics = json.loads(lines[-1])
    assert metrics["split"] == "test" and metrics["clips"] == len(names[::2]) == 8
    assert "split: test (8 clips) - the source's own test split (splits from testing_list.txt)" in "\n".join(lines[:-1])


def test_predict_gives_the_top_three_words_and_names_bad_files(tiny_run, wav_folder, tmp_path, capsys):
    _, files = wav_folder
    inputs = [files["8k"], files["stereo"], files["long"], files["float"], files["corrupt"], files["empty"],
              tmp_path / "missing.wav"]
    code = rnnkit_main(["speech", "predict", "--model", str(tiny_run), *map(str, inputs)])
    captured = capsys.readouterr()
    assert code == 2  # some files failed; the others were still scored
    lines = captured.out.strip().splitlines()
    assert len(lines) == 4
    for line in lines:
        words = line.split(": ", 1)[1].split("  (")[0].split()
        probabilities = [float(value) for value in words[1::2]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.002  # printed to 3 decimals
    assert "30.0 s file: scored its loudest 0.5 s" in lines[2]
    errors = captured.err
    assert f"{files['corrupt']}: corrupt WAV" in errors and f"{files['empty']}: empty file" in errors
    assert "missing.wav: no such file" in errors


def test_resume_reads_the_runs_own_data_and_config(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    # No --data and no --set: both come from the run folder; the run has its 2 epochs already.
    assert rnnkit_main(["speech", "train", "--out", str(run), "--resume", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "3 classes" in out and "already trained 2 epochs" in out
    assert rnnkit_main(["speech", "train", "--out", str(run), "--resume", "--set", "units=16"]) == 2
    assert "would change units" in capsys.readouterr().err


def test_tune_writes_a_best_config_train_accepts(wav_folder, tmp_path):
    from rnnkit.config import load_config

    out = tmp_path / "tune"
    assert rnnkit_main(["speech", "tune", "--data", str(wav_folder[0]), "--out", str(out), "--trials", "1",
                        "--epochs", "1", "--units", "8", *TINY]) == 0
    best = load_config(SpeechConfig, out / "best_config.json")
    assert best.units == 8 and best.clip_seconds == 0.5 and (out / "trials.csv").is_file()


def test_usage_errors_exit_2_with_a_message(tmp_path, capsys):
    assert rnnkit_main(["speech", "train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")]) == 2
    assert "nowhere: no such file or folder" in capsys.readouterr().err
    assert rnnkit_main(["speech", "train", "--data", "demo", "--out", str(tmp_path / "run"), "--set", "crop=middle"]) == 2
    assert "crop must be one of loudest, start, center" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rnnkit_main(["speech", "train", "--help"])
    assert "floor_db = -30.0" in capsys.readouterr().out
