"""The gradient tab's numbers at length 100: how much of the loss reaches the first step.

Measured with the Keras layers' own default initialisation, the ordering at initialisation is
GRU < LSTM < SimpleRNN, not the textbook's SimpleRNN << LSTM/GRU: the orthogonal recurrent kernel
keeps the Elman net's Jacobian near the tanh slope, while a gated cell's carry is its gate at
init (LSTM forget gate sigmoid(1) = 0.73, GRU update gate sigmoid(0) = 0.5) raised to the
distance. Open the gates (chrono init) and the gated cells keep the gradient; shrink the Elman
net's recurrent weights and its gradient vanishes as the textbook says. These tests pin all three.
"""

from __future__ import annotations

import math

import pytest

from rnnkit.lab import gradients

LENGTH = 100


@pytest.fixture(scope="module")
def at_init():
    default = {r.cell: r.norms[0] for r in gradients.compare_cells(gradients.CELLS, LENGTH, units=64)}
    chrono = {r.cell: r.norms[0] for r in gradients.compare_cells(["lstm", "gru"], LENGTH, units=64, gate_init="chrono")}
    return default, chrono


def orders(value: float) -> float:
    return math.log10(value)


def test_every_cell_loses_orders_of_magnitude_at_keras_default_init(at_init):
    default, _ = at_init
    last = {r.cell: r.norms[-1] for r in gradients.compare_cells(gradients.CELLS, LENGTH, units=64)}
    for cell in gradients.CELLS:
        assert orders(last[cell]) - orders(default[cell]) > 2, cell


def test_ordering_at_keras_default_init_is_gru_below_lstm_below_simple_rnn(at_init):
    default, _ = at_init
    assert orders(default["simple"]) - orders(default["lstm"]) > 2
    assert orders(default["lstm"]) - orders(default["gru"]) > 5


def test_open_gates_carry_the_gradient_back_to_the_first_step(at_init):
    default, chrono = at_init
    for cell in ("lstm", "gru"):
        assert orders(chrono[cell]) - orders(default[cell]) > 3, cell
    shrunk, = gradients.compare_cells(["simple"], LENGTH, units=64, recurrent_scale=0.5)
    # the textbook ordering, once the Elman net's recurrence contracts (spectral radius 0.5)
    assert all(orders(chrono[cell]) - orders(shrunk.norms[0]) > 10 for cell in ("lstm", "gru"))
