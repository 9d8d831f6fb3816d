"""Length bucketing for tf.data, and how much padding it saves.

An RNN spends the same time on a padded step as on a real one, so a batch
padded to its longest member wastes most of its work when lengths vary
(IMDB reviews run from 10 to 2,500 words). Bucketing batches sequences of
similar length together:

    plan = BucketPlan.from_lengths(train_lengths, num_buckets=8, batch_size=64, max_length=400)
    batches = bucket_by_length(dataset, plan)            # (ids, label) elements, ids 1-D
    print(padding_report(train_lengths, plan).summary())  # pad fraction before / after

Boundaries come from the quantiles of a sample of the lengths, so each
bucket gets about the same number of sequences. With `scale_batch=True`
shorter buckets get bigger batches, keeping the tokens per batch (and the
work per step) about constant: `batch_size` is then the batch of the longest
bucket, so no batch needs more memory than padding to `max_length` would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


def quantile_boundaries(lengths: Sequence[int], num_buckets: int, max_length: int | None = None) -> list[int]:
    """Bucket boundaries at the length quantiles, in `tf.data` form.

    Returns up to `num_buckets - 1` increasing integers; bucket i holds the
    lengths in `[boundaries[i-1], boundaries[i])`. Repeated quantiles (many
    equal lengths) are merged, so there may be fewer buckets than asked.
    """
    if num_buckets < 1:
        raise ValueError(f"num_buckets must be at least 1, not {num_buckets}")
    values = np.asarray(lengths, dtype=np.int64)
    if values.size == 0:
        raise ValueError("quantile_boundaries needs at least one length")
    if max_length is not None:
        values = np.minimum(values, max_length)
    if num_buckets == 1:
        return []
    quantiles = np.quantile(values, np.linspace(0, 1, num_buckets + 1)[1:-1], method="higher")
    # A boundary b means "lengths below b"; +1 puts the quantile length itself in the lower bucket.
    candidates = sorted({int(q) + 1 for q in quantiles})
    top = int(values.max())
    return [b for b in candidates if 1 < b <= top]


def scaled_batch_sizes(
    boundaries: Sequence[int],
    batch_size: int,
    max_length: int,
    *,
    reference_length: int | None = None,
    max_batch_size: int | None = None,
    min_batch_size: int = 1,
) -> list[int]:
    """Per-bucket batch sizes that keep tokens per batch about `batch_size * reference_length`.

    Each bucket's size is computed from its longest possible sequence
    (`boundary - 1`, or `max_length` for the last), so no batch holds more
    tokens than the budget. `reference_length` defaults to `max_length`:
    the longest bucket gets `batch_size` and shorter ones proportionally
    more, so no batch needs more memory than a batch padded to max_length
    would. Sizes are at least `min_batch_size` (default 1) and at most
    `max_batch_size` (default `8 * batch_size`). With a `reference_length`
    below `max_length`, `min_batch_size=batch_size` keeps the buckets longer
    than the reference at `batch_size`: on a CPU an RNN step costs nearly the
    same for 8 sequences as for 64, so shrinking the batch of the longest
    sequences would multiply their sequential steps.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    uppers = [b - 1 for b in boundaries] + [max_length]
    if reference_length is None:
        reference_length = max_length
    budget = batch_size * max(1, reference_length)
    cap = max_batch_size or 8 * batch_size
    floor = max(1, int(min_batch_size))
    return [int(min(max(cap, floor), max(floor, budget // max(1, upper)))) for upper in uppers]


@dataclass(frozen=True)
class BucketPlan:
    """Boundaries (as `tf.data.Dataset.bucket_by_sequence_length` takes them) and a batch size per bucket."""

    boundaries: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    max_length: int

    def __post_init__(self):
        if len(self.batch_sizes) != len(self.boundaries) + 1:
            raise ValueError(
                f"{len(self.boundaries)} boundaries need {len(self.boundaries) + 1} batch sizes, "
                f"got {len(self.batch_sizes)}"
            )
        if list(self.boundaries) != sorted(set(self.boundaries)):
            raise ValueError(f"boundaries must be strictly increasing, got {list(self.boundaries)}")

    @classmethod
    def from_lengths(
        cls,
        lengths: Sequence[int],
        *,
        num_buckets: int,
        batch_size: int,
        max_length: int | None = None,
        scale_batch: bool = False,
        reference_length: int | None = None,
        min_batch_size: int = 1,
        sample_size: int | None = 10_000,
        seed: int = 0,
    ) -> BucketPlan:
        """Boundaries from the quantiles of (a sample of) `lengths`; sizes fixed or scaled (see `scaled_batch_sizes`)."""
        values = np.asarray(lengths, dtype=np.int64)
        if values.size == 0:
            raise ValueError("BucketPlan.from_lengths needs at least one length")
        if max_length is None:
            max_length = int(values.max())
        if sample_size and values.size > sample_size:
            values = np.random.default_rng(seed).choice(values, size=sample_size, replace=False)
        boundaries = quantile_boundaries(values, num_buckets, max_length)
        if scale_batch:
            sizes = scaled_batch_sizes(boundaries, batch_size, max_length, reference_length=reference_length,
                                       min_batch_size=min_batch_size)
        else:
            sizes = [batch_size] * (len(boundaries) + 1)
        return cls(tuple(boundaries), tuple(sizes), int(max_length))

    def bucket_of(self, length: int) -> int:
        return int(np.searchsorted(np.asarray(self.boundaries), min(length, self.max_length), side="right"))

    def describe(self) -> str:
        edges = [1, *self.boundaries, self.max_length + 1]
        parts = [f"{low}-{high - 1}:{size}" for low, high, size in zip(edges[:-1], edges[1:], self.batch_sizes, strict=True)]
        return "lengths:batch " + ", ".join(parts)

    def as_dict(self) -> dict:
        return {"boundaries": list(self.boundaries), "batch_sizes": list(self.batch_sizes), "max_length": self.max_length}


def _first_length(*element):
    import tensorflow as tf

    first = tf.nest.flatten(element)[0]
    return tf.shape(first)[0]


def dense_elements(dataset):
    """Turn ragged components into dense tensors (slices of a `tf.RaggedTensor` come out ragged).

    `Dataset.from_tensor_slices(ragged_ids)` is the quick way to a dataset of
    variable-length sequences, but `padded_batch` and
    `bucket_by_sequence_length` only take dense elements.
    """
    import tensorflow as tf

    if not any(isinstance(spec, tf.RaggedTensorSpec) for spec in tf.nest.flatten(dataset.element_spec)):
        return dataset

    def densify(*element):
        element = element if len(element) > 1 else element[0]
        return tf.nest.map_structure(lambda x: x.to_tensor() if isinstance(x, tf.RaggedTensor) else x, element)

    return dataset.map(densify, num_parallel_calls=tf.data.AUTOTUNE)


def bucket_by_length(
    dataset,
    plan: BucketPlan,
    *,
    length_fn: Callable | None = None,
    padded_shapes=None,
    padding_values=None,
    drop_remainder: bool = False,
):
    """Batch `dataset` by length: each batch is padded only to its own longest element.

    `length_fn(*element)` gives an element's length (default: the length of
    the first axis of its first component, e.g. the token ids of an
    `(ids, label)` pair). Elements are right-padded with `padding_values`
    (default 0). Batches are not padded to the bucket boundary
    (`pad_to_bucket_boundary=False`): that would add back some of the padding
    bucketing removes, and needs a bounded last bucket. Ragged components
    are made dense first.
    """
    return dense_elements(dataset).bucket_by_sequence_length(
        element_length_func=length_fn or _first_length,
        bucket_boundaries=list(plan.boundaries),
        bucket_batch_sizes=list(plan.batch_sizes),
        padded_shapes=padded_shapes,
        padding_values=padding_values,
        pad_to_bucket_boundary=False,
        drop_remainder=drop_remainder,
    )


# -- how much padding ------------------------------------------------------


@dataclass
class PaddingStats:
    """Real and padded token slots over a set of batches."""

    real: int = 0
    padded: int = 0
    batches: int = 0

    @property
    def total(self) -> int:
        return self.real + self.padded

    @property
    def fraction(self) -> float:
        return self.padded / self.total if self.total else 0.0

    def add_batch(self, lengths: Sequence[int], padded_length: int | None = None) -> None:
        lengths = np.asarray(lengths, dtype=np.int64)
        if lengths.size == 0:
            return
        width = int(lengths.max()) if padded_length is None else int(padded_length)
        self.real += int(lengths.sum())
        self.padded += int(width * lengths.size - lengths.sum())
        self.batches += 1

    def as_dict(self) -> dict:
        return {"real_tokens": self.real, "padded_tokens": self.padded, "pad_fraction": round(self.fraction, 4),
                "batches": self.batches}


@dataclass
class PaddingReport:
    """Pad fraction of the same lengths batched three ways."""

    fixed: PaddingStats  # every sequence padded to max_length
    longest: PaddingStats  # random batches, each padded to its longest member
    bucketed: PaddingStats  # the plan's buckets, each batch padded to its longest member
    plan: BucketPlan

    def summary(self) -> str:
        return (
            f"padding: {self.longest.fraction:.1%} of token slots when random batches are padded to their longest "
            f"sequence ({self.fixed.fraction:.1%} at a fixed length), {self.bucketed.fraction:.1%} with "
            f"{len(self.plan.batch_sizes)} length buckets"
        )

    def as_dict(self) -> dict:
        return {"fixed_length": self.fixed.as_dict(), "pad_to_longest": self.longest.as_dict(),
                "bucketed": self.bucketed.as_dict(), "plan": self.plan.as_dict()}


def padding_report(
    lengths: Sequence[int], plan: BucketPlan, batch_size: int | None = None, seed: int | None = 0
) -> PaddingReport:
    """The pad fraction before (fixed length; random batches) and after bucketing, from lengths alone.

    Both the random batches and the buckets see the lengths in the same
    order, shuffled with `seed` (`seed=None` keeps the given order); a bucket emits a batch whenever it holds its batch size,
    as `bucket_by_sequence_length` does. `batch_size` (for the unbucketed
    batches) defaults to the plan's middle bucket size.
    """
    values = np.minimum(np.asarray(lengths, dtype=np.int64), plan.max_length)
    if seed is not None:
        values = values[np.random.default_rng(seed).permutation(values.size)]
    batch_size = batch_size or plan.batch_sizes[len(plan.batch_sizes) // 2]

    fixed, longest, bucketed = PaddingStats(), PaddingStats(), PaddingStats()
    for start in range(0, values.size, batch_size):
        chunk = values[start: start + batch_size]
        fixed.add_batch(chunk, plan.max_length)
        longest.add_batch(chunk)
    pending: list[list[int]] = [[] for _ in plan.batch_sizes]
    for length in values:
        bucket = plan.bucket_of(int(length))
        pending[bucket].append(int(length))
        if len(pending[bucket]) == plan.batch_sizes[bucket]:
            bucketed.add_batch(pending[bucket])
            pending[bucket] = []
    for rest in pending:
        bucketed.add_batch(rest)
    return PaddingReport(fixed, longest, bucketed, plan)


def measure_padding(batches, pad_value=0, max_batches: int | None = None) -> PaddingStats:
    """Count real and padded slots in batches of right-padded sequences.

    Each batch is an array `[batch, time]` (or `[batch, time, features]`),
    or a tuple whose first item is; a step counts as padding when all its
    values equal `pad_value` and it lies after the row's last real step.
    """
    stats = PaddingStats()
    for index, batch in enumerate(batches):
        if max_batches is not None and index >= max_batches:
            break
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        values = np.asarray(first)
        real_steps = values != pad_value
        if real_steps.ndim > 2:
            real_steps = real_steps.reshape(real_steps.shape[0], real_steps.shape[1], -1).any(axis=-1)
        width = real_steps.shape[1]
        # Length = one past the last real step, so a real value equal to pad_value inside a row still counts.
        last = np.where(real_steps.any(axis=1), width - np.argmax(real_steps[:, ::-1], axis=1), 0)
        stats.add_batch(last, width)
    return stats
