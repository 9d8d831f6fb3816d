"""BahdanauAttention and LuongAttention: scores, masking, shapes, .keras round trips."""

import keras
import numpy as np
import pytest

from rnnkit.layers.bahdanau_attention import BahdanauAttention
from rnnkit.layers.luong_attention import LuongAttention

RNG = np.random.default_rng(0)
LAYERS = [
    pytest.param(lambda: BahdanauAttention(units=8, name="bahdanau"), id="bahdanau"),
    pytest.param(lambda: LuongAttention(score="general", name="luong_general"), id="luong-general"),
    pytest.param(lambda: LuongAttention(score="dot", name="luong_dot"), id="luong-dot"),
]


def random(*shape):
    return RNG.normal(size=shape).astype("float32")


@pytest.mark.parametrize("make", LAYERS)
def test_masked_positions_get_exactly_zero_weight(make):
    layer = make()
    values = random(3, 6, 16)
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 0, 1, 0, 1, 1], [0, 0, 0, 0, 0, 0]], bool)
    context, weights = layer(random(3, 16), values, values_mask=mask)
    weights, context = np.asarray(weights), np.asarray(context)
    assert weights.shape == (3, 6) and context.shape == (3, 16)
    assert np.all(weights[~mask] == 0.0)
    np.testing.assert_allclose(weights[:2].sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(weights[2] == 0.0) and np.all(context[2] == 0.0)  # nothing to attend to: zeros, not NaN
    # The context is the weighted average of the values.
    np.testing.assert_allclose(context, np.einsum("bn,bnd->bd", weights, values), rtol=1e-5, atol=1e-6)
    # Masked values cannot leak into the context, whatever they hold.
    changed = values.copy()
    changed[~mask] = 1e4
    context_changed, _ = layer(np.zeros((3, 16), "float32") + 0.1, changed, values_mask=mask)
    context_same, _ = layer(np.zeros((3, 16), "float32") + 0.1, values, values_mask=mask)
    np.testing.assert_allclose(np.asarray(context_changed), np.asarray(context_same), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", LAYERS)
def test_a_sequence_of_queries_equals_one_query_at_a_time(make):
    layer = make()
    queries, values = random(2, 4, 16), random(2, 5, 16)
    context, weights = layer(queries, values)
    assert tuple(context.shape) == (2, 4, 16) and tuple(weights.shape) == (2, 4, 5)
    for step in range(4):
        one_context, one_weights = layer(queries[:, step], values)
        np.testing.assert_allclose(np.asarray(context)[:, step], np.asarray(one_context), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(weights)[:, step], np.asarray(one_weights), rtol=1e-5, atol=1e-6)


def test_scores_follow_the_published_formulas():
    query, values = random(2, 6), random(2, 3, 6)

    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    additive = BahdanauAttention(units=4)
    _, weights = additive(query, values)
    w_q = additive.query_dense.kernel.numpy()
    w_k, b_k = additive.key_dense.kernel.numpy(), additive.key_dense.bias.numpy()
    v = additive.score_dense.kernel.numpy()[:, 0]
    scores = np.tanh((query @ w_q)[:, None, :] + values @ w_k + b_k) @ v
    np.testing.assert_allclose(np.asarray(weights), softmax(scores), rtol=1e-5)

    general = LuongAttention("general")
    _, weights = general(query, values)
    scores = np.einsum("bd,de,bne->bn", query, general.kernel.numpy(), values)
    np.testing.assert_allclose(np.asarray(weights), softmax(scores), rtol=1e-5)

    _, weights = LuongAttention("dot")(query, values)
    np.testing.assert_allclose(np.asarray(weights), softmax(np.einsum("bd,bnd->bn", query, values)), rtol=1e-5)


def test_the_mask_of_embedded_values_is_used_automatically():
    tokens = keras.Input((None,), dtype="int32")
    state = keras.Input((8,))
    values = keras.layers.Embedding(20, 8, mask_zero=True)(tokens)
    context, weights = LuongAttention("dot")(state, values)
    model = keras.Model([tokens, state], [context, weights])
    _, weights = model.predict([np.array([[3, 4, 0, 0], [5, 0, 0, 0]]), random(2, 8)], verbose=0)
    assert np.all(weights[0, 2:] == 0) and np.all(weights[1, 1:] == 0)
    np.testing.assert_allclose(weights[1, 0], 1.0, rtol=1e-6)


@pytest.mark.parametrize("make", LAYERS)
def test_keras_file_round_trip_keeps_config_and_outputs(make, tmp_path):
    layer = make()
    query = keras.Input((None, 16))
    values = keras.Input((7, 16))
    mask = keras.Input((7,), dtype="bool")
    context, weights = layer(query, values, values_mask=mask)
    model = keras.Model([query, values, mask], [context, weights])
    inputs = [random(2, 3, 16), random(2, 7, 16), RNG.random((2, 7)) > 0.3]
    expected = model.predict(inputs, verbose=0)
    path = tmp_path / "attention.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for got, want in zip(loaded.predict(inputs, verbose=0), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    restored = loaded.get_layer(layer.name)
    assert type(restored) is type(layer) and restored.get_config() == layer.get_config()


def test_constructor_arguments_are_kept_and_bad_ones_refused():
    layer = BahdanauAttention(units=5, kernel_initializer="zeros", name="a", dtype="float32")
    config = layer.get_config()
    assert config["units"] == 5 and config["name"] == "a" and config["kernel_initializer"]["class_name"] == "Zeros"
    assert LuongAttention.from_config(LuongAttention(score="dot").get_config()).score_mode == "dot"
    with pytest.raises(ValueError, match="score must be one of"):
        LuongAttention(score="cosine")
    with pytest.raises(ValueError, match="same size"):
        LuongAttention(score="dot")(random(2, 4), random(2, 3, 6))


def test_docstring_examples_run():
    import doctest

    from rnnkit.layers import bahdanau_attention, luong_attention

    for module in (bahdanau_attention, luong_attention):
        result = doctest.testmod(module)
        assert result.attempted >= 5 and result.failed == 0
