"""Shared test helpers: quiet TensorFlow, run the CLI in a fresh process, tiny settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def run_python(*args: str, timeout: float = 300, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python ARGS...` in a fresh process, output captured as text."""
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=python_env(), cwd=cwd or ROOT
    )
    if check and result.returncode != 0:
        raise AssertionError(f"python {' '.join(args)} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}")
    return result


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("session")
