"""rnnkit.masking: the keras.ops functions the mask-aware layers are built from."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from rnnkit import masking  # noqa: E402

LENGTHS = np.array([3, 1, 0, 5], np.int32)


def sequences_with_garbage(features=4, time=5, seed=0):
    """Random real steps; padded steps hold NaN, inf and huge values that must never leak."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(len(LENGTHS), time, features)).astype("float32")
    mask = np.arange(time)[None, :] < LENGTHS[:, None]
    garbage = np.array([np.nan, np.inf, -np.inf, 1e30], np.float32)
    values[~mask] = rng.choice(garbage, size=(int((~mask).sum()), features))
    return values, mask


def test_mask_from_lengths_and_back():
    mask = np.asarray(masking.mask_from_lengths(LENGTHS, 6))
    assert mask.shape == (4, 6) and mask.dtype == bool
    assert mask.sum(axis=1).tolist() == [3, 1, 0, 5]
    assert mask[0].tolist() == [True, True, True, False, False, False]
    assert np.asarray(masking.mask_from_lengths(LENGTHS)).shape == (4, 5)
    assert np.asarray(masking.lengths_from_mask(mask)).tolist() == LENGTHS.tolist()


def test_masked_mean_and_max_read_only_real_steps():
    values, mask = sequences_with_garbage()
    mean = np.asarray(masking.masked_mean(values, mask))
    high = np.asarray(masking.masked_max(values, mask))
    assert np.isfinite(mean).all() and np.isfinite(high).all()
    for row, length in enumerate(LENGTHS):
        if length:
            np.testing.assert_allclose(mean[row], values[row, :length].mean(axis=0), rtol=1e-5)
            np.testing.assert_allclose(high[row], values[row, :length].max(axis=0))
        else:
            assert not mean[row].any() and not high[row].any()


def test_masked_softmax_is_zero_at_padding_and_sums_to_one():
    scores = np.random.default_rng(1).normal(size=(4, 5)).astype("float32") * 30
    mask = np.arange(5)[None, :] < LENGTHS[:, None]
    scores[~mask] = 1e30  # would dominate an unmasked softmax
    weights = np.asarray(masking.masked_softmax(scores, mask))
    assert (weights[~mask] == 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), (LENGTHS > 0).astype("float32"), rtol=1e-6)
    reference = np.exp(scores[0, :3] - scores[0, :3].max())
    np.testing.assert_allclose(weights[0, :3], reference / reference.sum(), rtol=1e-5)


def test_masked_softmax_gradient_is_finite_for_an_empty_row():
    import tensorflow as tf

    scores = tf.Variable(np.zeros((2, 4), np.float32))
    mask = tf.constant([[True, True, False, False], [False, False, False, False]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(masking.masked_softmax(scores, mask) * tf.range(4, dtype=tf.float32))
    gradient = tape.gradient(loss, scores).numpy()
    assert np.isfinite(gradient).all() and not gradient[1].any()


@pytest.mark.parametrize("holes", [False, True])
def test_reverse_valid_reverses_real_steps_and_keeps_padding_last(holes):
    values = np.arange(1, 21, dtype=np.float32).reshape(4, 5)
    mask = np.arange(5)[None, :] < LENGTHS[:, None]
    if holes:
        mask[3] = [True, False, True, True, False]
    reversed_values, order = masking.reverse_valid(values, mask)
    reversed_values = np.asarray(reversed_values)
    for row in range(4):
        real = values[row][mask[row]]
        count = len(real)
        assert reversed_values[row, :count].tolist() == real[::-1].tolist()
        assert reversed_values[row, count:].tolist() == values[row][~mask[row]].tolist()
    restored = masking.take_steps(reversed_values, masking.invert_order(order))
    np.testing.assert_array_equal(np.asarray(restored), values)


def test_reverse_valid_without_mask_flips_time():
    values = np.arange(6, dtype=np.float32).reshape(1, 3, 2)
    flipped, order = masking.reverse_valid(values, None)
    np.testing.assert_array_equal(np.asarray(flipped), values[:, ::-1])
    assert np.asarray(order).tolist() == [[2, 1, 0]]


def test_masked_fill_broadcasts_over_extra_feature_axes():
    values = np.ones((2, 3, 2, 2), np.float32)
    mask = np.array([[True, False, True], [False, False, True]])
    filled = np.asarray(masking.masked_fill(values, mask, -1.0))
    assert (filled[~mask] == -1).all() and (filled[mask] == 1).all()
    assert ops.convert_to_numpy(masking.masked_fill(values, None)).shape == values.shape
