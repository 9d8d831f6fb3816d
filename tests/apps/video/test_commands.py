"""The video commands end to end on a tiny run (trained once per session)."""

import json
import re
import shutil
from pathlib import Path

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
    strips = tmp_path / "strips"
    code = rnnkit_main(["video", "predict", "--model", str(tiny_run), str(avi), str(mp4), str(empty), "--json",
                        "--film-strips", str(strips)])
    out = capsys.readouterr()
    assert code == 2  # one clip failed; the others were classified
    rows = [json.loads(line) for line in out.out.strip().splitlines()]
    assert [row["clip"] for row in rows] == [str(avi), str(mp4)]
    assert all(len(row["top"]) == 5 and row["frames_used"] == 6 for row in rows)
    assert all(abs(sum(item["probability"] for item in row["top"]) - 1.0) < 0.2 for row in rows)
    assert all(len(row["attention"]) == 6 and abs(sum(row["attention"]) - 1.0) < 1e-3 for row in rows)
    assert sorted(path.name for path in strips.iterdir()) == sorted([avi.stem + ".png", mp4.stem + ".png"])
    assert rows[0]["film_strip"] == str(strips / (avi.stem + ".png"))
    assert f"{empty}: empty file (0 bytes)" in out.err


def test_features_run_skips_and_counts_broken_clips(tiny_demo, tmp_path, capsys):
    """A zero-byte file, a non-video, a truncated MP4 and a listed but missing file are skipped and counted;
    a clip shorter than num_frames and a portrait one are used."""
    from apps.video.data import render_clip
    from rnnkit.data.video import write_video

    data = tmp_path / "ucf"
    shutil.copytree(tiny_demo, data)
    train_list = data / "ucfTrainTestlist" / "trainlist01.txt"
    lines = train_list.read_text().splitlines()
    paths = [data / "UCF-101" / line.split()[0] for line in lines]
    paths[0].write_bytes(b"")  # zero bytes
    paths[1].write_bytes(b"\x00\x01garbage" * 200)  # not a video
    mp4 = next(path for path in paths[2:] if path.suffix == ".mp4")
    mp4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])  # truncated
    short = next(path for path in paths[2:] if path.suffix == ".avi")
    look = {"background": (20.0, 40.0, 60.0), "colour": (250.0, 250.0, 120.0)}
    write_video(short, render_clip(np.random.default_rng(0), "Grow", look, 3))  # 3 frames < num_frames (6)
    portrait = next(path for path in reversed(paths) if path.suffix == ".avi")
    write_video(portrait, render_clip(np.random.default_rng(1), "Grow", look, 9, width=40, height=72))
    train_list.write_text("\n".join([*lines, "Grow/v_Grow_g09_c01.avi 6"]) + "\n")  # no such file
    out = tmp_path / "run"
    # val_fraction=0 (the default on frozen pretrained features): every group trains, no validation
    assert rnnkit_main(["video", "train", "--data", str(data), "--out", str(tmp_path / "all"), "--epochs", "2",
                        "--set", "train_backbone=false", "--set", "val_fraction=0", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "no validation (val_fraction=0)" in printed and "best training loss" in printed
    assert re.search(r"video: \d+ training and 0 validation clips", printed)
    assert (tmp_path / "all" / "model.keras").is_file()
    assert rnnkit_main(["video", "train", "--data", str(data), "--out", str(out), "--epochs", "1",
                        "--set", "train_backbone=false", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "on cached features" in printed and "skipped 3 clip(s)" in printed
    assert "skipped 1 listed clips missing from the video folders" in printed
    counts = re.search(r"video: (\d+) training and (\d+) validation clips", printed)
    assert int(counts[1]) + int(counts[2]) == len(lines) - 3  # the short and the portrait clip are in
    assert (out / "backbone.keras").is_file()
    assert "features (4 view(s) a clip" in printed  # four windows, not mirrored for the small CNN
    classifier = load_run(out)  # the frozen backbone and the trained head, put back together
    frames = np.zeros((2, 6, 32, 32, 3), np.float32)
    out_arrays = classifier.predict(frames, [6, 3])
    assert out_arrays["probabilities"].shape == (2, 6) and not out_arrays["attention"][1, 3:].any()
    # Another run (other head settings, same backbone and sampling) finds every clip's features in the cache.
    from apps.video.data import load_source
    from apps.video.inputs import FeatureCache, FeatureStats, clip_features
    from rnnkit.data.video import DecodeReport

    source = load_source(str(data), val_fraction=classifier.config.val_fraction, seed=classifier.config.seed)
    stats, report = FeatureStats(), DecodeReport()
    features, _, _, kept = clip_features(classifier.backbone, source.train, classifier.config, report,
                                         FeatureCache(classifier.backbone, classifier.config), stats=stats)
    assert stats.clips == 0 and stats.cached == len(kept) == len(features) and report.skipped + len(kept) == len(source.train)


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


def test_evaluate_auto_scores_a_folder_without_lists_whole(tiny_run, tiny_demo, tmp_path, capsys):
    """Issue 18: another source with no split lists is scored whole, never cut with the run's val_fraction."""
    other = tmp_path / "other"
    shutil.copytree(tiny_demo / "UCF-101", other / "clips")  # the class folders only: no classInd, no lists
    every = sum(1 for _ in other.rglob("*.*"))
    assert rnnkit_main(["video", "evaluate", "--model", str(tiny_run), "--data", str(other), "--json",
                        "--out", str(tmp_path / "eval"), "--plots", "0"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads(out.strip().splitlines()[-1])
    assert metrics["split"] == "all" and metrics["clips"] == every == 48
    assert "scoring split 'all': 48 clips" in out and "no test list" in out
    assert out.index("scoring split") < out.rindex("{")  # said before the metrics
    assert rnnkit_main(["video", "evaluate", "--model", str(tiny_run), "--data", str(other), "--split", "val"]) == 2
    assert "carved from its training source" in capsys.readouterr().err


def test_simple_rnn_cell_trains_saves_loads_and_exports(tmp_path):
    out = tmp_path / "simple"
    assert rnnkit_main(["video", "train", "--data", "demo", "--out", str(out), "--epochs", "1", *TINY,
                        "--set", "cell=simple"]) == 0
    classifier = load_run(out)
    assert type(classifier.head.get_layer("birnn").forward_layer).__name__ == "SimpleRNN"
    from apps.video.export import export

    written = export(out, tmp_path / "saved_models")
    meta = json.loads((Path(written["saved_model"]) / "video_tflite.json").read_text())
    assert meta["verification"]["max_abs_diff"] <= 1e-4
    assert not [op for op in meta["verification"]["ops"] if op.startswith("Flex") or op == "CUSTOM"]
