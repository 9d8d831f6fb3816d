"""Attention over frames: a film strip of a clip's frames with the weight the model gave each one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rnnkit.io import atomic_path  # noqa: E402


def plot_frame_attention(frames, weights, path: str | Path, title: str = "",
                         probabilities: Sequence[tuple[str, float]] = ()) -> Path:
    """frames: [n, h, w, 3] (0..255) of the real frames only; weights: [n] attention per frame.

    The top row shows the frames, each framed as brightly as its weight; the
    bars below are the weights, so a reader sees which moments decided the class.
    """
    frames = np.asarray(frames)
    weights = np.asarray(weights, np.float32)[: len(frames)]
    count = max(1, len(frames))
    figure = plt.figure(figsize=(max(6.0, 0.95 * count), 2.9 if probabilities else 2.6))
    grid = figure.add_gridspec(2, count, height_ratios=(1.0, 1.0), hspace=0.1, wspace=0.05)
    top = float(weights.max()) if weights.size else 1.0
    colours = plt.get_cmap("inferno")
    for index in range(len(frames)):
        axis = figure.add_subplot(grid[0, index])
        axis.imshow(np.clip(frames[index], 0, 255).astype(np.uint8))
        axis.set_xticks([])
        axis.set_yticks([])
        share = float(weights[index]) / top if top > 0 else 0.0
        for spine in axis.spines.values():
            spine.set_edgecolor(colours(0.2 + 0.7 * share))
            spine.set_linewidth(1 + 3 * share)
        axis.set_title(str(index + 1), fontsize=7)
    bars = figure.add_subplot(grid[1, :])
    bars.bar(np.arange(len(weights)) + 1, weights, color=[colours(0.2 + 0.7 * float(w) / (top or 1)) for w in weights])
    bars.set_xlim(0.5, count + 0.5)
    bars.set_xlabel("frame")
    bars.set_ylabel("attention")
    bars.grid(axis="y", alpha=0.3)
    if probabilities:
        title = (title + "\n" if title else "") + "   ".join(f"{name} {score:.2f}" for name, score in probabilities)
    if title:
        figure.suptitle(title, fontsize=9)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)
    return Path(path)
