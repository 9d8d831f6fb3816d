"""Plots people would rather look at than read: learning curves, confusion
matrices, tuner trial scores, attention maps. Every figure is written
atomically with the non-interactive Agg backend (no display needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rnnkit.io import atomic_path  # noqa: E402


def _save(figure, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    plt.close(figure)
    return Path(path)


def plot_learning_curves(history: Sequence[Mapping[str, float]], path: str | Path, title: str = "") -> Path:
    """One panel per metric, training and validation curves together, by epoch."""
    names = []
    for row in history:
        for key in row:
            base = key[4:] if key.startswith("val_") else key
            if key not in {"epoch", "learning_rate", "seconds"} and base not in names:
                names.append(base)
    columns = min(3, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.2 * rows), squeeze=False)
    epochs = [row.get("epoch", index + 1) for index, row in enumerate(history)]
    for axis, name in zip(axes.flat, names, strict=False):
        for key, style in ((name, "-o"), (f"val_{name}", "-s")):
            points = [(epoch, row[key]) for epoch, row in zip(epochs, history, strict=True) if key in row]
            if points:
                axis.plot(*zip(*points, strict=True), style, markersize=3, label="validation" if key.startswith("val_") else "training")
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def plot_trial_scores(scores: Sequence[float | None], path: str | Path, objective: str, direction: str) -> Path:
    """Each completed trial's score and the best score so far."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    xs = [index + 1 for index, score in enumerate(scores) if score is not None]
    ys = [score for score in scores if score is not None]
    axis.plot(xs, ys, "o", label="trial")
    best, running = None, []
    for score in ys:
        if best is None or (score < best if direction == "min" else score > best):
            best = score
        running.append(best)
    axis.plot(xs, running, "-", label="best so far")
    axis.set_xlabel("trial")
    axis.set_ylabel(objective)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return _save(figure, path)


def plot_confusion_matrix(matrix, labels: Sequence[str], path: str | Path, title: str = "Confusion matrix") -> Path:
    """Counts, with each row (true class) shaded by its share."""
    import numpy as np

    matrix = np.asarray(matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if len(labels) <= 30:
        for row in range(matrix.shape[0]):
            for column in range(matrix.shape[1]):
                axis.text(column, row, str(int(matrix[row, column])), ha="center", va="center",
                          color="white" if shares[row, column] > 0.5 else "black", fontsize=8)
    axis.set_title(title)
    figure.tight_layout()
    return _save(figure, path)


def plot_attention_map(image, words: Sequence[str], weights, grid_shape: tuple[int, int], path: str | Path,
                       title: str = "") -> Path:
    """One panel per word: the image with that step's attention over the feature grid laid on top.

    image: [height, width, 3] (0..255 or 0..1); weights: [len(words), grid_h * grid_w].
    """
    import numpy as np

    image = np.asarray(image)
    image = image / 255.0 if image.max() > 1.0 else image
    weights = np.asarray(weights, dtype=np.float32)[: len(words)]
    rows_of_grid, columns_of_grid = grid_shape
    count = max(1, len(words))
    columns = min(5, count)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.6 * rows), squeeze=False)
    height, width = image.shape[:2]
    for axis, word, weight in zip(axes.flat, words, weights, strict=False):
        axis.imshow(image)
        axis.imshow(weight.reshape(rows_of_grid, columns_of_grid), cmap="inferno", alpha=0.55,
                    extent=(0, width, height, 0), interpolation="bilinear", vmin=0.0, vmax=max(float(weight.max()), 1e-6))
        axis.set_title(word, fontsize=10)
        axis.axis("off")
    for axis in list(axes.flat)[len(words):]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def plot_bars(labels: Sequence[str], values: Sequence[float], path: str | Path, ylabel: str, title: str = "",
              notes: Sequence[str] | None = None, ylim: tuple[float, float] | None = None) -> Path:
    """One bar per label (e.g. accuracy per length bucket), each annotated with its note or value."""
    figure, axis = plt.subplots(figsize=(max(4.0, 1.1 * len(labels) + 1.5), 3.5))
    bars = axis.bar(range(len(labels)), values, color="#4c72b0")
    axis.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 5 else 0, ha="right" if len(labels) > 5 else "center")
    axis.set_ylabel(ylabel)
    if ylim:
        axis.set_ylim(*ylim)
    for index, bar in enumerate(bars):
        note = notes[index] if notes else f"{values[index]:.3g}"
        axis.annotate(note, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    if title:
        axis.set_title(title)
    figure.tight_layout()
    return _save(figure, path)


def plot_token_weights(tokens: Sequence[str], weights, path: str | Path, title: str = "", per_row: int = 12) -> Path:
    """Tokens laid out as text, each on a background as dark as its weight (attention over words, frames, ...)."""
    import numpy as np

    weights = np.asarray(weights, dtype=np.float32)[: len(tokens)]
    # Shade from the smallest to the largest weight of this text, so the ranking shows even when weights are close.
    low, top = (float(weights.min()), float(weights.max())) if weights.size else (0.0, 1.0)
    span = top - low if top > low else 1.0
    rows = max(1, math.ceil(len(tokens) / per_row))
    figure, axis = plt.subplots(figsize=(per_row * 0.95, 0.42 * rows + 0.6))
    colours = plt.get_cmap("Reds")
    for index, (token, weight) in enumerate(zip(tokens, weights, strict=False)):
        share = 0.1 + 0.9 * (float(weight) - low) / span
        axis.text(index % per_row, -(index // per_row), token, ha="center", va="center", fontsize=9,
                  color="white" if share > 0.6 else "black",
                  bbox={"boxstyle": "round,pad=0.2", "facecolor": colours(share), "edgecolor": "none"})
    axis.set_xlim(-0.6, per_row - 0.4)
    axis.set_ylim(-rows + 0.4, 0.6)
    axis.axis("off")
    if title:
        axis.set_title(title, fontsize=10)
    return _save(figure, path)
