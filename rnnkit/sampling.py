"""Sampling the next token from logits: temperature, top-k, top-p (nucleus).

Written with TensorFlow ops so the same code runs eagerly, inside a
`tf.function` step loop, and inside an exported serving graph. Randomness is
stateless: the caller passes a `[2]` seed per step (e.g. `[seed, step]`), so
one seed always gives one sequence.
"""

from __future__ import annotations

import tensorflow as tf

NEG_INF = -1e9


def filter_logits(logits, top_k=0, top_p=1.0):
    """Keep the `top_k` largest logits (0 = all), then the smallest set whose
    probability reaches `top_p` (1.0 = all); the rest become -1e9.

    logits: float [batch, vocab]. The most likely token is always kept.
    """
    logits = tf.convert_to_tensor(logits, tf.float32)
    top_k = tf.cast(top_k, tf.int32)
    top_p = tf.cast(top_p, tf.float32)
    vocab = tf.shape(logits)[-1]
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)
    descending = tf.sort(logits, axis=-1, direction="DESCENDING")
    kth_largest = descending[:, k - 1 : k]
    logits = tf.where(logits < kth_largest, tf.fill(tf.shape(logits), NEG_INF), logits)

    descending = tf.sort(logits, axis=-1, direction="DESCENDING")
    mass_before = tf.math.cumsum(tf.nn.softmax(descending, axis=-1), axis=-1, exclusive=True)
    kept = mass_before < top_p
    threshold = tf.reduce_min(tf.where(kept, descending, tf.fill(tf.shape(descending), -NEG_INF)), axis=-1, keepdims=True)
    return tf.where(logits < threshold, tf.fill(tf.shape(logits), NEG_INF), logits)


def sample_next(logits, temperature=1.0, top_k=0, top_p=1.0, seed=(0, 0)):
    """Draw one token id per row (int32 [batch]); temperature <= 0 means greedy."""
    logits = tf.convert_to_tensor(logits, tf.float32)
    temperature = tf.cast(temperature, tf.float32)
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    filtered = filter_logits(logits / tf.maximum(temperature, 1e-6), top_k, top_p)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    # Gumbel-max: argmax(logits + Gumbel noise) is a draw from softmax(logits). Unlike
    # stateless_categorical it compiles with XLA, which removes most per-step overhead.
    uniform = tf.random.stateless_uniform(tf.shape(filtered), seed=seed, minval=1e-12, maxval=1.0)
    drawn = tf.argmax(filtered - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)
    return tf.where(temperature > 0.0, drawn, greedy)
