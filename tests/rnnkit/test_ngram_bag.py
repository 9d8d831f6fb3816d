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


def known_pairs_layer(keys):
    layer = NgramBag(VOCAB, pairs=keys)
    layer.build((None, None))
    layer.table.assign(np.arange(VOCAB + len(layer.pair_keys.numpy()), dtype="float32")[:, None] / 10)
    return layer


def test_known_pairs_get_their_own_row_and_unknown_pairs_count_for_nothing():
    keys = [3 * VOCAB + 9, 9 * VOCAB + 1, 2 * VOCAB + 5, 7 * VOCAB + 7]  # (3 9) (9 1) (2 5) (7 7); any order
    layer = known_pairs_layer(keys)
    table, ordered = np.arange(VOCAB + len(keys)) / 10, sorted(keys)

    def expected(row):
        words = [i for i in row if i > 0]
        pairs = [VOCAB + ordered.index(a * VOCAB + b) for a, b in zip(row[:-1], row[1:], strict=False)
                 if a > 0 and b > 0 and a * VOCAB + b in ordered]
        return (sum(table[i] for i in words) + sum(table[i] for i in pairs)) / np.sqrt(max(1, len(words) + len(pairs)))

    rows = [[3, 9, 1, 4], [2, 5, 0, 0], [4, 4, 4, 4], [7, 7, 7, 0], [0, 0, 0, 0], [9, 9, 9, 9]]
    out = np.asarray(layer(np.asarray(rows, "int32")))[:, 0]
    np.testing.assert_allclose(out, [expected(row) for row in rows], rtol=1e-6)
    assert out[4] == 0.0
    for count in range(1, 9):  # the binary search at every size, keys below, between and above the query
        many = known_pairs_layer(np.arange(count) * 11 + 5)
        ids = np.asarray([[a, b] for a in range(VOCAB) for b in range(1, VOCAB)], "int32")
        got = np.asarray(many(ids))[:, 0]
        keys_of = ids[:, 0] * VOCAB + ids[:, 1]
        known = np.arange(count) * 11 + 5
        rows_of = [VOCAB + list(known).index(k) if k in known and a > 0 else None  # a pair with padding is none
                   for k, a in zip(keys_of, ids[:, 0], strict=True)]
        want = [(a / 10 * (a > 0) + b / 10 + (0 if r is None else r / 10)) / np.sqrt((a > 0) + 1 + (r is not None))
                for (a, b), r in zip(ids, rows_of, strict=True)]
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{count} known keys")


def test_frequent_pairs_counts_each_text_once_and_skips_padding():
    from rnnkit.layers import frequent_pairs

    rows = [[1, 2, 1, 2, 0, 0], [1, 2, 3], [3, 4], [0, 3, 4], [5, 6]]
    assert frequent_pairs(rows, VOCAB, min_texts=2).tolist() == [1 * VOCAB + 2, 3 * VOCAB + 4]
    assert 2 * VOCAB + 1 in frequent_pairs(rows, VOCAB, min_texts=1)  # (2 1) is in one text, twice
    ragged = tf.ragged.constant([[1, 2, 1, 2], [1, 2, 3], [3, 4], [3, 4], [5, 6]], dtype=tf.int64)
    assert frequent_pairs(ragged, VOCAB).tolist() == [1 * VOCAB + 2, 3 * VOCAB + 4]
    with pytest.raises(ValueError, match="buckets"):
        NgramBag(VOCAB, BUCKETS, pairs=[12])


def test_known_pairs_round_trip_and_convert_to_builtin_tflite(tmp_path):
    ids = keras.Input((None,), dtype="int32")
    model = keras.Model(ids, NgramBag(VOCAB, pairs=[3 * VOCAB + 9, 2 * VOCAB + 5, 9 * VOCAB + 9])(ids))
    bag = model.layers[-1]
    bag.table.assign(np.random.default_rng(0).normal(size=bag.table.shape).astype("float32"))
    model.save(tmp_path / "pairs.keras")
    again = keras.saving.load_model(tmp_path / "pairs.keras")
    x = np.asarray([[3, 9, 1, 4, 0, 0], [9, 9, 9, 2, 5, 0]], "int32")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), rtol=1e-6)
    assert again.layers[-1].pair_keys.numpy().tolist() == sorted([3 * VOCAB + 9, 2 * VOCAB + 5, 9 * VOCAB + 9])
    spec = tf.TensorSpec((1, 6), tf.int32, name="ids")
    content = tflite.convert_function(lambda ids: {"score": again(ids)}, [spec], track=[again])
    check = tflite.verify(content, lambda ids: {"score": again(ids)}, [{"ids": x[:1]}, {"ids": x[1:]}],
                          signature_key="serve", atol=1e-5)
    assert check.cases == 2 and not any(op.startswith("Flex") for op in check.ops)


def test_dropout_leaves_out_words_and_pairs_in_training_only_and_keeps_the_mean():
    layer = NgramBag(VOCAB, BUCKETS, dropout=0.5, seed=3)
    layer.build((None, None))
    layer.table.assign(layer_with_table().table)
    ids = np.tile(np.asarray([[3, 9, 1, 4, 2, 6]], "int32"), (4000, 1))
    plain = np.asarray(layer_with_table()(ids[:1]))[0, 0]
    np.testing.assert_allclose(np.asarray(layer(ids[:1])), [[plain]], rtol=1e-6)  # inference: no dropout
    trained = np.asarray(layer(ids, training=True))[:, 0]
    assert len(np.unique(np.round(trained, 5))) > 20, "each text draws its own words and pairs"
    assert abs(trained.mean() - plain) < 0.02 * plain, "the kept ones are scaled so the mean stays"
    with pytest.raises(ValueError, match="dropout"):
        NgramBag(VOCAB, dropout=1.0)
