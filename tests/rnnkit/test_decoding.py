"""Greedy and beam search over a toy stateful step function, checked against brute force."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from rnnkit.decoding import beam_search, greedy_search, length_penalty

VOCAB, END, START, PAD = 5, 1, 2, 0


def make_step(seed=0):
    """A decoder whose next-token scores depend on the previous token AND on a carried state.

    The state is the running sum of the tokens so far; the scores depend on it
    modulo 3, so a search that reorders beams without reordering their states
    scores the wrong distribution and is caught by the rescoring below. A
    per-row constant shifts the scores, so constants must follow their rows too.
    The aux output is the state itself, to check that per-step records follow
    their beams.
    """
    rng = np.random.default_rng(seed)
    table = tf.constant(rng.normal(scale=2.0, size=(3, VOCAB, VOCAB)).astype("float32"))

    def step(tokens, states, constants):
        (total,) = states
        (shift,) = constants
        logits = tf.gather_nd(table, tf.stack([tf.math.floormod(total, 3), tokens], axis=1)) + shift
        new_total = total + tokens
        return logits, [new_total], tf.cast(new_total, tf.float32)[:, None]

    return step


def sequence_log_prob(step, start, shift, tokens):
    """Score a token sequence by stepping through it (the reference)."""
    total, token, score = tf.constant([0]), tf.constant([start]), 0.0
    for next_token in tokens:
        logits, (total,), _ = step(token, [total], [tf.constant([shift], tf.float32)])
        score += float(tf.nn.log_softmax(logits)[0, next_token])
        token = tf.constant([next_token])
    return score


def brute_force_best(step, start, shift, max_length):
    """The best complete-or-maxed sequence over every possible sequence."""
    best, best_tokens = -np.inf, None
    for length in range(1, max_length + 1):
        for body in itertools.product([t for t in range(VOCAB) if t != END], repeat=length - 1):
            for tokens in [(*body, END)] + ([body + (t,) for t in range(VOCAB) if t != END] if length == max_length else []):
                if len(tokens) != length:
                    continue
                score = sequence_log_prob(step, start, shift, tokens)
                if score > best:
                    best, best_tokens = score, tokens
    return best, best_tokens


def run(search, step, shifts, **kwargs):
    batch = len(shifts)
    return search(step, tf.fill([batch], START), [tf.zeros([batch], tf.int32)], end_token=END,
                  constants=[tf.constant(np.asarray(shifts, "float32"))[:, None]], **kwargs)


def as_list(decoded, row, beam=0):
    length = int(decoded.lengths[row, beam])
    return [int(t) for t in decoded.tokens[row, beam, :length]]


def test_greedy_takes_the_argmax_and_pads_after_the_end():
    step = make_step(1)
    out = run(greedy_search, step, [0.0, 0.5], max_length=6)
    assert out.tokens.shape == (2, 1, 6)
    for row, shift in enumerate([0.0, 0.5]):
        tokens = as_list(out, row)
        # Recompute the argmax path by hand.
        total, token, expected = tf.constant([0]), tf.constant([START]), []
        for _ in range(6):
            logits, (total,), _ = step(token, [total], [tf.constant([[shift]], tf.float32)])
            token = tf.argmax(logits, -1, output_type=tf.int32)
            expected.append(int(token[0]))
            if expected[-1] == END:
                break
        assert tokens == expected
        assert all(int(t) == PAD for t in out.tokens[row, 0, len(tokens):])
        np.testing.assert_allclose(float(out.scores[row, 0]), sequence_log_prob(step, START, shift, tokens), rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_a_wide_enough_beam_finds_the_brute_force_optimum(seed):
    step = make_step(seed)
    max_length = 3
    out = run(beam_search, step, [0.0], max_length=max_length, beam_width=VOCAB ** (max_length - 1))
    best, best_tokens = brute_force_best(step, START, 0.0, max_length)
    assert tuple(as_list(out, 0)) == best_tokens
    np.testing.assert_allclose(float(out.scores[0, 0]), best, rtol=1e-5)


def test_beam_scores_states_and_aux_follow_their_beams():
    step = make_step(5)
    shifts = [0.0, 1.0, -0.5]
    out = run(beam_search, step, shifts, max_length=7, beam_width=3)
    assert out.tokens.shape[:2] == (3, 3) and out.aux.shape[:3] == (3, 3, 7)
    for row, shift in enumerate(shifts):
        scores = [float(s) for s in out.scores[row]]
        assert scores == sorted(scores, reverse=True)
        for beam in range(3):
            tokens = as_list(out, row, beam)
            np.testing.assert_allclose(scores[beam], sequence_log_prob(step, START, shift, tokens), rtol=1e-4)
            # aux recorded the running sum of the beam's own tokens
            running = np.cumsum([START, *tokens[:-1]])
            np.testing.assert_allclose(out.aux[row, beam, : len(tokens), 0].numpy(), running)


def test_beam_width_one_is_greedy_and_wider_beams_score_at_least_as_well():
    step = make_step(2)
    shifts = list(np.linspace(-1, 1, 6))
    greedy = run(greedy_search, step, shifts, max_length=8)
    one = run(beam_search, step, shifts, max_length=8, beam_width=1)
    np.testing.assert_array_equal(greedy.tokens.numpy(), one.tokens.numpy())
    np.testing.assert_allclose(greedy.scores.numpy(), one.scores.numpy(), rtol=1e-5)
    five = run(beam_search, step, shifts, max_length=8, beam_width=5)
    assert np.all(five.scores.numpy()[:, 0] >= greedy.scores.numpy()[:, 0] - 1e-5)


def test_length_penalty_ranks_by_normalised_score():
    step = make_step(4)
    out = run(beam_search, step, [0.0, 0.3], max_length=8, beam_width=4, alpha=1.0)
    for row in range(2):
        raw = [sequence_log_prob(step, START, [0.0, 0.3][row], as_list(out, row, beam)) for beam in range(4)]
        normalised = [score / float(length_penalty(int(out.lengths[row, beam]), 1.0)) for beam, score in enumerate(raw)]
        np.testing.assert_allclose(out.scores[row].numpy(), normalised, rtol=1e-4)
        assert normalised == sorted(normalised, reverse=True)
    assert float(length_penalty(1, 0.0)) == 1.0 and float(length_penalty(7, 1.0)) == pytest.approx(2.0)


def test_runs_compiled_with_a_dynamic_batch_and_beam_width():
    step = make_step(6)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.int32)])
    def decode(shift, width):
        batch = tf.shape(shift)[0]
        out = beam_search(step, tf.fill([batch], START), [tf.zeros([batch], tf.int32)], end_token=END,
                          max_length=6, beam_width=width, constants=[shift[:, None]])
        return out.tokens, out.scores

    eager = run(beam_search, step, [0.2, -0.4], max_length=6, beam_width=3)
    tokens, scores = decode(tf.constant([0.2, -0.4]), tf.constant(3))
    np.testing.assert_array_equal(tokens.numpy(), eager.tokens.numpy())
    np.testing.assert_allclose(scores.numpy(), eager.scores.numpy(), rtol=1e-5)
    tokens, _ = decode(tf.constant([0.0]), tf.constant(50))  # wider than the vocabulary: capped
    assert tokens.shape[:2] == (1, VOCAB)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="beam_width"):
        run(beam_search, make_step(), [0.0], max_length=4, beam_width=0)
    with pytest.raises(ValueError, match="max_length"):
        run(greedy_search, make_step(), [0.0], max_length=0)


def ngrams(tokens, n):
    return [tuple(tokens[i: i + n]) for i in range(len(tokens) - n + 1)]


@pytest.mark.parametrize("n", [2, 3])
def test_no_repeat_ngram_blocks_loops_and_matches_a_reference(n):
    """A decoder that loves the loop 3 4 3 4 ...: blocking must break every repeated n-gram."""
    vocab = 6
    bias = tf.constant([[-5.0, -3.0, -9.0, 0.0, 0.0, -1.0]])

    def step(tokens, states, constants):
        prefer = tf.one_hot(tf.where(tf.equal(tokens, 3), 4, 3), vocab) * 4.0
        return prefer + bias, states, None

    start = tf.fill([2], START)
    plain = greedy_search(step, start, [], end_token=END, max_length=10)
    assert len(set(ngrams(as_list(plain, 0), n))) < len(ngrams(as_list(plain, 0), n))  # it loops
    for search, kwargs in ((greedy_search, {}), (beam_search, {"beam_width": 3})):
        out = search(step, start, [], end_token=END, max_length=10, no_repeat_ngram=n, **kwargs)
        for beam in range(out.tokens.shape[1]):
            grams = ngrams(as_list(out, 0, beam), n)
            assert len(set(grams)) == len(grams), as_list(out, 0, beam)
    # The same greedy choice, made by hand in Python.
    blocked = greedy_search(step, start, [], end_token=END, max_length=10, no_repeat_ngram=n)
    tokens, previous = [], START
    while len(tokens) < 10:
        logits = (step(tf.constant([previous]), [], [])[0].numpy()[0]).astype(float)
        for gram in ngrams(tokens, n):
            if len(tokens) >= n - 1 and list(gram[:-1]) == tokens[len(tokens) - n + 1:]:
                logits[gram[-1]] = -np.inf
        previous = int(np.argmax(logits))
        tokens.append(previous)
        if previous == END:
            break
    assert as_list(blocked, 0) == tokens
