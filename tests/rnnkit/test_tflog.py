"""TensorFlow's C++ start-up lines stay off an rnnkit command's terminal unless asked for."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from rnnkit.tflog import filter_lines
from tests.conftest import ROOT

BANNER = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796176202.676379   14929 port.cc:153] oneDNN custom operations are on.\n"
    "I0000 00:00:1796176202.676874   14929 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n"
    "I0000 00:00:1796176202.781781   14929 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.\n"
)


def test_info_lines_and_their_preamble_are_dropped_at_the_default_level():
    assert filter_lines(BANNER, 1) == ""
    assert filter_lines(BANNER, 0) == BANNER


def test_warnings_errors_and_python_output_are_kept():
    warning = "W0000 00:00:1796176202.9   14929 gpu_device.cc:10] Cannot dlopen some GPU libraries.\n"
    python = "/x/y.py:3: UserWarning: something the user should see\n"
    text = BANNER + warning + python + "a plain line\n"
    kept = filter_lines(text, 1)
    assert kept.startswith("WARNING: All log messages")  # the preamble stays when what it introduces stays
    assert warning in kept and python in kept and "a plain line" in kept
    assert "oneDNN" not in kept and "AVX2" not in kept
    assert filter_lines(text, 2) == python + "a plain line\n"


def test_named_sources_are_dropped_whatever_their_level():
    line = "E0000 00:00:1796176213.9   14929 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
    assert filter_lines(line, 0, ("cuda_platform.cc",)) == ""
    assert filter_lines(line, 1) == line


def _command_stderr(extra_env: dict[str, str], *flags: str) -> str:
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "RNNKIT_DEBUG")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra_env)
    # A command that imports TensorFlow and then stops at a user error: fast, and it prints the banner if any.
    result = subprocess.run([sys.executable, "-m", "apps.textgen.evaluate", "--model", "no-such-run", *flags],
                            capture_output=True, text=True, timeout=180, env=env, cwd=ROOT)
    assert result.returncode == 2, result.stderr[-2000:]
    return result.stderr


@pytest.mark.slow
def test_a_command_starts_with_its_own_words():
    stderr = _command_stderr({})
    assert "absl::InitializeLog" not in stderr and "I0000" not in stderr and "cuInit" not in stderr, stderr
    lines = stderr.splitlines()
    assert lines[0].startswith("device: "), stderr  # the first thing said is the app's own line
    assert "no-such-run" in stderr


@pytest.mark.slow
@pytest.mark.parametrize("how", ["--verbose", "TF_CPP_MIN_LOG_LEVEL=0"])
def test_the_user_can_ask_for_everything(how):
    if how.startswith("--"):
        stderr = _command_stderr({}, how)
    else:
        key, value = how.split("=")
        stderr = _command_stderr({key: value})
    # TensorFlow's start-up info lines (which ones depends on the CPU: oneDNN, cpu_feature_guard, cudart_stub)
    assert re.search(r"^I0000 .*\] ", stderr, re.MULTILINE), stderr[:2000]
