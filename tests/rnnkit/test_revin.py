"""RevIN and SegmentRNN: the inverse really inverts, .keras round trips, and SegRNN's contract."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from rnnkit.layers import RevIN, SegmentRNN  # noqa: E402


def windows(batch=3, time=24, channels=4, seed=0):
    rng = np.random.default_rng(seed)
    level = rng.uniform(-50, 50, size=(batch, 1, channels))
    return (level + rng.normal(scale=rng.uniform(0.5, 5, size=(batch, 1, channels)), size=(batch, time, channels))).astype("float32")


@pytest.mark.parametrize("mode", ["std", "mean", "last"])
@pytest.mark.parametrize("affine", [False, True])
def test_reverse_inverts_normalise(mode, affine):
    layer = RevIN(mode=mode, affine=affine)
    x = windows()
    normalised, stats = layer(x)
    if affine:  # a learned scale and shift that are not the identity
        layer.gamma.assign(np.array([0.5, 2.0, 1.5, 0.8], "float32"))
        layer.beta.assign(np.array([0.1, -0.3, 0.0, 2.0], "float32"))
        normalised, stats = layer(x)
    np.testing.assert_allclose(np.asarray(layer(normalised, stats=stats, reverse=True)), x, rtol=1e-5, atol=1e-4)
    # The forecast may hold fewer channels (the targets first) and extra axes (quantiles).
    quantiles = np.repeat(np.asarray(normalised)[:, :5, :2, None], 3, axis=-1)
    back = np.asarray(layer(quantiles, stats=stats, reverse=True))
    np.testing.assert_allclose(back, np.repeat(x[:, :5, :2, None], 3, axis=-1), rtol=1e-5, atol=1e-4)


def test_normalised_windows_have_the_statistics_of_their_mode():
    x = windows()
    normalised, stats = (np.asarray(t) for t in RevIN("std")(x))
    np.testing.assert_allclose(normalised.mean(axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(normalised.std(axis=1), 1, atol=1e-3)
    assert stats.shape == (3, 2, 4)
    last, stats = (np.asarray(t) for t in RevIN("last")(x))
    np.testing.assert_allclose(last[:, -1], 0, atol=1e-5)
    np.testing.assert_allclose(stats[:, 0], x[:, -1])
    flat = np.ones((1, 8, 1), "float32")  # a constant window does not divide by zero
    assert np.isfinite(np.asarray(RevIN("std")(flat)[0])).all()


def test_revin_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="mode must be one of std, mean, last"):
        RevIN("median")
    with pytest.raises(ValueError, match="needs the stats"):
        RevIN("last")(windows(), reverse=True)


def forecaster(cell="gru", channels=4, targets=None, outputs=2, time=24, affine=True):
    window = keras.Input((time, channels))
    revin = RevIN(mode="std", affine=affine)
    x, stats = revin(window)
    out = SegmentRNN(horizon=10, seg_len=6, units=8, cell=cell, dropout=0.3, targets=targets, outputs=outputs)(x)
    return keras.Model(window, revin(out, stats=stats, reverse=True))


@pytest.mark.parametrize("cell", ["gru", "lstm", "simple"])
def test_keras_round_trip_gives_the_same_forecast(cell, tmp_path):
    keras.utils.set_random_seed(1)
    model = forecaster(cell, targets=3)
    x = windows()
    before = np.asarray(model(x))
    assert before.shape == (3, 10, 3, 2)
    path = tmp_path / f"segrnn_{cell}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), before, atol=1e-5)


def test_channels_are_independent_without_covariates_and_covariates_reach_the_targets():
    keras.utils.set_random_seed(2)
    layer = SegmentRNN(horizon=8, seg_len=4, units=6)
    x = windows(channels=3)[:, :16]
    changed = x.copy()
    changed[:, :, 2] += np.random.default_rng(3).normal(size=(3, 16)).astype("float32")
    before, after = np.asarray(layer(x)), np.asarray(layer(changed))
    np.testing.assert_allclose(after[:, :, :2], before[:, :, :2], atol=1e-6)  # other channels untouched
    assert not np.allclose(after[:, :, 2], before[:, :, 2])
    mixed = SegmentRNN(horizon=8, seg_len=4, units=6, targets=2)
    before, after = np.asarray(mixed(x)), np.asarray(mixed(changed))
    assert before.shape == (3, 8, 2, 1) and not np.allclose(after, before)  # channel 2 is a covariate


def test_windows_that_are_not_whole_segments_are_padded_and_decoding_is_parallel():
    keras.utils.set_random_seed(4)
    layer = SegmentRNN(horizon=7, seg_len=4, units=6)  # 10 steps in: padded to 12; 7 out: 2 segments cut to 7
    x = windows(channels=2, time=10)
    out = np.asarray(layer(x))
    assert out.shape == (3, 7, 2, 1) and np.isfinite(out).all()
    # Each row of the batch is forecast alone (batch rows do not mix).
    np.testing.assert_allclose(np.asarray(layer(x[1:2])), out[1:2], atol=1e-5)


def test_segment_rnn_refuses_bad_settings():
    with pytest.raises(ValueError, match="units must be even"):
        SegmentRNN(horizon=4, seg_len=2, units=5)
    with pytest.raises(ValueError, match="cell must be one of gru, lstm, simple"):
        SegmentRNN(horizon=4, seg_len=2, units=4, cell="tcn")
    with pytest.raises(ValueError, match="targets 3 > the window's 2 channels"):
        SegmentRNN(horizon=4, seg_len=2, units=4, targets=3)(windows(channels=2))


@pytest.mark.parametrize("cell", ["gru", "lstm", "simple"])
def test_parallel_decoding_is_one_rnn_step_per_output_segment(cell):
    keras.utils.set_random_seed(5)
    layer = SegmentRNN(horizon=10, seg_len=4, units=6, cell=cell)  # 3 output segments
    layer(windows(channels=2, time=12))
    rng = np.random.default_rng(6)
    states = [rng.normal(size=(3, 2, 6)).astype("float32") for _ in range(2 if cell == "lstm" else 1)]
    fast = np.asarray(layer.decode(states))
    assert fast.shape == (3, 2, 3, 6)
    position, channel = np.asarray(layer.position_embedding), np.asarray(layer.channel_embedding)
    queries = np.concatenate([np.broadcast_to(position[None], (2, 3, 3)), np.broadcast_to(channel[:, None], (2, 3, 3))], -1)
    # The reference: the RNN itself, one step on one row per (window, target, output segment).
    rows = np.broadcast_to(queries[None], (3, 2, 3, 6)).reshape(-1, 1, 6)
    starts = [np.repeat(state[:, :, None], 3, axis=2).reshape(-1, 6) for state in states]
    slow, *_ = layer.rnn(rows, initial_state=starts)
    np.testing.assert_allclose(fast.reshape(-1, 6), np.asarray(slow), atol=1e-5)
