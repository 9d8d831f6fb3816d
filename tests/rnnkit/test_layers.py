"""rnnkit.layers: .keras round trips, padding that changes nothing, and each layer's contract."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from rnnkit.layers import AttentionPooling, BidirectionalRNN, MaskedGlobalPooling1D, MaskFromLengths  # noqa: E402

FEATURES = 3
LENGTHS = np.array([4, 1, 0, 6], np.int32)


def padded_inputs(time=6, seed=0, garbage=True):
    """Float frames right-padded to `time`; the padding holds large junk unless `garbage=False`."""
    rng = np.random.default_rng(seed)
    frames = rng.normal(size=(len(LENGTHS), time, FEATURES)).astype("float32")
    padding = np.arange(time)[None, :] >= LENGTHS[:, None]
    frames[padding] = rng.uniform(50, 100, size=(int(padding.sum()), FEATURES)) if garbage else 0.0
    return frames


def masked_model(head):
    """frames + lengths -> MaskFromLengths (padding NOT zeroed, so only the mask protects) -> head."""
    frames = keras.Input((None, FEATURES), name="frames")
    lengths = keras.Input((), dtype="int32", name="lengths")
    x = MaskFromLengths(zero_padding=False)([frames, lengths])
    return keras.Model([frames, lengths], head(x))


def bi_lstm_sequences(x):
    return BidirectionalRNN(keras.layers.LSTM(5, return_sequences=True))(x)


def bi_gru_states(x):
    return BidirectionalRNN(keras.layers.GRU(4, return_state=True), merge_states=True)(x)


def bi_simple_rnn_sum(x):
    return BidirectionalRNN(keras.layers.SimpleRNN(4, return_sequences=True), merge_mode="sum")(x)


def attention(x):
    return AttentionPooling(units=6, return_attention_scores=True)(x)


def attention_two_heads(x):
    return AttentionPooling(num_heads=2)(BidirectionalRNN(keras.layers.GRU(3, return_sequences=True))(x))


def mean_max(x):
    return MaskedGlobalPooling1D("mean_max")(x)


# name -> (model head, indices of its outputs that are per time step)
HEADS = {
    "bidirectional_lstm_sequences": (bi_lstm_sequences, {0}),
    "bidirectional_gru_merged_states": (bi_gru_states, set()),
    "bidirectional_simple_rnn_sum": (bi_simple_rnn_sum, {0}),
    "attention_pooling": (attention, {1}),
    "attention_pooling_two_heads": (attention_two_heads, set()),
    "masked_global_pooling_mean_max": (mean_max, set()),
    "mask_from_lengths_into_gru": (lambda x: keras.layers.GRU(4)(x), set()),
}


def as_list(outputs):
    return [np.asarray(item) for item in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def real_steps_only(outputs, time, per_step):
    """Per-step outputs [batch, time, ...] keep only the real steps; pooled outputs stay whole."""
    mask = np.arange(time)[None, :] < LENGTHS[:, None]
    return [out[mask] if index in per_step else out for index, out in enumerate(outputs)]


@pytest.mark.parametrize("name", list(HEADS))
def test_keras_round_trip_gives_the_same_outputs(name, tmp_path):
    keras.utils.set_random_seed(1)
    model = masked_model(HEADS[name][0])
    inputs = [padded_inputs(), LENGTHS]
    before = as_list(model(inputs))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    after = as_list(loaded(inputs))
    assert len(before) == len(after)
    for expected, got in zip(before, after, strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("name", list(HEADS))
def test_values_and_amount_of_padding_change_nothing(name):
    keras.utils.set_random_seed(2)
    head, per_step = HEADS[name]
    model = masked_model(head)
    base = padded_inputs(6, garbage=False)
    junk_frames = padded_inputs(6, garbage=True)
    extra = np.random.default_rng(5).uniform(-100, 100, size=(len(LENGTHS), 3, FEATURES)).astype("float32")
    clean = as_list(model([base, LENGTHS]))
    junk = as_list(model([junk_frames, LENGTHS]))
    longer = as_list(model([np.concatenate([junk_frames, extra], axis=1), LENGTHS]))
    for a, b, c in zip(real_steps_only(clean, 6, per_step), real_steps_only(junk, 6, per_step),
                       real_steps_only(longer, 9, per_step), strict=True):
        assert np.isfinite(a).all()
        np.testing.assert_allclose(b, a, atol=1e-5)
        np.testing.assert_allclose(c, a, atol=1e-5)


def copy_into_keras_bidirectional(ours, units, cell=keras.layers.LSTM):
    theirs = keras.layers.Bidirectional(cell(units, return_sequences=True))
    theirs.build((None, None, FEATURES))
    theirs.forward_layer.set_weights(ours.forward_layer.get_weights())
    theirs.backward_layer.set_weights(ours.backward_layer.get_weights())
    return theirs


def test_bidirectional_matches_keras_bidirectional_at_real_steps():
    keras.utils.set_random_seed(3)
    ours = BidirectionalRNN(keras.layers.LSTM(5, return_sequences=True))
    frames = padded_inputs(garbage=False)
    mask = np.arange(6)[None, :] < LENGTHS[:, None]
    mine = np.asarray(ours(frames, mask=mask))
    reference = np.asarray(copy_into_keras_bidirectional(ours, 5)(frames, mask=mask))
    np.testing.assert_allclose(mine[mask], reference[mask], atol=1e-5)
    assert not mine[~mask].any()  # padded steps are zeros


def test_bidirectional_row_equals_that_row_alone_and_states_are_both_directions():
    keras.utils.set_random_seed(4)
    layer = BidirectionalRNN(keras.layers.LSTM(4, return_sequences=True, return_state=True))
    frames = padded_inputs(garbage=True)
    mask = np.arange(6)[None, :] < LENGTHS[:, None]
    outputs, forward_h, forward_c, backward_h, backward_c = (np.asarray(t) for t in layer(frames, mask=mask))
    row = 0
    alone, *alone_states = (np.asarray(t) for t in layer(frames[row:row + 1, :LENGTHS[row]]))
    np.testing.assert_allclose(outputs[row, :LENGTHS[row]], alone[0], atol=1e-5)
    # Forward final state is the forward output at the last real step; backward's is its output at step 0.
    np.testing.assert_allclose(forward_h[row], outputs[row, LENGTHS[row] - 1, :4], atol=1e-5)
    np.testing.assert_allclose(backward_h[row], outputs[row, 0, 4:], atol=1e-5)
    for got, expected in zip([forward_h, forward_c, backward_h, backward_c], alone_states, strict=True):
        np.testing.assert_allclose(got[row], expected[0], atol=1e-5)
    assert not forward_h[2].any() and not backward_c[2].any()  # the empty row keeps its zero state


@pytest.mark.parametrize("mode, width", [("concat", 8), ("sum", 4), ("ave", 4), ("mul", 4)])
def test_bidirectional_merge_modes_and_merged_states(mode, width):
    keras.utils.set_random_seed(5)
    layer = BidirectionalRNN(keras.layers.LSTM(4, return_state=True), merge_mode=mode, merge_states=True)
    output, h, c = layer(padded_inputs(garbage=False))
    assert output.shape == (4, width) and h.shape == (4, width) and c.shape == (4, width)
    separate = BidirectionalRNN(keras.layers.LSTM(4, return_state=True), merge_mode=None)
    forward, backward, *states = separate(padded_inputs(garbage=False))
    assert forward.shape == backward.shape == (4, 4) and len(states) == 4


def test_bidirectional_propagates_the_mask_only_with_sequences():
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(tokens)
    sequences = BidirectionalRNN(keras.layers.GRU(3, return_sequences=True))(x)
    last = BidirectionalRNN(keras.layers.GRU(3))(x)
    assert sequences._keras_mask is not None
    assert getattr(last, "_keras_mask", None) is None


def test_bidirectional_initial_state_is_split_between_directions():
    keras.utils.set_random_seed(6)
    layer = BidirectionalRNN(keras.layers.GRU(2, return_state=True))
    frames = padded_inputs(garbage=False)[:1, :4]
    start = [np.full((1, 2), 0.5, np.float32), np.full((1, 2), -0.5, np.float32)]
    _, forward_zero, backward_zero = layer(frames)
    _, forward_set, backward_set = layer(frames, initial_state=start)
    assert not np.allclose(forward_zero, forward_set) and not np.allclose(backward_zero, backward_set)
    empty = np.zeros((1, 4), bool)  # no real step: the states come back as they went in
    _, forward_empty, backward_empty = layer(frames * 1e3, mask=empty, initial_state=start)
    np.testing.assert_allclose(forward_empty, start[0])
    np.testing.assert_allclose(backward_empty, start[1])
    with pytest.raises(ValueError, match="forward states then the backward"):
        layer(frames, initial_state=start[:1])


def test_bidirectional_refuses_what_it_cannot_wrap():
    with pytest.raises(ValueError, match="keras.layers.RNN"):
        BidirectionalRNN(keras.layers.Dense(3))
    with pytest.raises(ValueError, match="go_backwards"):
        BidirectionalRNN(keras.layers.GRU(3, go_backwards=True))
    with pytest.raises(ValueError, match="merge_mode"):
        BidirectionalRNN(keras.layers.GRU(3), merge_mode="max")
    with pytest.raises(ValueError, match="merge_states"):
        BidirectionalRNN(keras.layers.GRU(3, return_state=True), merge_mode=None, merge_states=True)


def test_attention_weights_are_a_distribution_over_real_steps():
    keras.utils.set_random_seed(7)
    layer = AttentionPooling(return_attention_scores=True)
    frames = padded_inputs(garbage=True)
    mask = np.arange(6)[None, :] < LENGTHS[:, None]
    pooled, weights = (np.asarray(t) for t in layer(frames, mask=mask))
    assert weights.shape == (4, 6) and pooled.shape == (4, FEATURES)
    assert (weights[~mask] == 0).all() and (weights[mask] > 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), [1, 1, 0, 1], rtol=1e-6)
    np.testing.assert_allclose(pooled[0], (weights[0, :4, None] * frames[0, :4]).sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(pooled[1], frames[1, 0], rtol=1e-6)  # one real step takes all the weight
    assert not pooled[2].any()


def test_attention_trains_with_an_empty_row_without_nan():
    keras.utils.set_random_seed(8)
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(12, 4, mask_zero=True)(tokens)
    x = BidirectionalRNN(keras.layers.GRU(3, return_sequences=True))(x)
    x = AttentionPooling()(x)
    model = keras.Model(tokens, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile("adam", "binary_crossentropy")
    ids = np.array([[3, 4, 5, 0], [0, 0, 0, 0], [7, 8, 0, 0]], np.int32)
    history = model.fit(ids, np.array([1, 0, 1], np.float32), epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(weight).all() for weight in model.get_weights())


def test_mask_from_lengths_zeroes_padding_and_feeds_a_plain_gru():
    keras.utils.set_random_seed(9)
    frames = padded_inputs(garbage=True)
    out = np.asarray(MaskFromLengths()([frames, LENGTHS]))
    mask = np.arange(6)[None, :] < LENGTHS[:, None]
    assert not out[~mask].any() and np.array_equal(out[mask], frames[mask])
    gru = keras.layers.GRU(3)
    model = masked_model(gru)
    last = np.asarray(model([frames, LENGTHS]))
    np.testing.assert_allclose(last[3], np.asarray(gru(frames[3:4]))[0], atol=1e-5)  # the full-length row
    np.testing.assert_allclose(last[0], np.asarray(gru(frames[0:1, :4]))[0], atol=1e-5)


def test_configs_hold_every_constructor_argument():
    attention_layer = AttentionPooling(units=7, num_heads=3, return_attention_scores=True, name="att")
    config = attention_layer.get_config()
    assert (config["units"], config["num_heads"], config["return_attention_scores"], config["name"]) == (7, 3, True, "att")
    assert AttentionPooling.from_config(config).num_heads == 3
    pooling = MaskedGlobalPooling1D.from_config(MaskedGlobalPooling1D("max").get_config())
    assert pooling.mode == "max"
    with pytest.raises(ValueError, match="mode"):
        MaskedGlobalPooling1D("median")
    bidirectional = BidirectionalRNN(keras.layers.GRU(3, return_sequences=True), merge_mode="ave", name="bi")
    clone = BidirectionalRNN.from_config(bidirectional.get_config())
    assert clone.merge_mode == "ave" and clone.name == "bi" and clone.forward_layer.units == 3
    assert clone.backward_layer.name == bidirectional.backward_layer.name
