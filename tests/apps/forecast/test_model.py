"""The forecast models: every family and cell, quantiles that never cross, the pinball loss, SimpleRNN end to end."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from apps.forecast.config import ForecastConfig  # noqa: E402
from apps.forecast.model import PinballLoss, build_model, compile_model, predict_windows  # noqa: E402

SMALL = dict(seq_len=16, horizon=6, seg_len=4, units=8, batch_size=8, dropout=0.1)


def batch(features=3, targets=2, rows=8, seed=0):
    rng = np.random.default_rng(seed)
    history = rng.normal(size=(rows, 16, features)).astype("float32")
    future = rng.normal(size=(rows, 6, targets)).astype("float32")
    return history, {"forecast": future, "quantiles": future}


@pytest.mark.parametrize("family, cell", [("segrnn", "lstm"), ("rnn", "gru"), ("rnn", "simple"), ("seq2seq", "gru")])
def test_every_family_and_cell_forecasts_with_ordered_quantiles(family, cell):
    # Training steps are taken by the SimpleRNN test below and by the command tests (SegRNN with GRU).
    keras.utils.set_random_seed(0)
    config = ForecastConfig(model=family, cell=cell, **SMALL)
    model = build_model(config, 3, 2)
    history, _ = batch()
    forecast, quantiles = predict_windows(model, history)
    assert forecast.shape == (8, 6, 2) and quantiles.shape == (8, 6, 2, 3)
    assert (np.diff(quantiles, axis=-1) >= 0).all()  # 0.1 <= 0.5 <= 0.9 everywhere


def test_point_forecast_only_when_no_quantiles_are_asked_for():
    config = ForecastConfig(quantiles=(), **SMALL)
    model = build_model(config, 3, 2)
    history, _ = batch()
    assert set(model(history)) == {"forecast"}


def test_revin_makes_the_forecast_follow_the_window_level():
    keras.utils.set_random_seed(1)
    model = build_model(ForecastConfig(revin="last", **SMALL), 3, 2)
    history, _ = batch()
    base = np.asarray(model(history)["forecast"])
    shifted = np.asarray(model(history + 100.0)["forecast"])
    np.testing.assert_allclose(shifted, base + 100.0, atol=1e-3)


def test_a_longer_input_is_cropped_to_the_lookback():
    keras.utils.set_random_seed(2)
    config = ForecastConfig(**SMALL)
    model = build_model(config, 3, 2)
    wide = build_model(config, 3, 2, input_steps=24)
    wide.set_weights(model.get_weights())
    history, _ = batch()
    longer = np.concatenate([np.full((8, 8, 3), 1e3, np.float32), history], axis=1)
    np.testing.assert_allclose(np.asarray(wide(longer)["forecast"]), np.asarray(model(history)["forecast"]), atol=1e-5)


def test_pinball_loss_is_the_quantile_loss():
    loss = PinballLoss([0.1, 0.9])
    truth = np.zeros((1, 1, 1), np.float32)
    prediction = np.array([[[[1.0, 1.0]]]], np.float32)  # both above the truth: (1 - q) * 1
    assert float(loss(truth, prediction)) == pytest.approx((0.9 + 0.1) / 2)
    below = np.array([[[[-2.0, -2.0]]]], np.float32)  # both below: q * 2
    assert float(loss(truth, below)) == pytest.approx((0.1 * 2 + 0.9 * 2) / 2)
    assert PinballLoss.from_config(loss.get_config()).quantiles == [0.1, 0.9]


def test_simple_cell_saves_loads_and_converts_to_builtin_tflite(tmp_path):
    """Issue 16: the Elman SimpleRNN trains, round-trips through .keras and exports like the others."""
    import tensorflow as tf

    from rnnkit.export import tflite

    keras.utils.set_random_seed(3)
    config = ForecastConfig(cell="simple", **SMALL)
    model = compile_model(build_model(config, 3, 2), config, 1)
    history, labels = batch()
    model.fit(history, labels, epochs=1, verbose=0)
    model.save(tmp_path / "simple.keras")
    loaded = keras.saving.load_model(tmp_path / "simple.keras", compile=True)
    np.testing.assert_allclose(np.asarray(loaded(history)["forecast"]), np.asarray(model(history)["forecast"]), atol=1e-5)
    content = tflite.convert_function(lambda history: loaded(history, training=False),
                                      [tf.TensorSpec((1, 16, 3), tf.float32, name="history")], track=[loaded])
    check = tflite.verify(content, lambda history: {k: np.asarray(v) for k, v in loaded(history, training=False).items()},
                          [{"history": history[i:i + 1]} for i in range(3)], signature_key="serve", atol=1e-4)
    assert "WHILE" in check.ops and check.cases == 3


def test_linear_skip_adds_a_linear_forecast_and_round_trips(tmp_path):
    keras.utils.set_random_seed(4)
    config = ForecastConfig(linear_skip=True, **SMALL)
    model = build_model(config, 3, 2)
    history, _ = batch()
    skip = model.get_layer("linear_skip")
    before = np.asarray(model(history)["forecast"])
    kernel = np.zeros((16, 6), np.float32)
    kernel[-1] = 1.0  # the normalised window's last value (0 with revin=last) ...
    skip.bias.assign(np.full(6, 2.0, np.float32))  # ... plus 2 on every step
    skip.kernel.assign(kernel)
    np.testing.assert_allclose(np.asarray(model(history)["forecast"]), before + 2.0, atol=1e-4)
    model.save(tmp_path / "skip.keras")
    loaded = keras.saving.load_model(tmp_path / "skip.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(history)["forecast"]), before + 2.0, atol=1e-4)
