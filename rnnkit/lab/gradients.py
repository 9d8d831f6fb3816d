"""Vanishing and exploding gradients: how much of the loss reaches each earlier time step.

Two long-memory tasks, the classic tests of a recurrent network:

    adding   two channels: a value in [0, 1) and a marker; exactly two steps are marked (one in each
             half) and the target, read at the last step, is the sum of their values. Predicting
             the mean (1.0) scores MSE 1/6, the no-memory baseline.
    copy     `remember` symbols (of `symbols`) are shown at the start, then blanks; during the last
             `remember` steps a recall marker is on and the network must output the symbols in
             order. Guessing scores cross-entropy ln(symbols).

`step_gradients` measures, for a freshly initialised (or trained) network, the norm of the
gradient of the task loss with respect to the input at every step t, averaged over a batch:
what the loss can still learn from step t. Its value at the first step of a length-100 sequence
is the textbook number. `race` trains one network per cell on a task for a few seconds each and
records validation loss against time.

The networks are plain Keras layers with their own default initialisation (kernel
glorot_uniform, recurrent orthogonal, LSTM forget bias 1, GRU biases 0); `recurrent_scale`
multiplies the recurrent kernel after it is drawn, and `gate_init="chrono"` opens the gates the
way Tallec & Ollivier (2018) do, so the carry lasts about `length` steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

CELLS = ("simple", "lstm", "gru")
CELL_NAMES = {"simple": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
ACTIVATIONS = ("tanh", "relu", "sigmoid")
TASKS = ("adding", "copy")
GATE_INITS = ("default", "chrono")
COPY_SYMBOLS, COPY_REMEMBER = 8, 3


def _check(cell: str, task: str, length: int, activation: str = "tanh", gate_init: str = "default") -> None:
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, not {cell!r}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}")
    if gate_init not in GATE_INITS:
        raise ValueError(f"gate_init must be one of {', '.join(GATE_INITS)}, not {gate_init!r}")
    if length < 2 * COPY_REMEMBER + 2:
        raise ValueError(f"length must be at least {2 * COPY_REMEMBER + 2}, not {length}")


# -- tasks --------------------------------------------------------------------


def adding_batch(rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """x float32 [batch, length, 2] (value, marker), y float32 [batch, 1]."""
    values = rng.uniform(0.0, 1.0, (batch, length)).astype(np.float32)
    markers = np.zeros((batch, length), np.float32)
    half = length // 2
    rows = np.arange(batch)
    markers[rows, rng.integers(0, half, batch)] = 1.0
    markers[rows, rng.integers(half, length, batch)] = 1.0
    return np.stack([values, markers], axis=-1), (values * markers).sum(axis=1, keepdims=True)


def copy_batch(rng: np.random.Generator, batch: int, length: int, symbols: int = COPY_SYMBOLS,
               remember: int = COPY_REMEMBER) -> tuple[np.ndarray, np.ndarray]:
    """x float32 [batch, length, symbols + 2] (one-hot symbols, blank, recall), y int32 [batch, remember]."""
    shown = rng.integers(0, symbols, (batch, remember))
    x = np.zeros((batch, length, symbols + 2), np.float32)
    x[:, :, symbols] = 1.0  # blank
    for position in range(remember):
        x[np.arange(batch), position, symbols] = 0.0
        x[np.arange(batch), position, shown[:, position]] = 1.0
    x[:, length - remember:, symbols + 1] = 1.0  # recall now
    return x, shown.astype(np.int32)


def task_batch(task: str, rng: np.random.Generator, batch: int, length: int):
    return adding_batch(rng, batch, length) if task == "adding" else copy_batch(rng, batch, length)


def baseline_loss(task: str) -> float:
    """The loss of the best answer that ignores the sequence: predict 1.0 (adding), guess (copy)."""
    return 1.0 / 6.0 if task == "adding" else math.log(COPY_SYMBOLS)


# -- networks -----------------------------------------------------------------


def build_network(cell: str, task: str, length: int, units: int = 64, activation: str = "tanh",
                  recurrent_scale: float = 1.0, gate_init: str = "default", seed: int = 0):
    """Input [batch, length, features] -> one RNN layer -> Dense: the prediction (adding) or logits (copy)."""
    import keras

    _check(cell, task, length, activation, gate_init)
    keras.utils.set_random_seed(int(seed))
    layer_class = {"simple": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    features = 2 if task == "adding" else COPY_SYMBOLS + 2
    inputs = keras.Input((length, features), name="sequence")
    rnn = layer_class(units, activation=activation, return_sequences=task == "copy", name="rnn")
    x = rnn(inputs)
    if task == "copy":
        x = x[:, -COPY_REMEMBER:]  # the recall steps
    outputs = keras.layers.Dense(1 if task == "adding" else COPY_SYMBOLS, name="head")(x)
    model = keras.Model(inputs, outputs, name=f"{cell}_{task}")
    if recurrent_scale != 1.0:
        rnn.cell.recurrent_kernel.assign(rnn.cell.recurrent_kernel * float(recurrent_scale))
    if gate_init == "chrono" and cell != "simple":
        _chrono_init(rnn, length, np.random.default_rng(seed + 1))
    return model


def _chrono_init(rnn, length: int, rng: np.random.Generator) -> None:
    """Gate biases log(U(1, length - 1)): each unit keeps its memory for up to ~`length` steps."""
    units = rnn.units
    timescales = np.log(rng.uniform(1.0, max(2.0, length - 1.0), units)).astype(np.float32)
    bias = rnn.cell.bias.numpy()
    if bias.ndim == 2:  # GRU with reset_after: [input bias; recurrent bias], gates z, r, h
        bias[0, :units] = timescales  # the update gate z weighs the carried state
        bias[1, :units] = 0.0
    elif rnn.__class__.__name__ == "GRU":
        bias[:units] = timescales
    else:  # LSTM gates i, f, c, o
        bias[:units] = -timescales
        bias[units: 2 * units] = timescales
    rnn.cell.bias.assign(bias)


def task_loss(task: str, targets, outputs):
    import keras

    if task == "adding":
        return keras.ops.mean(keras.ops.square(outputs - targets))
    return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(targets, outputs, from_logits=True))


# -- gradient per step -----------------------------------------------------------


@dataclass
class StepGradients:
    cell: str
    norms: np.ndarray  # [length] mean over the batch of |dL/dx_t|
    parameter_norm: float  # global norm of dL/dweights
    clip_factor: float  # what clipping at `clipnorm` multiplies every gradient by (1: no change)

    @property
    def first_over_last(self) -> float:
        return float(self.norms[0] / self.norms[-1]) if self.norms[-1] > 0 else 0.0

    @property
    def orders_lost(self) -> float:
        """log10(|g_last| / |g_first|): how many orders of magnitude the gradient loses over the sequence."""
        if self.norms[0] <= 0:
            return math.inf
        return float(math.log10(self.norms[-1] / self.norms[0]))


def step_gradients(model, task: str, length: int, batch: int = 32, clipnorm: float = 1.0, seed: int = 0) -> StepGradients:
    """|dL/dx_t| for every step t of a batch of `task` sequences, in float64 where it matters."""
    import tensorflow as tf

    x, y = task_batch(task, np.random.default_rng(10_000 + seed), batch, length)
    inputs = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        loss = task_loss(task, tf.constant(y), model(inputs, training=False))
    input_gradient = tape.gradient(loss, inputs).numpy().astype(np.float64)
    weight_gradients = tape.gradient(loss, model.trainable_variables)
    del tape
    norms = np.sqrt((input_gradient ** 2).sum(axis=-1)).mean(axis=0)
    parameter_norm = float(np.sqrt(sum(float(tf.reduce_sum(tf.square(g))) for g in weight_gradients if g is not None)))
    clip_factor = min(1.0, clipnorm / parameter_norm) if clipnorm and parameter_norm > 0 else 1.0
    cell = model.name.split("_")[0]
    return StepGradients(cell, norms, parameter_norm, clip_factor)


def compare_cells(cells: Sequence[str], length: int = 100, task: str = "adding", units: int = 64,
                  activation: str = "tanh", recurrent_scale: float = 1.0, gate_init: str = "default",
                  clipnorm: float = 1.0, seed: int = 0) -> list[StepGradients]:
    """step_gradients of a fresh network per cell, all with the same settings and seed."""
    return [step_gradients(build_network(cell, task, length, units, activation, recurrent_scale, gate_init, seed),
                           task, length, clipnorm=clipnorm, seed=seed)
            for cell in cells]


# -- training race -------------------------------------------------------------------


@dataclass
class Curve:
    cell: str
    seconds: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    model: object = None

    @property
    def final(self) -> float:
        return self.val_loss[-1] if self.val_loss else math.nan


def training(cell: str, task: str, length: int, seconds: float, units: int = 64, learning_rate: float = 1e-2,
             batch: int = 64, clipnorm: float = 1.0, seed: int = 0, eval_every: float = 1.0,
             **network_kwargs) -> Iterator[Curve]:
    """Train one network on freshly drawn batches for `seconds` of wall time.

    Yields the curve after every validation (about every `eval_every` seconds, and at the end);
    the last one holds the trained model."""
    import keras
    import tensorflow as tf

    model = build_network(cell, task, length, units, seed=seed, **network_kwargs)
    optimizer = keras.optimizers.Adam(learning_rate, global_clipnorm=clipnorm if clipnorm else None)
    rng = np.random.default_rng(seed)
    val_x, val_y = (tf.constant(array) for array in task_batch(task, np.random.default_rng(99_999), 256, length))

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = task_loss(task, y, model(x, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def val_loss():
        return task_loss(task, val_y, model(val_x, training=False))

    curve = Curve(cell, model=model)

    def evaluate(elapsed: float, steps: int) -> Curve:
        curve.seconds.append(round(elapsed, 2))
        curve.steps.append(steps)
        curve.val_loss.append(float(val_loss()))
        return curve

    start = time.perf_counter()
    yield evaluate(0.0, 0)
    steps, next_eval = 0, eval_every
    while True:
        x, y = task_batch(task, rng, batch, length)
        train_step(tf.constant(x), tf.constant(y))
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            yield evaluate(elapsed, steps)
            return
        if elapsed >= next_eval:
            yield evaluate(elapsed, steps)
            next_eval = elapsed + eval_every


def train_for(cell: str, task: str, length: int, seconds: float, **kwargs) -> Curve:
    """`training` run to the end: the finished curve with its trained model."""
    *_, curve = training(cell, task, length, seconds, **kwargs)
    return curve


def race(cells: Sequence[str], task: str = "adding", length: int = 100, seconds: float = 60.0,
         **kwargs) -> Iterator[list[Curve]]:
    """Train each cell in turn for `seconds`; yields all curves so far after every validation."""
    done: list[Curve] = []
    for cell in cells:
        for curve in training(cell, task, length, seconds, **kwargs):
            yield [*done, curve]
        done.append(curve)


def main(argv=None) -> int:
    """The gradient tab from the command line: norms at initialisation, then the training race."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rnnkit.lab.gradients", description=(
        "Gradient reaching the first step at initialisation (Keras default and chrono gates), then each cell "
        "trained for --seconds on the task, its validation loss and its gradient after training."))
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--task", choices=TASKS, default="adding")
    parser.add_argument("--seconds", type=float, default=60.0, help="training time per cell (0: skip the race)")
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--seeds", type=int, default=3, help="initialisations averaged (geometric mean) for the norms")
    args = parser.parse_args(argv)

    print(f"{args.task} task, length {args.length}, {args.units} units; |dL/dx_1| (geometric mean over {args.seeds} seeds)")
    for gate_init in GATE_INITS:
        row = []
        for cell in CELLS:
            if gate_init == "chrono" and cell == "simple":
                continue
            logs = [math.log10(max(step_gradients(build_network(cell, args.task, args.length, args.units, gate_init=gate_init,
                                                                 seed=seed), args.task, args.length, seed=seed).norms[0], 1e-300))
                    for seed in range(args.seeds)]
            row.append(f"{CELL_NAMES[cell]} 1e{np.mean(logs):.1f} (seeds {', '.join(f'1e{v:.1f}' for v in logs)})")
        print(f"  gates {gate_init:<8}" + " | ".join(row))
    if args.seconds > 0:
        baseline = baseline_loss(args.task)
        print(f"training {args.seconds:g} s per cell, Adam {args.learning_rate:g}, clip 1.0; baseline {baseline:.4f}")
        for cell in CELLS:
            curve = train_for(cell, args.task, args.length, args.seconds, units=args.units, learning_rate=args.learning_rate)
            after = step_gradients(curve.model, args.task, args.length)
            trace = ", ".join(f"{s:.0f}s {v:.3f}" for s, v in list(zip(curve.seconds, curve.val_loss, strict=True))[::10])
            print(f"  {CELL_NAMES[cell]:<9} {curve.steps[-1]:>5} steps, val {curve.final:.4f} ({curve.final / baseline:.2f} of "
                  f"baseline), |dL/dx_1| after {after.norms[0]:.2e}, last step {after.norms[-1]:.2e}\n            {trace}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
