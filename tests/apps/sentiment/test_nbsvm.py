"""The classical peer of the benchmark: NBSVM on the app's own split, alone and averaged with a run."""

import json

from bench.sentiment_nbsvm import main as nbsvm_main


def test_nbsvm_scores_the_runs_split_and_averages_with_the_run(tiny_run, acl_archive, tmp_path, monkeypatch, capsys):
    run, _ = tiny_run
    monkeypatch.setenv("RNNKIT_BENCH_RESULTS", str(tmp_path))
    assert nbsvm_main(["--data", str(acl_archive), "--with-run", str(run), "--bag-features"]) == 0
    out = capsys.readouterr().out
    assert "validation carved by movie" in out
    saved = json.loads(next(tmp_path.glob("sentiment_nbsvm*.json")).read_text())
    rows = {row["model"]: row for row in saved["rows"]}
    bag = {name for name in rows if name.startswith("NBSVM on the bag's features")}
    assert set(rows) - bag == {"NBSVM-uni", "NBSVM-bi (uni+bigrams)", "the run alone", "the run + NBSVM-bi, averaged"}
    assert len(bag) == 5 and any("pairs of >= 2 reviews (ngrams=pairs)" in name for name in bag)
    # fewer pair columns with pruning: every pair > pairs of 2 reviews > pairs of 3
    exact = [rows[name]["features"] for name in sorted(bag) if "hashed" not in name]
    assert len(set(exact)) == 3, exact
    # The fixture's reviews are generated with clear sentiment words: a linear model on them is near perfect.
    assert float(rows["NBSVM-bi (uni+bigrams)"]["val_accuracy"]) > 0.85, rows
    assert all(0.0 <= float(row["val_auc"]) <= 1.0 for row in rows.values())


def test_a_run_on_another_split_is_refused(tiny_run, acl_archive):
    import pytest

    run, _ = tiny_run
    with pytest.raises(SystemExit, match="same validation reviews"):
        nbsvm_main(["--data", str(acl_archive), "--with-run", str(run), "--seed", "7"])
