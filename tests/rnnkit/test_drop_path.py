"""DropPath: a sum of branches that, in training, leaves branches out of some examples' sums."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from rnnkit.layers import DropPath  # noqa: E402


def two_branches(batch=4000):
    return np.ones((batch, 1), "float32"), np.full((batch, 1), 10.0, "float32")


def test_at_inference_it_is_the_sum():
    a, b = two_branches(5)
    np.testing.assert_allclose(np.asarray(DropPath(0.5)([a, b])), a + b)
    np.testing.assert_allclose(np.asarray(DropPath(0.5)([a, b], training=False)), a + b)


def test_in_training_each_example_keeps_at_least_one_branch_in_the_expected_shares():
    a, b = two_branches()
    out = np.asarray(DropPath(0.5, seed=3)([a, b], training=True))[:, 0]
    values, counts = np.unique(out, return_counts=True)
    shares = dict(zip(values.tolist(), (counts / len(out)).tolist(), strict=True))
    assert set(shares) == {1.0, 10.0, 11.0}, "an example's sum is never empty and never rescaled"
    # both kept 1/4; one alone 1/4 plus half of the 1/4 where both were dropped
    assert shares[11.0] == pytest.approx(0.25, abs=0.03)
    assert shares[1.0] == pytest.approx(0.375, abs=0.03)
    assert shares[10.0] == pytest.approx(0.375, abs=0.03)


def test_rate_zero_trains_on_the_plain_sum_and_bad_rates_are_refused():
    a, b = two_branches(50)
    np.testing.assert_allclose(np.asarray(DropPath(0.0)([a, b], training=True)), a + b)
    for rate in (-0.1, 1.0):
        with pytest.raises(ValueError, match="rate"):
            DropPath(rate)
    with pytest.raises(ValueError, match="list of two or more"):
        DropPath(0.5)(a)


def test_a_model_with_it_round_trips(tmp_path):
    x = keras.Input((3,))
    model = keras.Model(x, DropPath(0.3, seed=1, name="join")([keras.layers.Dense(2)(x), keras.layers.Dense(2)(x)]))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    batch = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(batch)), np.asarray(model(batch)), rtol=1e-6)
    assert loaded.get_layer("join").rate == 0.3
