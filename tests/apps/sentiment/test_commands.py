"""The sentiment commands end to end on a tiny run (trained once per session on a generated aclImdb archive)."""

import json

from rnnkit.cli import main as rnnkit_main
from tests.apps.sentiment.conftest import NOT_UTF8, TINY, run_cli


def last_json(output: str):
    return json.loads(output.strip().splitlines()[-1])


def test_train_reports_padding_skipped_files_and_writes_a_complete_run(tiny_run):
    out, output = tiny_run
    assert f"skipped 3 file(s): 1 not UTF-8 ({NOT_UTF8}); 2 empty or whitespace only" in output
    assert "validation carved by movie" in output
    assert "length buckets" in output and "when random batches are padded to their longest" in output
    names = {path.name for path in out.iterdir()}
    assert {"config.json", "state.json", "vocab.txt", "model.keras", "history.csv", "learning_curves.png",
            "summary.json"} <= names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"]["not_utf8"] == 1 and summary["skipped"]["empty"] == 2
    assert summary["padding"]["bucketed"]["pad_fraction"] < summary["padding"]["pad_to_longest"]["pad_fraction"]
    state = json.loads((out / "state.json").read_text())
    assert state["monitor"] == "val_accuracy" and state["best"] == max(row["val_accuracy"] for row in state["history"])


def test_evaluate_json_scores_the_test_split_with_plots(tiny_run, acl_archive, tmp_path):
    code, output = run_cli(["sentiment", "evaluate", "--model", str(tiny_run[0]), "--data", str(acl_archive),
                            "--json", "--out", str(tmp_path)])
    assert code == 0
    metrics = last_json(output)
    assert metrics["split"] == "test" and metrics["reviews"] == 80 and metrics["skipped_files"] == 3
    assert metrics["accuracy"] > 0.7 and metrics["roc_auc"] > 0.75  # it learned the demo's polar words
    matrix = metrics["confusion_matrix"]
    assert sum(map(sum, matrix)) == 80
    assert (matrix[0][0] + matrix[1][1]) / 80 == metrics["accuracy"]
    by_length = metrics["accuracy_by_length"]
    assert [row["tokens"] for row in by_length] == ["0-60", ">60 (cut)"]
    assert sum(row["reviews"] for row in by_length) == 80
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 0
    assert (tmp_path / "accuracy_by_length.png").stat().st_size > 0


def test_evaluate_validation_split_matches_training(tiny_run, acl_archive, tmp_path):
    code, output = run_cli(["sentiment", "evaluate", "--model", str(tiny_run[0]), "--data", str(acl_archive),
                            "--split", "val", "--json", "--out", str(tmp_path)])
    state = json.loads((tiny_run[0] / "state.json").read_text())
    summary = json.loads((tiny_run[0] / "summary.json").read_text())
    metrics = last_json(output)
    held_out = summary["val_reviews"]
    assert code == 0 and metrics["split"] == "validation" and metrics["reviews"] == held_out
    assert 58 <= held_out <= 64  # 20% of 320, whole movies of up to 6 reviews at a time
    assert "carved by movie" in metrics["split_chosen"] and "carved by movie" in summary["validation_split"]
    assert f"scoring the validation split of {acl_archive}" in output
    assert abs(metrics["accuracy"] - state["best"]) <= 1 / held_out  # the same reviews (at most one rounds differently)


def test_evaluate_auto_scores_a_folder_without_test_split_whole(tiny_run, tmp_path):
    """Issue 18: another source than the run's, with no test/ folder, is scored whole, never split."""
    from apps.sentiment.data import demo_reviews

    reviews = demo_reviews(30, seed=11)
    for index, (text, label) in enumerate(zip(reviews.texts, reviews.labels, strict=True)):
        folder = tmp_path / "mine" / ("pos" if label else "neg")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index}_5.txt").write_text(text, encoding="utf-8")
    code, output = run_cli(["sentiment", "evaluate", "--model", str(tiny_run[0]), "--data", str(tmp_path / "mine"),
                            "--json", "--out", str(tmp_path / "eval")])
    metrics = last_json(output)
    assert code == 0 and metrics["split"] == "all" and metrics["reviews"] == 30
    assert "not the run's training source" in metrics["split_chosen"]
    assert output.index("scoring the all split") < output.rindex("{")  # said before the metrics
    assert sum(map(sum, metrics["confusion_matrix"])) == 30


def test_evaluate_refuses_the_runs_validation_split_of_another_source(tiny_run, acl_folder_without_movies, capsys):
    code = rnnkit_main(["sentiment", "evaluate", "--model", str(tiny_run[0]), "--data", str(acl_folder_without_movies),
                        "--split", "val"])
    assert code == 2 and "is another source" in capsys.readouterr().err


def test_predict_from_the_run_with_explain_and_empty_reviews(tiny_run, tmp_path, capsys):
    code = rnnkit_main(["sentiment", "predict", "--model", str(tiny_run[0]), "--explain", "--top", "3",
                        "--out", str(tmp_path), "--json", "A wonderful, moving and superb film.",
                        "Boring, dull, a waste.", "", "   \n "])
    captured = capsys.readouterr()
    assert code == 0
    results = json.loads(captured.out.strip().splitlines()[-1])
    assert [r["label"] for r in results[:2]] == ["positive", "negative"]
    assert results[0]["probability"] > 0.5 > results[1]["probability"]
    top = results[0]["top_words"]
    assert len(top) == 3 and {word for word, _ in top} <= {"a", "wonderful", "moving", "and", "superb", "film"}
    assert [weight for _, weight in top] == sorted((weight for _, weight in top), reverse=True)
    assert results[2]["top_words"] == [] and 0 < results[2]["probability"] < 1
    assert results[3]["probability"] == results[2]["probability"]  # whitespace only reads as no words
    assert "input 3 is empty" in captured.err and "input 4 is empty" in captured.err
    assert (tmp_path / "attention_1.png").is_file() and not (tmp_path / "attention_3.png").exists()


def test_predict_reads_files_and_names_a_bad_one(tiny_run, tmp_path, capsys):
    good = tmp_path / "good.txt"
    good.write_text("Superb and charming.", encoding="utf-8")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Tr\u00e8s bien".encode("latin-1"))
    assert rnnkit_main(["sentiment", "predict", "--model", str(tiny_run[0]), "--files", str(good)]) == 0
    assert "Superb and charming." in capsys.readouterr().out
    assert rnnkit_main(["sentiment", "predict", "--model", str(tiny_run[0]), "--files", str(bad)]) == 2
    assert "latin1.txt: not UTF-8" in capsys.readouterr().err


def test_train_refuses_bad_sources_and_changed_resumes(tiny_run, tmp_path, capsys):
    assert rnnkit_main(["sentiment", "train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r1")]) == 2
    assert "no such folder or file" in capsys.readouterr().err
    assert rnnkit_main(["sentiment", "train", "--out", str(tiny_run[0]), "--resume", "--set", "units=99"]) == 2
    assert "would change units" in capsys.readouterr().err


def test_tune_runs_trials_and_writes_a_best_config(acl_archive, tmp_path):
    out = tmp_path / "tune"
    code, _ = run_cli(["sentiment", "tune", "--data", str(acl_archive), "--out", str(out), "--trials", "2",
                       "--epochs", "1", "--units", "4,8", *TINY, "--set", "max_examples=120",
                       "--set", "batching=fixed"])  # one batch shape: each trial traces its model once
    assert code == 0
    best = json.loads((out / "best_config.json").read_text())
    assert best["objective"] == "val_accuracy" and best["config"]["units"] in (4, 8)
    assert len(json.loads((out / "trials.json").read_text())["trials"]) == 2


def test_help_lists_the_contract_and_config_fields():
    result_code, output = run_cli(["sentiment", "--help"])
    assert result_code == 0 and all(command in output for command in ("train", "evaluate", "tune", "export", "predict"))
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        rnnkit_main(["sentiment", "train", "--help"])
    assert "max_length = 3000" in buffer.getvalue() and "--resume" in buffer.getvalue()


def test_the_training_seed_does_not_move_the_validation_split(acl_archive):
    from apps.sentiment.config import SentimentConfig
    from apps.sentiment.evaluate import choose_split

    def held_out(**fields):
        return choose_split(str(acl_archive), "val", SentimentConfig(**fields), str(acl_archive))[0].texts

    assert held_out(seed=7) == held_out()  # another training seed scores the same held-out reviews
    assert held_out(split_seed=8) != held_out()
