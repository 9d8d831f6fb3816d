"""rnnkit.data.bucketing: quantile boundaries, scaled batch sizes, tf.data buckets, padding reports."""

import numpy as np
import pytest

from rnnkit.data.bucketing import (
    BucketPlan,
    PaddingStats,
    bucket_by_length,
    dense_elements,
    measure_padding,
    padding_report,
    quantile_boundaries,
    scaled_batch_sizes,
)


def review_like_lengths(count=3000, seed=0):
    """Log-normal lengths like reviews: mostly a few hundred tokens, a long tail."""
    return np.clip(np.random.default_rng(seed).lognormal(5.2, 0.7, size=count).astype(int), 3, 2500)


def test_quantile_boundaries_split_the_data_into_equal_buckets():
    lengths = review_like_lengths()
    boundaries = quantile_boundaries(lengths, 4)
    assert len(boundaries) == 3 and boundaries == sorted(boundaries)
    counts = np.bincount(np.searchsorted(boundaries, lengths, side="right"), minlength=4)
    assert counts.min() > 0.2 * len(lengths) and counts.max() < 0.3 * len(lengths)


def test_quantile_boundaries_merge_repeats_and_respect_max_length():
    assert quantile_boundaries([5] * 100, 8) == []
    capped = quantile_boundaries(review_like_lengths(), 8, max_length=100)
    assert capped and max(capped) <= 100
    with pytest.raises(ValueError):
        quantile_boundaries([], 4)


def test_scaled_batch_sizes_keep_tokens_per_batch_within_the_budget():
    boundaries = [50, 100, 200]
    sizes = scaled_batch_sizes(boundaries, batch_size=32, max_length=400, reference_length=199)
    assert sizes == sorted(sizes, reverse=True)  # short buckets get the big batches
    uppers = [49, 99, 199, 400]
    tokens = [size * upper for size, upper in zip(sizes, uppers, strict=True)]
    assert max(tokens) <= 32 * 199 and min(tokens) > 0.4 * 32 * 199
    # By default the longest bucket gets batch_size: the memory bound of padding to max_length.
    assert scaled_batch_sizes(boundaries, batch_size=32, max_length=400) == [256, 129, 64, 32]


def test_scaled_batch_sizes_floor_keeps_long_buckets_at_the_batch_size():
    boundaries = [100, 200, 400, 1000]
    # A reference below max_length: buckets longer than it keep batch_size instead of shrinking.
    assert scaled_batch_sizes(boundaries, batch_size=32, max_length=2500, reference_length=400,
                              min_batch_size=32) == [129, 64, 32, 32, 32]
    assert scaled_batch_sizes(boundaries, batch_size=32, max_length=2500, reference_length=400) == [129, 64, 32, 12, 5]
    plan = BucketPlan.from_lengths(list(range(1, 2001)), num_buckets=4, batch_size=8, max_length=2000,
                                   scale_batch=True, reference_length=500, min_batch_size=8)
    assert plan.batch_sizes == (8, 8, 8, 8) and plan.boundaries == (502, 1002, 1502)


def test_plan_from_lengths_and_bucket_of():
    lengths = review_like_lengths()
    plan = BucketPlan.from_lengths(lengths, num_buckets=5, batch_size=16, max_length=600, scale_batch=True)
    assert len(plan.batch_sizes) == len(plan.boundaries) + 1 and plan.max_length == 600
    assert plan.bucket_of(1) == 0 and plan.bucket_of(10_000) == len(plan.boundaries)
    assert "lengths:batch" in plan.describe()
    with pytest.raises(ValueError, match="batch sizes"):
        BucketPlan((10, 20), (4, 4), 30)


def test_bucketed_dataset_pads_each_batch_to_its_own_longest_and_loses_nothing():
    tf = pytest.importorskip("tensorflow")
    lengths = review_like_lengths(600, seed=1)
    lengths = np.minimum(lengths, 400)
    plan = BucketPlan.from_lengths(lengths, num_buckets=6, batch_size=16, max_length=400)
    ragged = tf.ragged.constant([np.arange(1, n + 1) for n in lengths], dtype=tf.int32)
    labels = tf.constant(np.arange(len(lengths)))
    dataset = bucket_by_length(tf.data.Dataset.from_tensor_slices((ragged, labels)), plan)
    seen = []
    for ids, index in dataset.as_numpy_iterator():
        batch_lengths = (ids != 0).sum(axis=1)
        assert ids.shape[1] == batch_lengths.max()  # padded to this batch's longest only
        buckets = {plan.bucket_of(int(n)) for n in batch_lengths}
        assert len(buckets) == 1
        assert np.array_equal(batch_lengths, lengths[index])
        seen.extend(index.tolist())
    assert sorted(seen) == list(range(len(lengths)))


def test_padding_report_matches_what_tf_data_produces():
    tf = pytest.importorskip("tensorflow")
    lengths = np.minimum(review_like_lengths(800, seed=2), 500)
    plan = BucketPlan.from_lengths(lengths, num_buckets=8, batch_size=32, max_length=500, scale_batch=True)
    report = padding_report(lengths, plan, batch_size=32, seed=None)
    ragged = tf.ragged.constant([np.ones(n, np.int32) for n in lengths], dtype=tf.int32)
    source = dense_elements(tf.data.Dataset.from_tensor_slices(ragged))
    measured_buckets = measure_padding(bucket_by_length(source, plan).as_numpy_iterator())
    measured_longest = measure_padding(source.padded_batch(32).as_numpy_iterator())
    assert measured_buckets.as_dict() == report.bucketed.as_dict()
    assert measured_longest.as_dict() == report.longest.as_dict()
    assert report.bucketed.fraction < 0.5 * report.longest.fraction < report.fixed.fraction
    assert "length buckets" in report.summary() and report.as_dict()["plan"]["max_length"] == 500


def test_measure_padding_counts_frames_and_inner_pad_values():
    frames = np.zeros((2, 4, 3), np.float32)
    frames[0, :3] = 1.0
    frames[0, 1] = 0.0  # an all-zero frame inside the real part still counts as real
    frames[1, :1] = 2.0
    stats = measure_padding([(frames, np.array([0, 1]))])
    assert (stats.real, stats.padded, stats.batches) == (4, 4, 1)
    assert stats.fraction == 0.5 and PaddingStats().fraction == 0.0
