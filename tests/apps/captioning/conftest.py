from __future__ import annotations

import io

import numpy as np
import pytest

from rnnkit.cli import main as rnnkit_main

# A tiny run: a random encoder, frozen (its features cached), 2x2 feature grid. The notebook's tiny
# run trains the encoder end to end, so both paths run in the tests. No --encoder-weights: the demo
# needs no ImageNet weights (encoder_weights=auto is none for it), so it runs offline as it is.
TINY = ["--set", "train_encoder=false", "--set", "image_size=64", "--set", "units=16",
        "--set", "embedding_dim=8", "--set", "attention_units=8", "--set", "max_length=8", "--set", "max_images=32",
        "--set", "batch_size=32", "--set", "beam_width=2"]


@pytest.fixture(scope="session")
def tiny_run(session_tmp):
    out = session_tmp / "captioning-run"
    assert rnnkit_main(["captioning", "train", "--data", "demo", "--out", str(out), "--epochs", "1", "--samples", "0", *TINY]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_export(tiny_run, session_tmp):
    from apps.captioning.export import export

    return export(tiny_run, session_tmp / "saved_models")


def encode(array: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def image_files(session_tmp):
    """The bad-input zoo: a real picture, grayscale, RGBA, very large, and bytes that are no image."""
    from apps.captioning.data import demo_item

    folder = session_tmp / "images"
    folder.mkdir()
    picture = demo_item(np.random.default_rng(1), 0).array
    files = {
        "rgb": ("shapes.jpg", encode(picture, "JPEG")),
        "grayscale": ("gray.png", encode(picture.mean(axis=2).astype(np.uint8), "PNG")),
        "alpha": ("alpha.png", encode(np.dstack([picture, np.full(picture.shape[:2], 128, np.uint8)]), "PNG")),
        "large": ("large.jpg", encode(np.repeat(np.repeat(picture, 50, axis=0), 60, axis=1), "JPEG")),  # 4800x5760
        "garbage": ("notes.jpg", b"this is not a picture, only text with a .jpg name\n" * 20),
    }
    paths = {}
    for key, (name, data) in files.items():
        (folder / name).write_bytes(data)
        paths[key] = folder / name
    return paths
