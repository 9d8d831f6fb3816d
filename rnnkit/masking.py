"""Masking utilities in `keras.ops`, for layers and models on any backend.

A mask is a boolean tensor `[batch, time]`, True at real steps and False at
padding, as `Embedding(mask_zero=True)` and `MaskFromLengths` produce. These
functions are what the rnnkit layers are made of; every one of them ignores
the values at padded steps entirely (they are replaced, not multiplied, so a
NaN or an infinity in the padding cannot leak), and a row with no real step
gives zeros instead of NaN.

    mask = mask_from_lengths(lengths, max_length)        # [batch, time] bool
    pooled = masked_mean(sequences, mask)                 # [batch, features]
    weights = masked_softmax(scores, mask)                # zero at padding
    backward, order = reverse_valid(sequences, mask)      # each row's real steps reversed, padding kept last
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def mask_from_lengths(lengths, max_length=None):
    """`[batch, max_length]` mask, True at the first `lengths[i]` steps of row i.

    `max_length` defaults to the largest length. Lengths below 0 count as 0,
    above `max_length` as `max_length`.
    """
    lengths = ops.convert_to_tensor(lengths)
    if max_length is None:
        max_length = ops.max(lengths)
    positions = ops.arange(max_length, dtype=lengths.dtype)
    return ops.expand_dims(positions, 0) < ops.expand_dims(lengths, 1)


def mask_like(sequences, lengths):
    """`[batch, time]` mask for `sequences` (`[batch, time, ...]`) from per-row `lengths`.

    Unlike `mask_from_lengths(lengths, time)` it needs no concrete time size,
    so it also works on symbolic tensors (in `compute_mask`).
    """
    steps = sequences
    while len(steps.shape) > 2:
        steps = steps[..., 0]
    positions = ops.cumsum(ops.ones_like(steps, dtype="int32"), axis=1) - 1
    return positions < ops.expand_dims(ops.cast(lengths, "int32"), 1)


def lengths_from_mask(mask, dtype="int32"):
    """Number of real steps of each row: `[batch]`."""
    return ops.sum(ops.cast(mask, dtype), axis=1)


def _broadcast_mask(mask, rank):
    """`[batch, time]` bool -> `[batch, time, 1, ...]` bool of `rank` axes, broadcastable over features."""
    mask = ops.cast(mask, "bool")
    while len(mask.shape) < rank:
        mask = ops.expand_dims(mask, -1)
    return mask


def masked_fill(sequences, mask, value=0.0):
    """`sequences` with every padded step replaced by `value`."""
    if mask is None:
        return sequences
    filler = ops.cast(value, sequences.dtype)
    return ops.where(_broadcast_mask(mask, len(sequences.shape)), sequences, filler)


def masked_sum(sequences, mask):
    """Sum over time of the real steps: `[batch, time, features]` -> `[batch, features]`."""
    return ops.sum(masked_fill(sequences, mask), axis=1)


def masked_mean(sequences, mask):
    """Mean over the real steps; a row without any real step gives zeros."""
    if mask is None:
        return ops.mean(sequences, axis=1)
    counts = ops.sum(ops.cast(_broadcast_mask(mask, len(sequences.shape)), sequences.dtype), axis=1)
    return masked_sum(sequences, mask) / ops.maximum(counts, ops.cast(1, sequences.dtype))


def masked_max(sequences, mask):
    """Maximum over the real steps; a row without any real step gives zeros."""
    if mask is None:
        return ops.max(sequences, axis=1)
    lowest = ops.cast(float("-inf"), sequences.dtype)
    best = ops.max(masked_fill(sequences, mask, lowest), axis=1)
    has_steps = _broadcast_mask(ops.any(ops.cast(mask, "bool"), axis=1), len(best.shape))
    return ops.where(has_steps, best, ops.zeros_like(best))


def masked_softmax(scores, mask, axis=1):
    """Softmax over `axis` that gives exactly zero weight to padded steps.

    `scores` is `[batch, time]` or `[batch, time, heads]`; `mask` is
    `[batch, time]`. A row with no real step gets all-zero weights (not NaN),
    and no infinity is ever formed, so gradients stay finite too.
    """
    if mask is None:
        return ops.softmax(scores, axis=axis)
    mask = _broadcast_mask(mask, len(scores.shape))
    lowest = ops.cast(np.finfo(keras.backend.standardize_dtype(scores.dtype)).min, scores.dtype)
    peak = ops.max(ops.where(mask, scores, lowest), axis=axis, keepdims=True)
    # Padded steps are set to the peak before exp (so exp sees only values <= 0), then zeroed.
    shifted = ops.where(mask, scores, peak) - peak
    exponents = ops.where(mask, ops.exp(shifted), ops.zeros_like(scores))
    total = ops.sum(exponents, axis=axis, keepdims=True)
    return exponents / ops.where(total > 0, total, ops.ones_like(total))


def valid_reversal_order(mask):
    """For each row, the time indices that put its real steps in reverse order first.

    Padded steps follow in their original order, so a right-padded row stays
    right-padded after reversal, and the permutation is its own inverse for
    right-padded masks. Works for masks with holes too (use
    `invert_order` to undo it then).
    """
    mask = ops.cast(mask, "bool")
    time = ops.shape(mask)[1]
    positions = ops.expand_dims(ops.arange(time, dtype="int32"), 0)
    # Real steps sort first, latest first; padding sorts after, earliest first.
    keys = ops.where(mask, -positions, positions + time)
    return ops.cast(ops.argsort(keys, axis=1), "int32")


def invert_order(order):
    """The permutation that undoes `order` (row by row)."""
    return ops.cast(ops.argsort(order, axis=1), "int32")


def take_steps(sequences, order):
    """Gather time steps row by row: `result[b, t] = sequences[b, order[b, t]]`."""
    index = order
    while len(index.shape) < len(sequences.shape):
        index = ops.expand_dims(index, -1)  # broadcast over the feature axes
    return ops.take_along_axis(sequences, index, axis=1)


def reverse_valid(sequences, mask):
    """Reverse each row's real steps in place of the whole row.

    Returns `(reversed_sequences, order)`; `take_steps(x, invert_order(order))`
    puts a sequence computed on the reversed rows back in the original order.
    Without a mask the whole time axis is reversed.
    """
    if mask is None:
        time = ops.shape(sequences)[1]
        order = ops.broadcast_to(ops.flip(ops.arange(time, dtype="int32"), axis=0), ops.shape(sequences)[:2])
        return ops.flip(sequences, axis=1), order
    order = valid_reversal_order(mask)
    return take_steps(sequences, order), order
