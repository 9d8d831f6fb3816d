from __future__ import annotations

import pytest

from rnnkit.cli import main as rnnkit_main

TINY = ["--set", "units=24", "--set", "num_layers=2", "--set", "cell=lstm", "--set", "embedding_dim=8",
        "--set", "seq_len=32", "--set", "batch_size=16", "--set", "max_chars=12000"]


@pytest.fixture(scope="session")
def tiny_run(session_tmp):
    """A 2-layer LSTM textgen run on a slice of the built-in corpus, trained once per session."""
    out = session_tmp / "textgen-run"
    code = rnnkit_main(["textgen", "train", "--data", "demo", "--out", str(out), "--epochs", "2",
                        "--sample-length", "0", *TINY])
    assert code == 0
    return out


@pytest.fixture(scope="session")
def tiny_export(tiny_run, session_tmp):
    from apps.textgen.export import export

    written = export(tiny_run, session_tmp / "saved_models")
    return written
