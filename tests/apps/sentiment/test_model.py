"""The sentiment model: shapes, padding that changes nothing, explanations, .keras round trip."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from apps.sentiment.config import SentimentConfig  # noqa: E402
from apps.sentiment.model import build_model, explaining_model, predict_probabilities  # noqa: E402

SMALL = dict(units=4, embedding_dim=6, attention_units=5, vocab_size=30)


@pytest.mark.parametrize("cell, pooling, layers", [("lstm", "attention_max", 1), ("gru", "attention", 2),
                                                   ("gru", "mean_max", 1)])
def test_probability_ignores_padding(cell, pooling, layers):
    keras.utils.set_random_seed(0)
    model = build_model(SentimentConfig(cell=cell, pooling=pooling, num_layers=layers, **SMALL), 32)
    ids = np.array([[5, 6, 7, 8, 0, 0], [9, 0, 0, 0, 0, 0]], np.int32)
    longer = np.concatenate([ids, np.zeros((2, 5), np.int32)], axis=1)
    short = model(ids).numpy()
    assert short.shape == (2, 1) and ((0 < short) & (short < 1)).all()
    np.testing.assert_allclose(model(longer).numpy(), short, atol=1e-6)
    np.testing.assert_allclose(model(ids[:1, :4]).numpy(), short[:1], atol=1e-6)


def test_explaining_model_shares_weights_and_its_attention_covers_real_words():
    keras.utils.set_random_seed(1)
    model = build_model(SentimentConfig(**SMALL), 32)
    explainer = explaining_model(model)
    ids = np.array([[5, 6, 7, 0], [0, 0, 0, 0]], np.int32)
    probability, attention = (value.numpy() for value in explainer(ids))
    np.testing.assert_allclose(probability, model(ids).numpy()[:, 0], atol=1e-6)
    np.testing.assert_allclose(attention.sum(axis=1), [1.0, 0.0], atol=1e-6)
    assert (attention[0, 3:] == 0).all() and np.isfinite(probability).all()
    with pytest.raises(ValueError, match="no weights to explain"):
        explaining_model(build_model(SentimentConfig(pooling="mean_max", **SMALL), 32))


def test_predict_probabilities_keeps_the_callers_order():
    keras.utils.set_random_seed(2)
    model = build_model(SentimentConfig(**SMALL), 32)
    rows = [np.array(row, np.int32) for row in ([3, 4, 5, 6, 7, 8], [9], [], [10, 11, 12])]
    probabilities, attention = predict_probabilities(model, rows, batch_size=2, with_attention=True)
    for row, probability, weights in zip(rows, probabilities, attention, strict=True):
        alone = model(np.asarray(row if len(row) else [0], np.int32)[None, :]).numpy()[0, 0]
        assert probability == pytest.approx(alone, abs=1e-6)
        assert weights.sum() == pytest.approx(1.0 if len(row) else 0.0, abs=1e-6)


def test_model_round_trips_through_keras_file(tmp_path):
    keras.utils.set_random_seed(3)
    model = build_model(SentimentConfig(num_layers=2, **SMALL), 32)
    ids = np.array([[1, 2, 3, 0], [4, 5, 0, 0]], np.int32)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(ids).numpy(), model(ids).numpy(), atol=1e-6)


def test_config_refuses_bad_values_with_the_field_name():
    from rnnkit.config import load_config

    with pytest.raises(ValueError, match="pooling must be one of"):
        load_config(SentimentConfig, overrides=["pooling=median"])
    with pytest.raises(ValueError, match="val_fraction must be in"):
        load_config(SentimentConfig, overrides=["val_fraction=0.7"])
    with pytest.raises(ValueError, match="vocab_size must be at least 3"):
        load_config(SentimentConfig, overrides=["vocab_size=2"])
