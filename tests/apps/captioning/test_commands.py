"""The captioning commands end to end on a tiny run (trained once per session)."""

import json

from rnnkit.cli import main as rnnkit_main
from tests.apps.captioning.conftest import TINY
from tests.conftest import run_python


def test_train_writes_a_complete_run(tiny_run):
    names = {path.name for path in tiny_run.iterdir()}
    assert {"config.json", "state.json", "vocab.json", "model.keras", "history.csv", "learning_curves.png"} <= names
    state = json.loads((tiny_run / "state.json").read_text())
    assert state["epoch"] == 1 and state["history"][0]["val_loss"] > 0
    config = json.loads((tiny_run / "config.json").read_text())["config"]
    assert config["encoder_weights"] == "none" and config["train_encoder"] is False
    assert (tiny_run / "encoder.keras").is_file()  # the frozen encoder, saved once
    assert {path.name for path in (tiny_run / "cache").iterdir()} == {"train.npz", "train_flipped.npz", "val.npz"}


def test_evaluate_json_has_bleu_and_both_baselines(tiny_run, capsys, tmp_path):
    code = rnnkit_main(["captioning", "evaluate", "--model", str(tiny_run), "--data", "demo", "--json",
                        "--beam-width", "1", "--out", str(tmp_path), "--plots", "1"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["split"] == "test" and metrics["images"] == 80 and metrics["beam_width"] == 1
    for prefix in ("", "most_frequent_", "nearest_"):
        scores = [metrics[f"{prefix}bleu_{n}"] for n in range(1, 5)]
        assert all(0.0 <= score <= 1.0 for score in scores) and scores == sorted(scores, reverse=True)
    assert metrics["most_frequent_bleu_1"] > 0.2  # "a <colour> <shape>" shares words with most references
    rows = json.loads((tmp_path / "captions.json").read_text())
    assert len(rows) == 80 and len(rows[0]["references"]) == 3
    assert len(list((tmp_path / "attention").glob("*.png"))) == 1


def test_predict_captions_odd_images_and_names_the_bad_one(tiny_run, image_files, capsys, tmp_path):
    files = [str(image_files[key]) for key in ("rgb", "grayscale", "alpha", "large", "garbage")]
    code = rnnkit_main(["captioning", "predict", "--model", str(tiny_run), *files, "--attention-plots", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 2  # one input failed; the others were captioned
    captioned = dict(line.split("\t", 1) for line in out.out.splitlines())  # a tiny model may say nothing
    assert set(captioned) == set(files[:4])
    assert f"{files[4]}: not a JPEG, PNG, GIF or BMP image" in out.err
    assert len(list(tmp_path.glob("*.png"))) == 4


def test_bad_sources_and_resume_changes_exit_2(tiny_run, tmp_path, capsys):
    assert rnnkit_main(["captioning", "train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "nowhere: no such file or folder" in capsys.readouterr().err
    assert rnnkit_main(["captioning", "train", "--out", str(tiny_run), "--resume", "--set", "units=99"]) == 2
    assert "would change units" in capsys.readouterr().err
    assert rnnkit_main(["captioning", "predict", "--model", str(tiny_run), str(tmp_path / "absent.jpg")]) == 2
    assert "absent.jpg: no such file" in capsys.readouterr().err


def test_tune_runs_trials_on_cached_features(tmp_path):
    out = tmp_path / "tune"
    tiny = [flag.replace("max_images=32", "max_images=16") for flag in TINY]
    assert rnnkit_main(["captioning", "tune", "--data", "demo", "--out", str(out), "--trials", "1", "--epochs", "1",
                        "--units", "8,16", *tiny]) == 0
    best = json.loads((out / "best_config.json").read_text())["config"]
    assert best["units"] in (8, 16) and best["attention"] in ("bahdanau", "luong_general", "luong_dot")
    assert len(json.loads((out / "trials.json").read_text())["trials"]) == 1
    assert {path.name for path in (out / "cache").iterdir()} == {"train.npz", "train_flipped.npz", "val.npz"}


def test_help_lists_the_contract():
    result = run_python("-m", "apps.captioning.train", "--help", timeout=60)
    for flag in ("--data", "--out", "--epochs", "--config", "--set", "--resume", "--encoder-weights", "beam_width = 3"):
        assert flag in result.stdout


def test_resume_continues_a_run_from_its_last_epoch(tiny_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    first = json.loads((run / "state.json").read_text())
    assert rnnkit_main(["captioning", "train", "--data", "demo", "--out", str(run), "--resume", "--epochs", "2",
                        "--samples", "1"]) == 0
    assert "validation BLEU (greedy): bleu_1" in capsys.readouterr().out
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 2 and [row["epoch"] for row in state["history"]] == [1, 2]
    assert state["optimizer_iterations"] == 2 * first["optimizer_iterations"]  # the optimizer went on, not over
    assert json.loads((run / "vocab.json").read_text()) == json.loads((tiny_run / "vocab.json").read_text())
