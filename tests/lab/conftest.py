"""One lab server per test session, started the way a user starts it (`rnnkit lab`), on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, python_env

pytest.importorskip("gradio")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabServer:
    def __init__(self, url: str, process: subprocess.Popen, log: Path, cache: Path, started: float, ready: float):
        self.url, self.process, self.log, self.cache = url, process, log, cache
        self.startup_seconds = ready - started

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    # RNNKIT_LAB_TEST_CACHE keeps the fallback models between runs while working on the lab.
    cache = os.environ.get("RNNKIT_LAB_TEST_CACHE") or str(folder / "cache")
    port = free_port()
    log = folder / "server.log"
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from rnnkit.cli import main; raise SystemExit(main())",
             "lab", "--port", str(port), "--cache", cache],
            stdout=out, stderr=subprocess.STDOUT, env=python_env(), cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = started + 120
        while True:
            if process.poll() is not None:
                raise AssertionError(f"rnnkit lab exited {process.returncode}:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() > deadline:
                raise AssertionError(f"rnnkit lab did not answer on {url} within 120 s:\n{log.read_text()[-4000:]}")
            time.sleep(0.1)
        yield LabServer(url, process, log, Path(cache), started, time.perf_counter())
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
