"""Every app trains on two MultiWorkerMirroredStrategy workers with its default input pipeline.

The defaults that matter here are the input pipeline's (shuffling, length buckets, partial last
batches, uneven splits between workers): each test keeps them and only makes the model and the
demo data small. Both workers must exit 0 after two epochs, the chief's run folder must
evaluate, and what the workers all-reduced besides gradients must be scalars or fixed-shape
metric state, never a batch (keras-team/keras#20585 shim in rnnkit.training, traced with
RNNKIT_TRACE_REDUCE=1).
"""

from __future__ import annotations

import collections
import json
import re

import pytest

from rnnkit.cli import main as rnnkit_main
from tests.cluster import Supervised, worker_commands

# app -> flags that shrink the model (and the amount of demo data), never the input pipeline's settings
SMALL = {
    "textgen": ["--set", "units=16", "--set", "num_layers=1", "--set", "embedding_dim=8", "--set", "max_chars=24000"],
    "sentiment": ["--set", "units=8", "--set", "embedding_dim=8", "--set", "attention_units=8",
                  "--set", "vocab_size=400", "--set", "max_examples=700"],
    "speech": ["--set", "units=8", "--set", "conv_filters=4", "--set", "conv_blocks=1", "--set", "mel_bins=16",
               "--set", "max_per_class=12"],
    "captioning": ["--set", "units=16", "--set", "embedding_dim=8", "--set", "attention_units=8",
                   "--set", "image_size=64", "--set", "max_images=64", "--samples", "0"],
    "video": ["--set", "units=8", "--set", "frame_units=8", "--set", "attention_units=8", "--set", "small_filters=4",
              "--set", "image_size=32", "--set", "num_frames=8", "--set", "max_clips_per_class=10"],
}
COLLECTIVE = re.compile(r"rnnkit-reduce: collective (\S+) shape=(\[[^\]]*\]|None)")


def reduce_trace(log: str) -> tuple[int, collections.Counter]:
    """(how many nests were kept local, the collectives' shapes counted) from a worker's log."""
    local = log.count("rnnkit-reduce: nest kept local")
    return local, collections.Counter(shape for _, shape in COLLECTIVE.findall(log))


@pytest.mark.slow
@pytest.mark.parametrize("app", sorted(SMALL))
def test_two_workers_train_the_default_pipeline(app, tmp_path, capsys):
    run = tmp_path / "run"
    command = ["-m", f"apps.{app}.train", "--data", "demo", "--epochs", "2", "--out", str(run),
               "--strategy", "multiworker", *SMALL[app]]
    commands = worker_commands(command, timeout=60)
    for _, env in commands.values():
        env["RNNKIT_TRACE_REDUCE"] = "1"
    cluster = Supervised(commands, tmp_path)
    cluster.start_all()
    cluster.supervise(420, max_restarts=0)
    assert cluster.all_succeeded(), cluster.logs()

    state = json.loads((run / "state.json").read_text())
    assert [row["epoch"] for row in state["history"]] == [1, 2]

    logs = [(tmp_path / f"worker{index}-1.log").read_text() for index in (0, 1)]
    traces = [reduce_trace(log) for log in logs]
    for local, shapes in traces:
        assert local >= 1, "the first-batch peek is kept on its worker, not all-reduced"
        assert shapes and all(shape != "None" and "None" not in shape for shape in shapes), shapes
    # The same collectives with the same shapes on both workers: nothing shaped by a worker's own batch.
    assert traces[0][1] == traces[1][1], traces

    capsys.readouterr()
    assert rnnkit_main([app, "evaluate", "--model", str(run), "--data", "demo", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics, "evaluate printed its metrics"
