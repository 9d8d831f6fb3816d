"""The forecaster trains on two MultiWorkerMirroredStrategy workers with its default input pipeline.

The default config's pipeline (windows gathered from the series in the graph, reshuffled every
epoch, batches of 256 with a short last one) on the demo series; only the model is small. Both
workers exit 0 after two epochs, report the same all-reduced metrics, all-reduce nothing shaped
by their own batch, and the chief's run folder evaluates.
"""

from __future__ import annotations

import collections
import json
import re

import pytest

from rnnkit.cli import main as rnnkit_main
from tests.cluster import Supervised, worker_commands

SMALL = ["--set", "units=16"]
COLLECTIVE = re.compile(r"rnnkit-reduce: collective (\S+) shape=(\[[^\]]*\]|None)")


@pytest.mark.slow
def test_two_workers_train_the_default_pipeline(tmp_path, capsys):
    run = tmp_path / "run"
    command = ["-m", "apps.forecast.train", "--data", "demo", "--epochs", "2", "--out", str(run),
               "--strategy", "multiworker", *SMALL]
    commands = worker_commands(command, timeout=60)
    for _, env in commands.values():
        env["RNNKIT_TRACE_REDUCE"] = "1"
    cluster = Supervised(commands, tmp_path)
    cluster.start_all()
    cluster.supervise(420, max_restarts=0)
    assert cluster.all_succeeded(), cluster.logs()

    state = json.loads((run / "state.json").read_text())
    assert [row["epoch"] for row in state["history"]] == [1, 2]
    assert (run / "series.json").is_file() and (run / "linear_baseline.npz").is_file()

    logs = [(tmp_path / f"worker{index}-1.log").read_text() for index in (0, 1)]
    shapes = [collections.Counter(shape for _, shape in COLLECTIVE.findall(log)) for log in logs]
    assert shapes[0] and all("None" not in shape for shape in shapes[0]), shapes
    assert shapes[0] == shapes[1], shapes  # the same collectives on both workers
    epochs = [[line.split(" - ", 3)[-1] for line in log.splitlines() if "val_forecast_mse:" in line] for log in logs]
    assert len(epochs[0]) == 2 and epochs[0] == epochs[1], epochs  # synchronous: the same metrics on both

    capsys.readouterr()
    assert rnnkit_main(["forecast", "evaluate", "--model", str(run), "--data", "demo", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["split"] == "test" and metrics["windows"] > 0 and metrics["mse"] > 0
