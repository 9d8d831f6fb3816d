"""Small helpers shared by the benchmarks: timing, memory, machine description."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from contextlib import contextmanager
from pathlib import Path


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    import tensorflow as tf

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}, TensorFlow {tf.__version__}"


@contextmanager
def timer():
    box = {}
    started = time.perf_counter()
    yield box
    box["seconds"] = time.perf_counter() - started


def save_result(name: str, payload: dict) -> Path:
    from rnnkit.io import atomic_write_json

    path = Path(__file__).resolve().parent / "results" / f"{name}.json"
    return atomic_write_json(path, payload)


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {column: max(len(column), *(len(str(row.get(column, ""))) for row in rows)) for column in columns}
    print("  ".join(column.ljust(widths[column]) for column in columns))
    for row in rows:
        print("  ".join(str(row.get(column, "")).ljust(widths[column]) for column in columns))


def dumps(payload: dict) -> str:
    return json.dumps(payload, indent=2)
