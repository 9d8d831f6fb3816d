"""Speech plots: a clip's log-mel spectrogram with the model's attention over time under it."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rnnkit.io import atomic_path  # noqa: E402


def plot_attention_over_time(spectrogram, weights, path: str | Path, seconds: float, title: str = "",
                             ylabel: str = "attention") -> Path:
    """Spectrogram [mel, time] on top; a value per RNN step [steps] below (attention, a probability), on one time axis."""
    spectrogram = np.asarray(spectrogram, np.float32)
    weights = np.asarray(weights, np.float32)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 4.2), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
    top.imshow(spectrogram, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, spectrogram.shape[0]))
    top.set_ylabel("mel bin")
    if title:
        top.set_title(title, fontsize=10)
    edges = np.linspace(0, seconds, weights.size + 1)
    bottom.bar(edges[:-1], weights, width=np.diff(edges), align="edge", color="#c44e52")
    bottom.set_ylabel(ylabel)
    bottom.set_xlabel("seconds")
    bottom.set_xlim(0, seconds)
    bottom.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)
    return Path(path)
