import numpy as np
import pytest

keras = pytest.importorskip("keras")

from apps.textgen.config import TextGenConfig  # noqa: E402
from apps.textgen.data import Vocabulary  # noqa: E402
from apps.textgen.model import Generator, build_model, build_step_model, zero_states  # noqa: E402

TEXT = "the quick brown fox jumps over the lazy dog\n" * 3


@pytest.fixture(params=["lstm", "gru", "simple"])
def model(request):
    keras.utils.set_random_seed(0)
    config = TextGenConfig(cell=request.param, num_layers=2, units=16, embedding_dim=8)
    return build_model(config, len(Vocabulary.from_text(TEXT)))


def test_one_step_at_a_time_equals_the_sequence_model(model):
    vocabulary = Vocabulary.from_text(TEXT)
    ids, _ = vocabulary.encode(TEXT[:30])
    full = np.asarray(model(ids[None, :]))[0]
    step = build_step_model(model)
    states = zero_states(model)
    for position, token in enumerate(ids):
        logits, *states = step([np.array([token], np.int32), *states])
        np.testing.assert_allclose(np.asarray(logits)[0], full[position], atol=1e-5)


def test_prime_reads_ragged_rows_like_separate_calls(model):
    import tensorflow as tf

    generator = Generator(model, Vocabulary.from_text(TEXT))
    rows = ["the quick", "lazy", "x"]
    batch_ids = [generator.vocabulary.encode(row)[0] for row in rows]
    width = max(len(ids) for ids in batch_ids)
    dense = np.zeros((len(rows), width), np.int32)
    mask = np.zeros((len(rows), width), bool)
    for index, ids in enumerate(batch_ids):
        dense[index, : len(ids)] = ids
        mask[index, : len(ids)] = True
    last, states = generator.prime(tf.constant(dense), tf.constant(mask))
    for index, ids in enumerate(batch_ids):
        alone_last, alone_states = generator.prime(tf.constant(ids[None, :]), tf.ones((1, len(ids)), tf.bool))
        assert int(last[index]) == int(alone_last[0]) == ids[-1]
        for together, alone in zip(states, alone_states, strict=True):
            np.testing.assert_allclose(np.asarray(together)[index], np.asarray(alone)[0], atol=1e-5)


def test_same_seed_same_text_for_any_chunk_size(model):
    generator = Generator(model, Vocabulary.from_text(TEXT))
    first = generator.generate("the ", 40, temperature=1.0, seed=42, chunk=1)
    assert len(first) == 40 and set(first) <= set(TEXT)
    assert generator.generate("the ", 40, temperature=1.0, seed=42, chunk=13) == first
    assert generator.generate("the ", 40, temperature=1.0, seed=43) != first


def test_greedy_sampling_and_odd_primes(model):
    generator = Generator(model, Vocabulary.from_text(TEXT))
    greedy = generator.generate("the", 20, temperature=0.0, seed=1)
    assert greedy == generator.generate("the", 20, temperature=0.0, seed=2), "temperature 0 ignores the seed"
    assert len(generator.generate("", 10, seed=1)) == 10, "an empty prime starts from the start character"
    assert generator.generate("€€€", 10, seed=1) == generator.generate("", 10, seed=1), "unknown characters are skipped"
    assert generator.generate("the", 0) == ""
    with pytest.raises(ValueError, match="top_p"):
        generator.generate("the", 5, top_p=0.0)


def test_embedding_starts_at_unit_scale_by_default_and_uniform_on_request():
    """N(0, 1) rows feed the RNN inputs at the scale its Glorot kernel expects (Keras' own U(-0.05, 0.05) is 20x smaller)."""
    default = build_model(TextGenConfig(num_layers=1, units=8, embedding_dim=64), 200)
    spread = np.std(default.get_layer("embedding").get_weights()[0])
    assert 0.9 < spread < 1.1
    uniform = build_model(TextGenConfig(num_layers=1, units=8, embedding_dim=64, embedding_init="uniform"), 200)
    assert np.abs(uniform.get_layer("embedding").get_weights()[0]).max() <= 0.05
    with pytest.raises(ValueError, match="embedding_init"):
        TextGenConfig(embedding_init="zeros").validate()
