"""The sentiment model: shapes, padding that changes nothing, explanations, .keras round trip."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from apps.sentiment.config import SentimentConfig  # noqa: E402
from apps.sentiment.model import build_model, explaining_model, predict_probabilities  # noqa: E402

SMALL = dict(units=4, embedding_dim=6, attention_units=5, vocab_size=30)
PAIRS = np.array([5 * 32 + 6, 6 * 32 + 7, 1 * 32 + 2, 10 * 32 + 11])  # the n-gram bag's known word pairs (ngrams=pairs)


@pytest.mark.parametrize("cell, pooling, layers", [("lstm", "attention_max", 1), ("gru", "attention", 2),
                                                   ("gru", "mean_max", 1), ("simple", "attention_mean_max", 1)])
def test_probability_ignores_padding(cell, pooling, layers):
    keras.utils.set_random_seed(0)
    model = build_model(SentimentConfig(cell=cell, pooling=pooling, num_layers=layers, **SMALL), 32, PAIRS)
    ids = np.array([[5, 6, 7, 8, 0, 0], [9, 0, 0, 0, 0, 0]], np.int32)
    longer = np.concatenate([ids, np.zeros((2, 5), np.int32)], axis=1)
    short = model(ids).numpy()
    assert short.shape == (2, 1) and ((0 < short) & (short < 1)).all()
    np.testing.assert_allclose(model(longer).numpy(), short, atol=1e-6)
    np.testing.assert_allclose(model(ids[:1, :4]).numpy(), short[:1], atol=1e-6)


def test_explaining_model_shares_weights_and_its_attention_covers_real_words():
    keras.utils.set_random_seed(1)
    model = build_model(SentimentConfig(**SMALL), 32, PAIRS)
    explainer = explaining_model(model)
    ids = np.array([[5, 6, 7, 0], [0, 0, 0, 0]], np.int32)
    probability, attention = (value.numpy() for value in explainer(ids))
    np.testing.assert_allclose(probability, model(ids).numpy()[:, 0], atol=1e-6)
    np.testing.assert_allclose(attention.sum(axis=1), [1.0, 0.0], atol=1e-6)
    assert (attention[0, 3:] == 0).all() and np.isfinite(probability).all()
    with pytest.raises(ValueError, match="no weights to explain"):
        explaining_model(build_model(SentimentConfig(pooling="mean_max", **SMALL), 32, PAIRS))


def test_predict_probabilities_keeps_the_callers_order():
    keras.utils.set_random_seed(2)
    model = build_model(SentimentConfig(**SMALL), 32, PAIRS)
    rows = [np.array(row, np.int32) for row in ([3, 4, 5, 6, 7, 8], [9], [], [10, 11, 12])]
    probabilities, attention = predict_probabilities(model, rows, batch_size=2, with_attention=True)
    for row, probability, weights in zip(rows, probabilities, attention, strict=True):
        alone = model(np.asarray(row if len(row) else [0], np.int32)[None, :]).numpy()[0, 0]
        assert probability == pytest.approx(alone, abs=1e-6)
        assert weights.sum() == pytest.approx(1.0 if len(row) else 0.0, abs=1e-6)


def test_model_round_trips_through_keras_file(tmp_path):
    keras.utils.set_random_seed(3)
    model = build_model(SentimentConfig(num_layers=2, **SMALL), 32, PAIRS)
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
    with pytest.raises(ValueError, match="cell must be one of lstm, gru, simple"):
        load_config(SentimentConfig, overrides=["cell=elman"])
    with pytest.raises(ValueError, match="adversarial must be 0"):
        load_config(SentimentConfig, overrides=["adversarial=-1"])


def test_adversarial_training_moves_the_weights_and_saves_only_the_classifier_for_use(tmp_path):
    from apps.sentiment.model import (
        AdversarialTrainer,
        classifier_of,
        compile_model,
        training_model,
    )

    keras.utils.set_random_seed(4)
    config = SentimentConfig(adversarial=0.5, learning_rate=0.01, epochs=1, **SMALL)
    classifier = build_model(config, 32, PAIRS)
    model = compile_model(training_model(config, classifier), config, steps_per_epoch=2)
    assert isinstance(model, AdversarialTrainer) and classifier_of(model) is classifier
    ids = np.random.default_rng(0).integers(0, 32, (16, 7)).astype(np.int32)
    labels = (ids[:, 0] > 15).astype(np.float32)
    before = classifier.get_layer("embedding").get_weights()[0].copy()
    history = model.fit(ids, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(classifier.get_layer("embedding").get_weights()[0], before)
    model.save(tmp_path / "wrapped.keras")  # what a run's checkpoints hold, so --resume keeps the wrapper
    loaded = keras.saving.load_model(tmp_path / "wrapped.keras", safe_mode=True)
    assert isinstance(loaded, AdversarialTrainer) and loaded.epsilon == 0.5
    plain = classifier_of(loaded)
    assert type(plain).__name__ == "Functional" and plain.name == "sentiment"
    np.testing.assert_allclose(plain(ids).numpy(), classifier(ids).numpy(), atol=1e-6)


def test_adversarial_off_trains_the_plain_classifier():
    from apps.sentiment.model import training_model

    config = SentimentConfig(adversarial=0.0, **SMALL)
    classifier = build_model(config, 32, PAIRS)
    assert training_model(config, classifier) is classifier


def test_pretraining_lowers_the_language_model_loss_and_is_copied_into_the_classifier():
    import tensorflow as tf

    from apps.sentiment.data import bucket_plan
    from apps.sentiment.pretrain import apply_pretrained, pretrain

    keras.utils.set_random_seed(5)
    config = SentimentConfig(pretrain_epochs=3, pretrain_samples=8, learning_rate=0.02, batch_size=8,
                             num_buckets=2, **SMALL)
    rows = [[2 + (i + j) % 6 for j in range(5 + i % 7)] for i in range(48)]  # a predictable "language"
    ids = tf.ragged.constant(rows, dtype=tf.int64)
    lengths = np.array([len(row) for row in rows])
    weights, report = pretrain(ids, 32, config, bucket_plan(lengths, config), log=lambda line: None)
    losses = [epoch["loss"] for epoch in report["epochs"]]
    assert len(losses) == 3 and losses[-1] < losses[0]
    classifier = build_model(config, 32, PAIRS)
    apply_pretrained(classifier, weights)
    np.testing.assert_array_equal(classifier.get_layer("embedding").get_weights()[0], weights["embedding"][0])
    birnn = classifier.get_layer("birnn_0")
    for layer, key in ((birnn.forward_layer, "forward"), (birnn.backward_layer, "backward")):
        for actual, expected in zip(layer.get_weights(), weights[key], strict=True):
            np.testing.assert_array_equal(actual, expected)


def test_language_model_softmax_starts_as_the_unigram_model():
    from apps.sentiment.pretrain import language_models

    log_frequencies = np.log(np.array([1e-9, 0.1, 0.5, 0.25, 0.15 - 1e-9]))
    *_, softmax_weights, softmax_biases = language_models(SentimentConfig(**SMALL), 5, log_frequencies)
    np.testing.assert_allclose(np.asarray(softmax_biases), log_frequencies, rtol=1e-6)
    assert np.asarray(softmax_weights).shape == (5, SMALL["units"])


def test_the_ngram_branch_adds_to_the_logit_ignores_padding_and_round_trips(tmp_path):
    keras.utils.set_random_seed(4)
    config = SentimentConfig(ngrams="hashed", ngram_buckets=13, **SMALL)
    model = build_model(config, 32, PAIRS)
    ids = np.array([[5, 6, 7, 8, 0, 0], [9, 0, 0, 0, 0, 0]], np.int32)
    before = model(ids).numpy()
    table = model.get_layer("ngrams").table
    table.assign(0.01 * np.random.default_rng(0).normal(size=table.shape).astype("float32"))  # x ngram_rate 50
    after = model(ids).numpy()
    logit = np.log(after / (1 - after)) - np.log(before / (1 - before))
    np.testing.assert_allclose(logit, model.get_layer("ngrams")(ids).numpy(), atol=1e-4)
    np.testing.assert_allclose(model(np.concatenate([ids, np.zeros((2, 3), np.int32)], 1)).numpy(), after, atol=1e-6)
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "model.keras")(ids).numpy(), after, atol=1e-6)


def test_drop_path_trains_each_branch_alone_for_some_reviews_and_predicts_with_both():
    keras.utils.set_random_seed(5)
    config = SentimentConfig(drop_path=0.5, **SMALL)
    model = build_model(config, 32, PAIRS)
    table = model.get_layer("ngrams").table
    table.assign(np.full(table.shape, 0.05, "float32"))  # every review's bag logit is positive
    ids = np.tile(np.array([[5, 6, 7, 8]], np.int32), (400, 1))
    rnn = keras.Model(model.input, model.get_layer("rnn_logit").output)(ids, training=False).numpy()[:, 0]
    bag = model.get_layer("ngrams")(ids).numpy()[:, 0]
    probability = model(ids, training=False).numpy()[:, 0]
    np.testing.assert_allclose(np.log(probability / (1 - probability)), rnn + bag, atol=1e-4)
    join = model.get_layer("logit")
    trained = join([rnn[:, None], bag[:, None]], training=True).numpy()[:, 0]
    alone = {name: np.isclose(trained, value, atol=1e-6) for name, value in (("rnn", rnn), ("bag", bag))}
    assert 0.25 < alone["rnn"].mean() < 0.5 and 0.25 < alone["bag"].mean() < 0.5
    with pytest.raises(ValueError, match="drop_path"):
        SentimentConfig(drop_path=1.0).validate()


def test_the_default_bag_knows_the_training_reviews_word_pairs_and_needs_them():
    import tensorflow as tf

    from apps.sentiment.model import training_pairs

    config = SentimentConfig(**SMALL)
    train_ids = tf.ragged.constant([[5, 6, 7], [5, 6, 9, 9], [7, 8], [1, 5, 6]], dtype=tf.int64)
    keys = training_pairs(config, train_ids, 32)
    assert keys.tolist() == [5 * 32 + 6]  # the only pair in at least ngram_min_reviews=2 reviews
    assert training_pairs(SentimentConfig(ngrams="hashed", **SMALL), train_ids, 32) is None
    model = build_model(config, 32, keys)
    bag = model.get_layer("ngrams")
    bag.table.assign(np.arange(bag.table.shape[0], dtype="float32")[:, None] / 1000)
    known, unknown = (bag(np.array([row], np.int32)).numpy()[0, 0] for row in ([5, 6], [6, 5]))
    assert known == pytest.approx(50 * (0.005 + 0.006 + 0.032) / np.sqrt(3))  # words 5, 6 and the pair's row 32
    assert unknown == pytest.approx(50 * (0.006 + 0.005) / np.sqrt(2))  # (6 5) was in no training review
    with pytest.raises(ValueError, match="needs the word pairs of the training reviews"):
        build_model(config, 32)
    with pytest.raises(ValueError, match="ngrams must be one of"):
        SentimentConfig(ngrams="trigrams").validate()
