"""The Elman SimpleRNN as a textgen cell (`--set cell=simple`): trains, saves, reloads, tunes, exports."""

import json
from pathlib import Path

import pytest

from rnnkit.cli import main as rnnkit_main

SIMPLE = ["--set", "units=16", "--set", "num_layers=1", "--set", "cell=simple", "--set", "embedding_dim=8",
          "--set", "seq_len=32", "--set", "batch_size=16", "--set", "max_chars=6000"]


@pytest.fixture(scope="module")
def simple_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("simple") / "run"
    assert rnnkit_main(["textgen", "train", "--data", "demo", "--out", str(out), "--epochs", "1",
                        "--sample-length", "0", *SIMPLE]) == 0
    return out


def test_simple_run_saves_and_reloads_a_simple_rnn(simple_run):
    import keras

    from apps.textgen.model import Generator, load_run_model, state_names

    model, vocabulary, config = load_run_model(simple_run)
    assert config.cell == "simple"
    assert isinstance(model.get_layer("rnn_0"), keras.layers.SimpleRNN)
    assert state_names(model) == ["h0"]
    text = Generator(model, vocabulary).generate("The ", 20, seed=1)
    assert len(text) == 20


def test_simple_run_exports_a_verified_tflite_step(simple_run, tmp_path):
    from apps.textgen.export import export

    written = export(simple_run, tmp_path, verify_steps=50)
    meta = json.loads((Path(written["saved_model"]) / "textgen_step.json").read_text())
    assert set(meta["inputs"]) == {"token", "h0"}
    assert meta["verification"]["max_abs_diff"] <= 1e-4
    assert not [op for op in meta["verification"]["ops"] if op.startswith("Flex") or op == "CUSTOM"]


def test_tune_space_offers_the_simple_cell():
    import keras_tuner

    from apps.textgen.config import TextGenConfig
    from apps.textgen.tune import space_for

    hp = keras_tuner.HyperParameters()
    space_for([8], 1)(hp, TextGenConfig())
    assert "simple" in hp.space[[p.name for p in hp.space].index("cell")].values


def test_unknown_cell_names_the_choices():
    from apps.textgen.config import TextGenConfig

    with pytest.raises(ValueError, match="lstm, gru, simple"):
        TextGenConfig(cell="elman").validate()
    TextGenConfig(cell="simple").validate()
