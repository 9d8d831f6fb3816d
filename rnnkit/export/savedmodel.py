"""SavedModels laid out for TF Serving: `<to>/<app>/<version>/`.

TF Serving watches a model base path (`<to>/<app>`) and loads the folders
whose names are integers. A version is written under a dot-prefixed
temporary name and renamed into place only when complete, so a server never
picks up half a model and an interrupted export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnnkit.io import atomic_directory

EXTRA_DIR = "assets.extra"  # the SavedModel folder for files the loader ignores


def model_base_path(to: str | os.PathLike, app: str) -> Path:
    return Path(to) / app


def existing_versions(base: str | os.PathLike) -> list[int]:
    base = Path(base)
    if not base.is_dir():
        return []
    return sorted(int(child.name) for child in base.iterdir() if child.is_dir() and re.fullmatch(r"\d+", child.name))


def next_version(base: str | os.PathLike) -> int:
    versions = existing_versions(base)
    return versions[-1] + 1 if versions else 1


@contextlib.contextmanager
def new_version(to: str | os.PathLike, app: str, version: int | None = None) -> Iterator[tuple[Path, Path]]:
    """Yield (scratch folder, final folder) for a new model version.

    Write the SavedModel and any side files into the scratch folder; on
    success it is renamed to `<to>/<app>/<version>`.
    """
    base = model_base_path(to, app)
    if version is None:
        version = next_version(base)
    elif version < 1:
        raise ValueError(f"--version must be a positive integer, not {version}")
    final = base / str(version)
    if final.exists():
        raise FileExistsError(f"{final} already exists; pick another --version or leave it out to use {next_version(base)}")
    with atomic_directory(final) as scratch:
        yield scratch, final


def write_extra(version_dir: str | os.PathLike, name: str, content: str | bytes | dict | list) -> Path:
    """Put a side file (config, vocabulary, labels) in the SavedModel's assets.extra."""
    path = Path(version_dir) / EXTRA_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, (dict, list)):
        content = json.dumps(content, indent=2) + "\n"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def read_extra(version_dir: str | os.PathLike, name: str) -> Any:
    path = Path(version_dir) / EXTRA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; was {version_dir} written by `rnnkit ... export`?")
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else text


def signature_summary(saved_model_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Inputs and outputs (dtype, shape) of every serving signature, from a fresh load."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_model_dir))
    summary = {}
    for key, function in loaded.signatures.items():
        _, inputs = function.structured_input_signature
        summary[key] = {
            "inputs": {name: (spec.dtype.name, spec.shape.as_list() if spec.shape.rank is not None else None)
                       for name, spec in inputs.items()},
            "outputs": {name: (spec.dtype.name, spec.shape.as_list() if spec.shape.rank is not None else None)
                        for name, spec in function.structured_outputs.items()},
        }
    return summary
