"""BidirectionalRNN: a forward and a backward LSTM / GRU / SimpleRNN over right-padded sequences."""

from __future__ import annotations

import keras
from keras import ops

from rnnkit import masking

MERGE_MODES = ("concat", "sum", "ave", "mul", None)


def _where_rows(rows, values, other):
    """`values` where `rows` [batch] is True, else `other`; broadcast over the feature axes."""
    return ops.where(ops.reshape(rows, (-1,) + (1,) * (len(values.shape) - 1)), values, other)


@keras.saving.register_keras_serializable(package="rnnkit")
class BidirectionalRNN(keras.layers.Layer):
    """Runs an RNN layer forwards and a copy of it backwards, and merges the two.

    Unlike `keras.layers.Bidirectional`, the backward direction reads each
    row's *real* steps in reverse and keeps the padding at the end (the
    reversed sequence is still right-padded, which is what the fused cuDNN
    kernels want), and with `merge_states=True` the two directions' final
    states are merged into one set that can start a decoder of twice the
    width (`concat`) or the same width (`sum`, `ave`, `mul`).

    Args:
        layer: a `keras.layers.LSTM`, `GRU` or `SimpleRNN` (any `keras.layers.RNN`)
            with `go_backwards=False`. Its `return_sequences` and
            `return_state` decide what this layer returns.
        merge_mode: how the two directions are combined: `"concat"` (default),
            `"sum"`, `"ave"`, `"mul"`, or `None` for a list `[forward, backward]`.
        backward_layer: the backward RNN; by default a fresh copy of `layer`'s
            config (its own weights) named `<layer name>_backward`.
        merge_states: with `return_state`, merge each forward state with the
            matching backward state using `merge_mode` (which must not be None).
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Inputs:
        sequences: `[batch, time, features]`.
        mask: optional `[batch, time]` bool, True at real steps. Masks from
            `Embedding(mask_zero=True)` or `MaskFromLengths` (right-padded) are
            the expected case; a mask with holes also works, the real steps are
            taken in order either way.
        initial_state: optional list of the forward states followed by the
            backward states.

    Outputs:
        With `return_sequences`: `[batch, time, units * 2]` for `concat`
        (`units` otherwise); outputs at padded steps are zeros. Without: the
        merged output of the forward direction's last real step and the
        backward direction's (which ends at the first step). With
        `return_state`: `[output, *forward_states, *backward_states]`, or
        `[output, *merged_states]` with `merge_states=True`.

    Masking:
        Padded steps are skipped by both directions, so their values change
        nothing. The mask is passed on when `return_sequences=True` and
        consumed otherwise. A row with no real step gives zero outputs and its
        initial states (zeros by default); internally it runs one padded step,
        because a fully masked row crashes the fused cuDNN kernels.

    Example:
    ```python
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20000, 128, mask_zero=True)(tokens)
    x = BidirectionalRNN(keras.layers.LSTM(64, return_sequences=True))(x)  # [batch, time, 128], mask kept
    encoded, h, c = BidirectionalRNN(
        keras.layers.LSTM(64, return_state=True), merge_states=True
    )(x)  # h, c: [batch, 128], ready to start a 128-unit decoder
    ```
    """

    def __init__(self, layer, merge_mode="concat", backward_layer=None, merge_states=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, keras.layers.RNN):
            raise ValueError(
                f"BidirectionalRNN wraps a keras.layers.RNN (LSTM, GRU, SimpleRNN), not {type(layer).__name__}"
            )
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode must be one of {MERGE_MODES}, not {merge_mode!r}")
        if merge_states and merge_mode is None:
            raise ValueError("merge_states=True needs a merge_mode (concat, sum, ave or mul)")
        if getattr(layer, "go_backwards", False):
            raise ValueError("pass the layer with go_backwards=False; BidirectionalRNN makes the backward direction")
        if backward_layer is None:
            config = layer.get_config()
            config["name"] = f"{layer.name}_backward"
            backward_layer = layer.__class__.from_config(config)
        if not isinstance(backward_layer, keras.layers.RNN):
            raise ValueError(f"backward_layer must be a keras.layers.RNN, not {type(backward_layer).__name__}")
        for flag in ("return_sequences", "return_state"):
            if getattr(layer, flag) != getattr(backward_layer, flag):
                raise ValueError(f"layer and backward_layer must agree on {flag}")
        self.forward_layer = layer
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.merge_states = merge_states
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True

    def build(self, sequences_shape, initial_state_shape=None):
        self.forward_layer.build(sequences_shape)
        self.backward_layer.build(sequences_shape)
        self.built = True

    def _merge(self, forward, backward):
        if self.merge_mode == "concat":
            return ops.concatenate([forward, backward], axis=-1)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "ave":
            return (forward + backward) / 2
        if self.merge_mode == "mul":
            return forward * backward
        return [forward, backward]

    def call(self, sequences, mask=None, initial_state=None, training=None):
        forward_initial = backward_initial = None
        if initial_state is not None:
            initial_state = list(initial_state)
            if len(initial_state) % 2:
                raise ValueError(
                    f"initial_state needs the forward states then the backward states; got {len(initial_state)} tensors"
                )
            half = len(initial_state) // 2
            forward_initial, backward_initial = initial_state[:half], initial_state[half:]
        rnn_mask = has_steps = None
        if mask is not None:
            mask = ops.cast(mask, "bool")
            # A row without any real step crashes the fused cuDNN kernels; such rows run one padded
            # step instead, and their outputs and states are put back to the "no steps" values below.
            has_steps = ops.any(mask, axis=1)
            first_step = masking.mask_like(sequences, ops.ones_like(masking.lengths_from_mask(mask)))
            rnn_mask = ops.logical_or(mask, ops.logical_and(first_step, ops.expand_dims(~has_steps, 1)))
        reversed_sequences, order = masking.reverse_valid(sequences, rnn_mask)
        # Real steps come first after reversal, so the reversed mask is the length mask.
        reversed_mask = None if rnn_mask is None else masking.mask_like(sequences, masking.lengths_from_mask(rnn_mask))
        forward = self.forward_layer(sequences, mask=rnn_mask, initial_state=forward_initial, training=training)
        backward = self.backward_layer(
            reversed_sequences, mask=reversed_mask, initial_state=backward_initial, training=training
        )
        forward_states = backward_states = []
        if self.return_state:
            forward, *forward_states = forward
            backward, *backward_states = backward
        if self.return_sequences:
            backward = masking.take_steps(backward, masking.invert_order(order))
            forward = masking.masked_fill(forward, mask)
            backward = masking.masked_fill(backward, mask)
        elif has_steps is not None:
            forward = _where_rows(has_steps, forward, ops.zeros_like(forward))
            backward = _where_rows(has_steps, backward, ops.zeros_like(backward))
        if has_steps is not None:
            forward_states = [_where_rows(has_steps, state, ops.zeros_like(state) if start is None else start)
                              for state, start in zip(forward_states, forward_initial or [None] * len(forward_states),
                                                      strict=True)]
            backward_states = [_where_rows(has_steps, state, ops.zeros_like(state) if start is None else start)
                               for state, start in zip(backward_states,
                                                       backward_initial or [None] * len(backward_states), strict=True)]
        output = self._merge(forward, backward)
        if not self.return_state:
            return output
        if self.merge_states:
            states = [self._merge(f, b) for f, b in zip(forward_states, backward_states, strict=True)]
        else:
            states = [*forward_states, *backward_states]
        if self.merge_mode is None:
            return [*output, *states]
        return [output, *states]

    def compute_mask(self, sequences, mask=None, initial_state=None):
        output_mask = mask if self.return_sequences else None
        if self.merge_mode is None:
            output_mask = [output_mask, output_mask]
        else:
            output_mask = [output_mask]
        if not self.return_state:
            return output_mask if self.merge_mode is None else output_mask[0]
        state_count = len(self.forward_layer.cell.state_size) if isinstance(
            self.forward_layer.cell.state_size, (list, tuple)
        ) else 1
        states = state_count if self.merge_states else 2 * state_count
        return [*output_mask, *([None] * states)]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "layer": keras.saving.serialize_keras_object(self.forward_layer),
                "backward_layer": keras.saving.serialize_keras_object(self.backward_layer),
                "merge_mode": self.merge_mode,
                "merge_states": self.merge_states,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        config["backward_layer"] = keras.saving.deserialize_keras_object(config["backward_layer"])
        return cls(**config)
