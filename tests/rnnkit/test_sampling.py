import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from rnnkit.sampling import NEG_INF, filter_logits, sample_next  # noqa: E402

LOGITS = np.log(np.array([[0.5, 0.25, 0.15, 0.07, 0.03]], np.float32))


def kept(filtered):
    return set(np.flatnonzero(np.asarray(filtered)[0] > NEG_INF / 2))


def test_top_k_keeps_the_k_largest():
    assert kept(filter_logits(LOGITS, top_k=2)) == {0, 1}
    assert kept(filter_logits(LOGITS, top_k=0)) == {0, 1, 2, 3, 4}
    assert kept(filter_logits(LOGITS, top_k=99)) == {0, 1, 2, 3, 4}


def test_top_p_keeps_the_smallest_set_reaching_p():
    assert kept(filter_logits(LOGITS, top_p=0.5)) == {0}
    assert kept(filter_logits(LOGITS, top_p=0.7)) == {0, 1}
    assert kept(filter_logits(LOGITS, top_p=0.8)) == {0, 1, 2}
    assert kept(filter_logits(LOGITS, top_p=0.01)) == {0}, "the most likely token is always kept"


def test_zero_temperature_is_greedy_and_seeds_repeat():
    logits = np.random.default_rng(0).normal(size=(4, 30)).astype(np.float32)
    assert np.array_equal(sample_next(logits, 0.0, seed=(1, 2)).numpy(), logits.argmax(-1))
    first = sample_next(logits, 1.0, seed=(5, 0)).numpy()
    assert np.array_equal(first, sample_next(logits, 1.0, seed=(5, 0)).numpy())
    draws = {tuple(sample_next(logits, 1.0, seed=(5, step)).numpy()) for step in range(20)}
    assert len(draws) > 1


def test_samples_follow_the_distribution():
    logits = np.tile(LOGITS, (4000, 1))
    ids = sample_next(logits, 1.0, seed=(11, 3)).numpy()
    shares = np.bincount(ids, minlength=5) / len(ids)
    assert np.allclose(shares, [0.5, 0.25, 0.15, 0.07, 0.03], atol=0.03)
    ids = sample_next(logits, 1.0, top_k=2, seed=(11, 4)).numpy()
    assert set(ids) == {0, 1}
    assert abs(np.mean(ids == 0) - 2 / 3) < 0.03
