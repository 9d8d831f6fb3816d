"""The textgen commands end to end on a tiny run (trained once per session)."""

import json

import pytest

from rnnkit.cli import main as rnnkit_main
from tests.apps.textgen.conftest import TINY
from tests.conftest import run_python


def test_train_writes_a_complete_run(tiny_run):
    names = {path.name for path in tiny_run.iterdir()}
    assert {"config.json", "state.json", "vocab.json", "model.keras", "history.csv", "learning_curves.png"} <= names
    state = json.loads((tiny_run / "state.json").read_text())
    assert state["epoch"] == 2
    row = state["history"][-1]
    assert row["val_bits_per_char"] == pytest.approx(row["val_loss"] / 0.6931471805599453, rel=1e-4)


def test_evaluate_json_is_the_last_line(tiny_run, capsys):
    assert rnnkit_main(["textgen", "evaluate", "--model", str(tiny_run), "--data", "demo", "--split", "val", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["split"] == "validation" and metrics["characters"] > 1000
    assert metrics["bits_per_char"] == pytest.approx(metrics["loss_nats_per_char"] / 0.6931471805599453)
    assert 0 < metrics["loss_nats_per_char"] < 6


def test_evaluate_scores_another_text_whole_and_says_so(tiny_run, tmp_path, capsys):
    text = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 40
    other = tmp_path / "other.txt"
    other.write_text(text, encoding="utf-8")
    capsys.readouterr()
    assert rnnkit_main(["textgen", "evaluate", "--model", str(tiny_run), "--data", str(other), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    metrics = json.loads(lines[-1])
    # A file with no test split of its own is scored whole, never cut with the run's validation fraction.
    # Characters outside the run's vocabulary (here the apostrophe the demo corpus lacks) are
    # counted apart, not scored.
    assert metrics["split"] == "all" and metrics["unknown_characters"] == text.count("'") > 0, metrics
    assert metrics["characters"] + metrics["unknown_characters"] == len(text), metrics
    announced = [line for line in lines if line.startswith("scoring split")]
    assert announced and "no test split" in announced[0], lines


def test_generate_streams_and_repeats_with_a_seed(tiny_run, capsys):
    args = ["textgen", "generate", "--model", str(tiny_run), "--prime", "The ", "--length", "60", "--seed", "5"]
    assert rnnkit_main(args) == 0
    first = capsys.readouterr().out
    assert rnnkit_main([*args, "--chunk", "9"]) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("The ") and len(first.rstrip("\n")) >= 64


def test_bad_data_exits_2_with_a_message(tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"na\xefve")
    code = rnnkit_main(["textgen", "train", "--data", str(bad), "--out", str(tmp_path / "run"), *TINY])
    assert code == 2
    assert "latin1.txt: not UTF-8" in capsys.readouterr().err


def test_resume_refuses_a_changed_config(tiny_run, capsys):
    code = rnnkit_main(["textgen", "train", "--out", str(tiny_run), "--resume", "--set", "units=99"])
    assert code == 2 and "would change units" in capsys.readouterr().err


def test_tune_runs_trials_and_writes_a_best_config(tmp_path):
    out = tmp_path / "tune"
    assert rnnkit_main(["textgen", "tune", "--data", "demo", "--out", str(out), "--trials", "2", "--epochs", "1",
                        "--units", "8,16", "--max-layers", "2", *TINY]) == 0
    best = json.loads((out / "best_config.json").read_text())["config"]
    assert best["units"] in (8, 16) and best["cell"] in ("lstm", "gru") and 1 <= best["num_layers"] <= 2
    assert len(json.loads((out / "trials.json").read_text())["trials"]) == 2


def test_help_is_fast_and_lists_the_contract():
    result = run_python("-m", "apps.textgen.train", "--help", timeout=60)
    for flag in ("--data", "--out", "--epochs", "--config", "--set", "--resume", "--strategy", "units = 512"):
        assert flag in result.stdout
    listing = run_python("-m", "rnnkit.cli", "textgen", "--help", timeout=60).stdout
    assert "generate" in listing and "export" in listing
