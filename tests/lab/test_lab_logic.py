"""The lab's logic without a server: features and correlations, unit choice, model lookup, tasks, gradients."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnkit.lab import hidden
from rnnkit.lab.app import _parse_units
from rnnkit.lab.models import ModelStore, classify


def test_text_features_mark_quotes_brackets_and_line_halves():
    text = 'ab "cd" (e)\nwxyz\n'
    features = hidden.text_features(text)
    assert "".join(c for c, q in zip(text, features["inside_quotes"], strict=True) if q) == '"cd"'
    assert "".join(c for c, b in zip(text, features["inside_brackets"], strict=True) if b) == "(e)"
    # 'ab "cd" (e)' has 11 characters: columns 0..5 are its first half; 'wxyz': w, x
    assert "".join(c for c, f in zip(text, features["first_half_of_line"], strict=True) if f) == 'ab "cdwx'
    assert features["position_in_line"][text.index("w")] == 0 and features["position_in_line"][text.index("z")] == 3
    assert features["inside_word"].sum() == sum(c.isalpha() for c in text)


def test_correlation_finds_a_planted_unit_among_noise():
    rng = np.random.default_rng(0)
    text = ('one (two) three "four five" six\n' * 40)
    feature = hidden.text_features(text)["inside_brackets"]
    states = {"h0": rng.normal(size=(len(text), 32)), "c0": rng.normal(size=(len(text), 16))}
    states["c0"][:, 7] = 2.0 * feature - 1.0 + 0.3 * rng.normal(size=len(text))
    states["h0"][:, 3] = 5.0  # a constant unit correlates with nothing (and does not divide by zero)
    matches = hidden.top_units(states, {"inside_brackets": feature}, per_feature=2)
    assert (matches[0].state, matches[0].unit) == ("c0", 7) and matches[0].r > 0.9
    assert hidden.correlations(states["h0"], feature)[3] == 0.0


def test_heat_map_escapes_text_and_colours_every_character():
    text = "a<b>&\nc"
    html = hidden.heat_html(text, [("h0[1]", np.linspace(-1, 1, len(text))), ("c0[2]", np.linspace(-30, 30, len(text)))])
    assert html.count("<span") == 2 * len(text)
    assert "&lt;" in html and "&amp;" in html and "<b>h0[1]</b>" in html
    assert "rgb(0,0,255)" in html and "rgb(255,0,0)" in html  # both ends of the scale, also for an unbounded cell state


def test_units_are_parsed_with_clear_errors():
    sizes = {"h0": 8, "c0": 8}
    assert _parse_units("h0:1, c0:7; 2", ["h0", "c0"], sizes) == [("h0", 1), ("c0", 7), ("h0", 2)]
    with pytest.raises(ValueError, match="states are h0, c0"):
        _parse_units("h1:0", ["h0", "c0"], sizes)
    with pytest.raises(ValueError, match="units 0..7"):
        _parse_units("c0:8", ["h0", "c0"], sizes)
    with pytest.raises(ValueError, match="STATE:INDEX"):
        _parse_units("h0:x", ["h0", "c0"], sizes)


def test_models_are_recognised_by_what_their_folders_hold(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"app": "textgen", "config": {}}))
    export = tmp_path / "export" / "3"
    (export / "assets.extra").mkdir(parents=True)
    (export / "saved_model.pb").write_bytes(b"")
    (export / "assets.extra" / "rnnkit_config.json").write_text(json.dumps({"app": "sentiment", "config": {}}))
    assert (classify(run).app, classify(run).kind) == ("textgen", "run")
    assert (classify(export).app, classify(export).kind) == ("sentiment", "export")
    store = ModelStore([run, export], tmp_path / "cache")
    assert store.get("textgen").path == run and not store.get("textgen").fallback
    with pytest.raises(FileNotFoundError, match="no such file"):
        classify(tmp_path / "missing")
    with pytest.raises(ValueError, match="neither a run folder"):
        classify(tmp_path)
    with pytest.raises(ValueError, match="already given"):
        ModelStore([run, run], tmp_path / "cache")


def test_tasks_have_the_classic_shapes_and_baselines():
    from rnnkit.lab import gradients

    rng = np.random.default_rng(0)
    x, y = gradients.adding_batch(rng, 64, 50)
    assert x.shape == (64, 50, 2) and y.shape == (64, 1)
    assert (x[:, :25, 1].sum(axis=1) == 1).all() and (x[:, 25:, 1].sum(axis=1) == 1).all()
    np.testing.assert_allclose(y[:, 0], (x[..., 0] * x[..., 1]).sum(axis=1), rtol=1e-6)
    x, y = gradients.copy_batch(rng, 8, 30)
    symbols, remember = gradients.COPY_SYMBOLS, gradients.COPY_REMEMBER
    assert x.shape == (8, 30, symbols + 2) and y.shape == (8, remember)
    assert (x.sum(axis=-1)[:, :-remember] == 1).all()  # one-hot (a symbol or blank) until the recall steps
    np.testing.assert_array_equal(np.argmax(x[:, :remember, :symbols], axis=-1), y)
    assert gradients.baseline_loss("adding") == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="cell must be one of"):
        gradients.build_network("elman", "adding", 20)
