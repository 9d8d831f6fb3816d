"""Kill training mid-run, resume, and lose no epoch."""

import json
import os
import signal
import subprocess
import sys
import time

from tests.apps.textgen.conftest import TINY
from tests.conftest import ROOT, python_env

EPOCHS = 8


def read_state(run):
    try:
        return json.loads((run / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_killed_training_resumes_from_the_last_completed_epoch(tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "apps.textgen.train", "--data", "demo", "--out", str(run),
               "--epochs", str(EPOCHS), "--sample-length", "0", *TINY]
    process = subprocess.Popen(command, cwd=ROOT, env=python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        state = read_state(run)
        if state and state["epoch"] >= 2:
            break
        time.sleep(0.05)  # polling the run folder, not waiting for speed
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "training finished before it could be killed; raise EPOCHS"

    killed_at = read_state(run)["epoch"]
    assert 2 <= killed_at < EPOCHS
    steps = read_state(run)["optimizer_iterations"] // killed_at

    resumed = subprocess.run([*command, "--resume"], cwd=ROOT, env=python_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming {run} after epoch {killed_at}" in resumed.stdout

    state = read_state(run)
    assert [row["epoch"] for row in state["history"]] == list(range(1, EPOCHS + 1)), "no epoch lost or repeated"
    assert state["optimizer_iterations"] == EPOCHS * steps
    history = (run / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == [str(epoch) for epoch in range(1, EPOCHS + 1)]
