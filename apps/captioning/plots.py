"""The picture `evaluate` writes next to the attention maps: photos with their generated and reference captions."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plot_caption_grid(images, captions: Sequence[str], references: Sequence[Sequence[str]], path: str | Path,
                      columns: int = 4, title: str = "") -> Path:
    """A grid of photos, each with the model's caption (bold) and its first two reference captions below.

    images: [n, height, width, 3] in 0..255; one caption and one list of references per image.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnkit.io import atomic_path

    count = len(captions)
    if count == 0 or len(images) != count or len(references) != count:
        raise ValueError(f"plot_caption_grid: {len(images)} images, {count} captions, {len(references)} reference lists")
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 4.4 * rows), squeeze=False,
                               layout="constrained")  # constrained, unlike tight_layout, leaves room for the title
    for axis, image, caption, refs in zip(axes.flat, images, captions, references, strict=False):
        axis.imshow(np.clip(np.asarray(image, np.float32) / 255.0, 0.0, 1.0))
        axis.set_title("\n".join(textwrap.wrap(caption or "(empty caption)", 34)), fontsize=9, fontweight="bold")
        below = "\n".join("\n".join(textwrap.wrap(f"ref: {ref}", 44)) for ref in list(refs)[:2])
        axis.set_xlabel(below, fontsize=7, color="#444444", loc="left")
        axis.set_xticks([])
        axis.set_yticks([])
    for axis in list(axes.flat)[count:]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)
    return Path(path)
