"""NgramBag: the words and hashed word pairs of a row of ids, as one linear model."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from rnnkit.export import tflite  # noqa: E402
from rnnkit.layers import NgramBag  # noqa: E402

VOCAB, BUCKETS = 10, 7


def layer_with_table():
    layer = NgramBag(VOCAB, BUCKETS)
    layer.build((None, None))
    layer.table.assign(np.arange(VOCAB + BUCKETS, dtype="float32")[:, None] / 10)
    return layer


def by_hand(row):
    """The sum of a row's word rows and pair rows over the root of their count, written out."""
    table = np.arange(VOCAB + BUCKETS) / 10
    words = [i for i in row if i > 0]
    pairs = [VOCAB + (a * VOCAB + b) % BUCKETS for a, b in zip(row[:-1], row[1:], strict=False) if a > 0 and b > 0]
    return (sum(table[i] for i in words) + sum(table[i] for i in pairs)) / np.sqrt(max(1, len(words) + len(pairs)))


def test_each_word_and_pair_adds_its_row():
    layer = layer_with_table()
    rows = [[3, 9, 1, 4], [2, 5, 0, 0], [0, 0, 0, 0]]
    out = np.asarray(layer(np.asarray(rows, "int32")))[:, 0]
    np.testing.assert_allclose(out, [by_hand(row) for row in rows], rtol=1e-6)
    assert out[2] == 0.0


def test_padding_changes_nothing_and_order_matters():
    layer = layer_with_table()
    short = np.asarray(layer(np.asarray([[3, 9, 4]], "int32")))
    padded = np.asarray(layer(np.asarray([[3, 9, 4, 0, 0, 0]], "int32")))
    swapped = np.asarray(layer(np.asarray([[9, 3, 4]], "int32")))
    np.testing.assert_allclose(short, padded, rtol=1e-6)
    assert not np.allclose(short, swapped), "word pairs depend on the order of the words"


def test_the_rate_multiplier_scales_the_output_so_its_rows_move_faster():
    fast = NgramBag(VOCAB, BUCKETS, rate_multiplier=4.0)
    fast.build((None, None))
    fast.table.assign(layer_with_table().table)
    ids = np.asarray([[3, 9, 1, 4]], "int32")
    np.testing.assert_allclose(np.asarray(fast(ids)), 4 * np.asarray(layer_with_table()(ids)), rtol=1e-6)
    with pytest.raises(ValueError, match="rate_multiplier"):
        NgramBag(VOCAB, BUCKETS, rate_multiplier=0)


def test_words_alone_without_buckets():
    layer = NgramBag(VOCAB)
    layer.build((None, None))
    layer.table.assign(np.arange(VOCAB, dtype="float32")[:, None])
    np.testing.assert_allclose(np.asarray(layer(np.asarray([[2, 4, 0]], "int32"))), [[6 / np.sqrt(2)]], rtol=1e-6)


def test_it_learns_a_pair_that_no_word_gives_away(tmp_path):
    # "not good" (1 2) is negative, "good not" (2 1) positive: the same words, only their order differs.
    ids = keras.Input((None,), dtype="int32")
    model = keras.Model(ids, keras.layers.Activation("sigmoid")(NgramBag(VOCAB, 101)(ids)))
    from rnnkit.training import make_optimizer

    model.compile(make_optimizer("adam", 0.1), "binary_crossentropy", metrics=["accuracy"])
    x = np.asarray([[1, 2, 5], [2, 1, 5]] * 16, "int32")
    y = np.asarray([0, 1] * 16, "float32")
    model.fit(x, y, epochs=20, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] == 1.0
    model.save(tmp_path / "bag.keras")
    again = keras.saving.load_model(tmp_path / "bag.keras")
    np.testing.assert_allclose(np.asarray(again(x[:2])), np.asarray(model(x[:2])), rtol=1e-6)


def test_it_converts_to_builtin_tflite():
    layer = layer_with_table()
    spec = tf.TensorSpec((1, 6), tf.int32, name="ids")
    content = tflite.convert_function(lambda ids: {"score": layer(ids)}, [spec], track=[layer])
    cases = [{"ids": np.asarray([[3, 9, 1, 4, 0, 0]], "int32")}, {"ids": np.asarray([[9, 9, 9, 9, 9, 9]], "int32")}]
    check = tflite.verify(content, lambda ids: {"score": layer(ids)}, cases, signature_key="serve", atol=1e-5)
    assert check.cases == 2 and not any(op.startswith("Flex") for op in check.ops)
