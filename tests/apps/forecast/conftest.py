"""Tiny series written by the tests (messy on purpose), one tiny run and its export shared by the session."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.cli import main as rnnkit_main

# A model that trains in seconds: 24 steps in, 12 out, segments of 12, 16 units.
TINY = ["--set", "seq_len=24", "--set", "horizon=12", "--set", "seg_len=12", "--set", "units=16",
        "--set", "batch_size=64", "--set", "dropout=0", "--set", "learning_rate=0.01", "--set", "patience=0"]


def write_csv(path, frame):
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def small_frame(steps: int = 1200, seed: int = 0):
    """The demo's four columns, shorter: NA cells, empty cells and one 12-hour gap in every column."""
    from apps.forecast.data import demo_frame

    return demo_frame(steps, seed)


def messy_frame(steps: int = 1200):
    """small_frame plus what real files have: a repeated row, two missing timestamps, a categorical covariate."""
    import pandas as pd

    frame = small_frame(steps)
    frame["wind"] = np.where(np.arange(steps) % 24 < 12, "NW", "SE")
    frame = pd.concat([frame.iloc[:300], frame.iloc[299:300], frame.iloc[300:500], frame.iloc[502:]], ignore_index=True)
    return frame


@pytest.fixture(scope="session")
def series_csv(session_tmp):
    return write_csv(session_tmp / "forecast" / "messy.csv", messy_frame())


@pytest.fixture(scope="session")
def tiny_run(session_tmp, series_csv):
    out = session_tmp / "forecast-run"
    assert rnnkit_main(["forecast", "train", "--data", str(series_csv), "--out", str(out), "--epochs", "2",
                        "--set", "covariates=wind", *TINY]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_export(tiny_run, session_tmp):
    from apps.forecast.export import export

    return export(tiny_run, session_tmp / "forecast-models", check_count=8)
