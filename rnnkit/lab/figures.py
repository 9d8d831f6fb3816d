"""The lab's figures, as matplotlib Figure objects (no pyplot state, so tabs can draw at once)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

COLOURS = {"simple": "#c44e52", "lstm": "#4c72b0", "gru": "#55a868"}
NAMES = {"simple": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def _figure(width: float = 7.5, height: float = 3.6):
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure, figure.add_subplot()


def gradient_norms(results, clipnorm: float, title: str = ""):
    """|dL/dx_t| against t (log scale) per cell; dashed: after clipping the whole gradient at `clipnorm`."""
    figure, axis = _figure()
    tiny = 1e-45
    for result in results:
        steps = np.arange(1, len(result.norms) + 1)
        colour = COLOURS.get(result.cell, None)
        axis.semilogy(steps, np.maximum(result.norms, tiny), color=colour, lw=2,
                      label=f"{NAMES.get(result.cell, result.cell)}: step 1 {result.norms[0]:.1e}")
        if clipnorm and result.clip_factor < 1.0:
            axis.semilogy(steps, np.maximum(result.norms * result.clip_factor, tiny), color=colour, lw=1.2, ls="--",
                          label=f"{NAMES.get(result.cell, result.cell)} clipped (x{result.clip_factor:.1e})")
    axis.set_xlabel("time step t (the loss is read after the last step)")
    axis.set_ylabel("|dLoss / dinput_t|")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8, loc="lower right")
    axis.set_title(title or "gradient reaching each earlier step", fontsize=10)
    return figure


def race_curves(curves, baseline: float, task: str):
    """Validation loss against seconds of training, one line per cell, with the no-memory baseline."""
    figure, axis = _figure()
    for curve in curves:
        axis.plot(curve.seconds, curve.val_loss, color=COLOURS.get(curve.cell), lw=2,
                  label=f"{NAMES.get(curve.cell, curve.cell)}: {curve.final:.3g} after {curve.steps[-1] if curve.steps else 0} steps")
    axis.axhline(baseline, color="grey", ls=":", label=f"no-memory baseline {baseline:.3g}")
    axis.set_yscale("log")
    axis.set_xlabel("seconds of training")
    axis.set_ylabel("validation MSE" if task == "adding" else "validation cross-entropy (nats)")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    axis.set_title(f"{task} task", fontsize=10)
    return figure


def cut_distribution(chars, original, tempered, kept, show: int = 30):
    """The next-character distribution before and after temperature, top-k and top-p."""
    figure, axis = _figure(8.0, 3.4)
    order = np.argsort(-tempered)[:show]
    positions = np.arange(len(order))
    final = np.where(kept, tempered, 0.0)
    final = final / final.sum() if final.sum() > 0 else final
    axis.bar(positions, original[order], width=0.8, color="none", edgecolor="#888888", label="model (temperature 1)")
    axis.bar(positions, tempered[order], width=0.55, color=np.where(kept[order], "#4c72b0", "#dddddd"),
             label="after temperature (grey: cut by top-k / top-p)")
    axis.plot(positions, final[order], "o", color="#dd8452", ms=4, label="sampled from (renormalised)")
    axis.set_xticks(positions, [show_char(chars[index]) for index in order], fontsize=8)
    axis.set_ylabel("probability")
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8)
    kept_mass = float(tempered[kept].sum())
    axis.set_title(f"{int(kept.sum())} of {len(chars)} characters kept, {kept_mass:.0%} of the tempered mass", fontsize=10)
    return figure


def next_char(chars, probabilities, context: str, show: int = 15):
    figure, axis = _figure(6.0, 3.0)
    order = np.argsort(-probabilities)[:show]
    axis.bar(range(len(order)), probabilities[order], color="#4c72b0")
    axis.set_xticks(range(len(order)), [show_char(chars[index]) for index in order])
    axis.set_ylabel("P(next character)")
    axis.set_title(f"after {context[-30:]!r}", fontsize=10)
    axis.grid(axis="y", alpha=0.3)
    return figure


def unit_traces(text: str, rows):
    """Chosen units' activations over the text (a heat map, one row per unit)."""
    labels = [label for label, _ in rows]
    values = np.asarray([np.asarray(trace, np.float64) for _, trace in rows]) if rows else np.zeros((1, len(text)))
    figure, axis = _figure(9.0, 0.5 + 0.35 * max(1, len(rows)))
    peak = float(np.max(np.abs(values))) or 1.0
    axis.imshow(values, aspect="auto", cmap="coolwarm", vmin=-peak, vmax=peak, interpolation="nearest")
    axis.set_yticks(range(len(labels)), labels, fontsize=8)
    axis.set_xlabel("character position")
    return figure


def speech(spectrogram, over_time, kind: str, title: str):
    """The spectrogram with the attention (or the stream's word probability) over time beneath it."""
    figure = Figure(figsize=(7.5, 4.2), dpi=100, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
    frames = spectrogram.shape[0]
    top.imshow(spectrogram.T, origin="lower", aspect="auto", cmap="magma", extent=(0, 1, 0, spectrogram.shape[1]))
    top.set_ylabel("mel bin")
    top.set_title(title, fontsize=10)
    steps = len(over_time)
    centres = (np.arange(steps) + 0.5) / max(steps, 1)
    bottom.bar(centres, over_time, width=1.0 / max(steps, 1), color="#c44e52" if kind == "attention" else "#4c72b0")
    bottom.set_ylabel("attention" if kind == "attention" else "P(word)")
    bottom.set_xlabel(f"fraction of the clip ({frames} spectrogram frames, {steps} RNN steps)")
    bottom.set_xlim(0, 1)
    return figure


def forecast(history, future, predicted, low=None, high=None, title: str = ""):
    figure, axis = _figure(8.0, 3.4)
    past = np.arange(-len(history), 0)
    ahead = np.arange(0, len(predicted))
    axis.plot(past, history, color="#444444", lw=1.3, label="lookback (input)")
    if future is not None and len(future):
        axis.plot(ahead[: len(future)], future, color="#444444", lw=1.3, ls=":", label="what happened")
    axis.plot(ahead, predicted, color="#c44e52", lw=2, label="forecast")
    if low is not None and high is not None:
        axis.fill_between(ahead, low, high, color="#c44e52", alpha=0.2, label="interval")
    axis.axvline(0, color="grey", lw=0.8)
    axis.set_xlabel("steps from the forecast start")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title(title, fontsize=10)
    return figure


def show_char(char: str) -> str:
    """A character as a tick label: newline, space and tab made visible."""
    return {"\n": "\\n", " ": "␣", "\t": "\\t"}.get(char, char)

