from __future__ import annotations

import os

import pytest

from rnnkit.cli import main as rnnkit_main

# Tiny settings: 6 frames of 32x32, a 4-filter CNN, 8-unit GRU; seconds per run.
TINY = ["--set", "num_frames=6", "--set", "image_size=32", "--set", "small_filters=4", "--set", "frame_units=8",
        "--set", "units=8", "--set", "attention_units=8", "--set", "batch_size=8", "--set", "feature_grid=2"]


@pytest.fixture(scope="session", autouse=True)
def tiny_demo(tmp_path_factory):
    """A small demo set (4 groups x 2 clips per class: 2 test, 1 validation, 1 training group) used as `demo`."""
    from apps.video.data import write_demo

    root = write_demo(tmp_path_factory.mktemp("video") / "demo", groups=4, clips_per_group=2, test_groups=2, seed=5)
    settings = {"RNNKIT_VIDEO_DEMO": str(root),  # subprocesses inherit them too
                "RNNKIT_VIDEO_FEATURES": str(tmp_path_factory.mktemp("video-features"))}
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    yield root
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def tiny_run(session_tmp, tiny_demo):
    out = session_tmp / "video-run"
    assert rnnkit_main(["video", "train", "--data", "demo", "--out", str(out), "--epochs", "1", *TINY]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_export(tiny_run, session_tmp):
    from apps.video.export import export

    return export(tiny_run, session_tmp / "saved_models")
