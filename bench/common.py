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
    """bench/results/<name>.json (or under $RNNKIT_BENCH_RESULTS, so that tests leave real results alone)."""
    from rnnkit.io import atomic_write_json

    folder = os.environ.get("RNNKIT_BENCH_RESULTS") or Path(__file__).resolve().parent / "results"
    path = Path(folder) / f"{name}.json"
    return atomic_write_json(path, payload)


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {column: max(len(column), *(len(str(row.get(column, ""))) for row in rows)) for column in columns}
    print("  ".join(column.ljust(widths[column]) for column in columns))
    for row in rows:
        print("  ".join(str(row.get(column, "")).ljust(widths[column]) for column in columns))


def dumps(payload: dict) -> str:
    return json.dumps(payload, indent=2)


def run_or_demo(app: str, run_dir: str | None, *train_flags: str) -> str:
    """`run_dir` when given, else a small run of `app` trained on its demo data (`train_flags`) in a temporary folder."""
    if run_dir is not None:
        return run_dir
    import tempfile

    from rnnkit.cli import main as rnnkit_main

    run_dir = os.path.join(tempfile.mkdtemp(prefix=f"bench-{app}-"), "run")
    if rnnkit_main([app, "train", "--data", "demo", "--out", run_dir, *train_flags]) != 0:
        raise SystemExit(f"training the {app} demo run for the benchmark failed")
    return run_dir


def one_thread() -> None:
    """TensorFlow on one intra-op and one inter-op thread, as a phone app's single inference thread."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
