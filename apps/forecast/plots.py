"""Forecast plots: windows with history, forecast, interval band and truth; error by step ahead."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rnnkit.io import atomic_path  # noqa: E402

COLORS = {"model": "#c44e52", "last_value": "#8c8c8c", "seasonal_naive": "#4c72b0", "linear": "#55a868"}


def _save(figure, path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)
    return Path(path)


def plot_forecast_windows(times, history, truth, forecast, bands, targets: list[str], path, levels=None,
                          title: str = "", max_targets: int = 3, history_steps: int | None = None) -> Path:
    """One row per window, one column per target (at most `max_targets`, spread over the list so the
    last one, often the main target such as ETT's OT, is among them), in original units.

    times: per window the timestamps of its history and horizon; history [k, seq_len, targets];
    truth / forecast [k, horizon, targets]; bands: (low, high) [k, horizon, targets] or None.
    """
    windows, horizon = truth.shape[0], truth.shape[1]
    picked = np.unique(np.linspace(0, len(targets) - 1, num=min(len(targets), max_targets)).round().astype(int))
    shown = len(picked)
    keep = min(history.shape[1], history_steps or max(2 * horizon, 48))
    figure, axes = plt.subplots(windows, shown, figsize=(5.2 * shown, 2.6 * windows), squeeze=False)
    for row in range(windows):
        stamps = np.asarray(times[row])
        past, future = stamps[history.shape[1] - keep: history.shape[1]], stamps[history.shape[1]:]
        for slot, column in enumerate(picked):
            axis = axes[row, slot]
            axis.plot(past, history[row, -keep:, column], color="#333333", linewidth=1, label="history")
            axis.plot(future, truth[row, :, column], color="#333333", linewidth=1, linestyle=":", label="truth")
            axis.plot(future, forecast[row, :, column], color=COLORS["model"], linewidth=1.4, label="forecast")
            if bands is not None:
                label = f"{levels[0]:g}-{levels[1]:g} quantiles" if levels else "interval"
                axis.fill_between(future, bands[0][row, :, column], bands[1][row, :, column], color=COLORS["model"],
                                  alpha=0.2, linewidth=0, label=label)
            axis.axvline(future[0], color="#999999", linewidth=0.6)
            if row == 0:
                axis.set_title(targets[column], fontsize=10)
            axis.tick_params(axis="x", labelsize=7, rotation=20)
            axis.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="best")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def plot_error_by_horizon(errors: dict[str, list[float]], path, ylabel: str = "MSE (standardised)", title: str = "") -> Path:
    figure, axis = plt.subplots(figsize=(6.5, 3.6))
    for name, values in errors.items():
        steps = np.arange(1, len(values) + 1)
        axis.plot(steps, values, label=name, color=COLORS.get(name), linewidth=1.6 if name == "model" else 1.0)
    axis.set_xlabel("steps ahead")
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    if title:
        axis.set_title(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)
