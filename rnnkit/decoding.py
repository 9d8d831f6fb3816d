"""Greedy and beam search over a single-step decoder that carries its own state.

Any autoregressive model that can advance one token at a time fits: a
captioning decoder, a translation decoder, a character model. The app gives a
step function

    step_fn(tokens, states, constants) -> (logits, new_states, aux)

      tokens     int32 [n]            the previous token of each row
      states     list of [n, ...]     the decoder's recurrent state (h, c, ...)
      constants  list of [n, ...]     per-row inputs that never change (e.g. encoder features)
      logits     float [n, vocab]     scores of the next token
      new_states list like `states`
      aux        a tensor [n, ...] recorded at every step (e.g. attention weights), or None

and gets back, for every input row, its hypotheses best first:

    Decoded.tokens   int32 [batch, beams, max_length]   `pad_token` after each row's end token
    Decoded.lengths  int32 [batch, beams]   tokens up to and including the end token
    Decoded.scores   float [batch, beams]   total log-probability / length penalty
    Decoded.aux      [batch, beams, max_length, ...] or None

Both searches are written with TensorFlow ops and a `tf.while_loop`, so the same
code runs eagerly, inside a `tf.function` and inside an exported serving graph;
the batch size and the beam width may be tensors. The first step runs before the
loop on the un-tiled batch, so the beams start from the `beam_width` best
distinct first tokens, and the loop stops as soon as every row has ended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import tensorflow as tf

NEG_INF = -1e9  # finite, so inf - inf never makes a NaN score

StepFn = Callable[[tf.Tensor, list, list], tuple]


class Decoded(NamedTuple):
    tokens: tf.Tensor
    lengths: tf.Tensor
    scores: tf.Tensor
    aux: tf.Tensor | None


def length_penalty(lengths, alpha):
    """GNMT's length penalty ((5 + length) / 6) ** alpha (Wu et al., 2016); alpha 0 gives 1.

    Dividing a hypothesis' log-probability by it stops the search from always
    preferring short outputs; alpha around 0.6-1.0 is usual.
    """
    lengths = tf.cast(lengths, tf.float32)
    return tf.pow((5.0 + lengths) / 6.0, tf.cast(alpha, tf.float32))


def _step(step_fn, tokens, states, constants):
    out = step_fn(tokens, list(states), list(constants))
    if len(out) != 3:
        raise ValueError("step_fn must return (logits, new_states, aux); use None for aux")
    logits, new_states, aux = out
    new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
    return tf.cast(logits, tf.float32), new_states, aux


def _write(buffer, index, value):
    """buffer[:, :, index] = value, for a buffer [batch, beams, max_length, ...]."""
    length = tf.shape(buffer)[2]
    at = tf.equal(tf.range(length), index)
    at = tf.reshape(at, [1, 1, -1] + [1] * (buffer.shape.rank - 3))
    return tf.where(at, tf.expand_dims(value, 2), buffer)


def _buffer(first, max_length, fill):
    """A [batch, beams, max_length, ...] buffer holding `first` [batch, beams, ...] at step 0."""
    shape = tf.concat([tf.shape(first)[:2], [max_length], tf.shape(first)[2:]], axis=0)
    return _write(tf.fill(shape, tf.cast(fill, first.dtype)), 0, first)


def _fold(x, batch, beams):
    """[batch * beams, ...] -> [batch, beams, ...]"""
    return tf.reshape(x, tf.concat([[batch, beams], tf.shape(x)[1:]], axis=0))


def _unfold(x):
    """[batch, beams, ...] -> [batch * beams, ...]"""
    return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], axis=0))


def _gather_beams(x, parents):
    """Reorder the beams of x [batch, beams, ...] by parent index [batch, beams]."""
    return tf.gather(x, parents, batch_dims=1)


def repeated_ngram_tokens(ids, t, n, vocab):
    """[batch, beams, vocab] bool: the tokens that would repeat an n-gram already in a hypothesis.

    ids: [batch, beams, max_length], the tokens written so far at positions < t. A token is
    banned at position t when the n - 1 tokens before it, followed by it, already occur
    earlier (fairseq's and Hugging Face's `no_repeat_ngram_size`).
    """
    length = tf.shape(ids)[2]
    span = length - n + 1  # where an n-gram can start
    previous = tf.gather(ids, tf.maximum(tf.range(t - n + 1, t), 0), axis=2)  # the n - 1 tokens before t
    match = tf.range(span)[None, None, :] <= t - n  # the n-gram starting there is complete before t
    for k in range(n - 1):
        match &= tf.equal(ids[:, :, k: k + span], previous[:, :, k: k + 1])
    following = ids[:, :, n - 1: n - 1 + span]
    banned = tf.one_hot(following, vocab, on_value=True, off_value=False, dtype=tf.bool) & match[..., None]
    return tf.reduce_any(banned, axis=2)


def _loop(cond, body, loop_vars):
    """tf.while_loop where only ranks are fixed: a beam width that is a constant on the way
    in can come out of top_k as an unknown size."""
    invariants = tf.nest.map_structure(lambda x: tf.TensorShape([None] * x.shape.rank), loop_vars)
    return tf.while_loop(cond, body, loop_vars, shape_invariants=invariants)


def _check(max_length):
    if isinstance(max_length, int) and max_length < 1:
        raise ValueError(f"max_length must be at least 1, not {max_length}")


def greedy_search(
    step_fn: StepFn,
    start_tokens,
    states: Sequence,
    *,
    end_token: int,
    max_length,
    constants: Sequence = (),
    pad_token: int = 0,
    alpha: float = 0.0,
    no_repeat_ngram: int = 0,
) -> Decoded:
    """The most likely token at every step, until `end_token` or `max_length` (one beam).

    `no_repeat_ngram` n > 1 never lets an n-gram occur twice in an output (0: off).
    """
    _check(max_length)
    start_tokens = tf.cast(start_tokens, tf.int32)
    max_length = tf.cast(max_length, tf.int32)
    logits, states, aux = _step(step_fn, start_tokens, states, constants)
    log_probs = tf.nn.log_softmax(logits)
    token = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
    score = tf.gather(log_probs, token, batch_dims=1)
    ids = _buffer(token[:, None], max_length, pad_token)
    aux_buffer = _buffer(aux[:, None], max_length, 0) if aux is not None else tf.zeros([0, 0, 0])
    finished = tf.equal(token, end_token)
    lengths = tf.ones_like(token)

    def body(t, token, states, ids, aux_buffer, finished, lengths, score):
        logits, states, aux = _step(step_fn, token, states, constants)
        log_probs = tf.nn.log_softmax(logits)
        if no_repeat_ngram > 1:
            banned = repeated_ngram_tokens(ids, t, no_repeat_ngram, tf.shape(log_probs)[-1])[:, 0]
            log_probs = tf.where(banned, NEG_INF, log_probs)
        new_token = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        score += tf.where(finished, 0.0, tf.gather(log_probs, new_token, batch_dims=1))
        new_token = tf.where(finished, pad_token, new_token)
        ids = _write(ids, t, new_token[:, None])
        if aux is not None:
            aux_buffer = _write(aux_buffer, t, aux[:, None])
        lengths += tf.cast(tf.logical_not(finished), tf.int32)
        finished = tf.logical_or(finished, tf.equal(new_token, end_token))
        return t + 1, new_token, states, ids, aux_buffer, finished, lengths, score

    def more(t, token, states, ids, aux_buffer, finished, *_):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(finished)))

    _, _, _, ids, aux_buffer, _, lengths, score = _loop(
        more, body, (tf.constant(1), token, states, ids, aux_buffer, finished, lengths, score)
    )
    lengths = lengths[:, None]
    return Decoded(ids, lengths, score[:, None] / length_penalty(lengths, alpha),
                   aux_buffer if aux is not None else None)


def beam_search(
    step_fn: StepFn,
    start_tokens,
    states: Sequence,
    *,
    end_token: int,
    max_length,
    beam_width=3,
    alpha: float = 0.0,
    constants: Sequence = (),
    pad_token: int = 0,
    no_repeat_ngram: int = 0,
) -> Decoded:
    """Keep the `beam_width` most likely partial outputs at every step.

    A hypothesis that has produced `end_token` keeps its place and its score
    (it continues with `pad_token` at no cost) while the others grow. At the
    end the hypotheses are ranked by log-probability divided by
    `length_penalty(length, alpha)`. `beam_width=1` gives exactly
    `greedy_search`. `no_repeat_ngram` n > 1 never lets an n-gram occur twice in a
    hypothesis (0: off).
    """
    _check(max_length)
    if isinstance(beam_width, int) and beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, not {beam_width}")
    start_tokens = tf.cast(start_tokens, tf.int32)
    max_length = tf.cast(max_length, tf.int32)
    batch = tf.shape(start_tokens)[0]

    logits, states, aux = _step(step_fn, start_tokens, states, constants)
    log_probs = tf.nn.log_softmax(logits)
    vocab = tf.shape(log_probs)[-1]
    beams = tf.minimum(tf.cast(beam_width, tf.int32), vocab)
    scores, tokens = tf.math.top_k(log_probs, k=beams)  # [batch, beams]: distinct first tokens
    states = [tf.repeat(state, beams, axis=0) for state in states]
    constants = [tf.repeat(constant, beams, axis=0) for constant in constants]
    ids = _buffer(tokens, max_length, pad_token)
    has_aux = aux is not None
    aux_buffer = _buffer(_fold(tf.repeat(aux, beams, axis=0), batch, beams), max_length, 0) if has_aux else tf.zeros([0, 0, 0])
    finished = tf.equal(tokens, end_token)
    lengths = tf.ones_like(tokens)
    only_pad = tf.one_hot(pad_token, vocab, on_value=0.0, off_value=NEG_INF)  # a finished beam's next step

    def body(t, tokens, states, ids, aux_buffer, finished, lengths, scores):
        logits, new_states, aux = _step(step_fn, _unfold(tokens), states, constants)
        log_probs = _fold(tf.nn.log_softmax(logits), batch, beams)  # [batch, beams, vocab]
        if no_repeat_ngram > 1:
            log_probs = tf.where(repeated_ngram_tokens(ids, t, no_repeat_ngram, vocab), NEG_INF, log_probs)
        log_probs = tf.where(finished[..., None], only_pad[None, None, :], log_probs)
        total = tf.reshape(scores[..., None] + log_probs, [batch, -1])
        scores, flat = tf.math.top_k(total, k=beams)
        parents, tokens = flat // vocab, flat % vocab
        parent_finished = _gather_beams(finished, parents)
        tokens = tf.where(parent_finished, pad_token, tokens)
        ids = _write(_gather_beams(ids, parents), t, tokens)
        if aux is not None:
            aux_buffer = _write(_gather_beams(aux_buffer, parents), t, _gather_beams(_fold(aux, batch, beams), parents))
        states = [_unfold(_gather_beams(_fold(state, batch, beams), parents)) for state in new_states]
        lengths = _gather_beams(lengths, parents) + tf.cast(tf.logical_not(parent_finished), tf.int32)
        finished = tf.logical_or(parent_finished, tf.equal(tokens, end_token))
        return t + 1, tokens, states, ids, aux_buffer, finished, lengths, scores

    def more(t, tokens, states, ids, aux_buffer, finished, *_):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(finished)))

    _, _, _, ids, aux_buffer, _, lengths, scores = _loop(
        more, body, (tf.constant(1), tokens, states, ids, aux_buffer, finished, lengths, scores)
    )
    normalised = scores / length_penalty(lengths, alpha)
    order = tf.argsort(normalised, axis=-1, direction="DESCENDING", stable=True)
    return Decoded(
        _gather_beams(ids, order),
        _gather_beams(lengths, order),
        _gather_beams(normalised, order),
        _gather_beams(aux_buffer, order) if has_aux else None,
    )
