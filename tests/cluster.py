"""Local clusters for the distribution tests: TF_CONFIG workers and KerasTuner
chief/workers on loopback ports, with a supervisor that restarts a failed
process the way a cluster manager (a Kubernetes Job with restartPolicy
OnFailure) would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, python_env


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        handle = socket.socket()
        handle.bind(("127.0.0.1", 0))
        sockets.append(handle)
        ports.append(handle.getsockname()[1])
    for handle in sockets:
        handle.close()
    return ports


class Supervised:
    """Processes that are restarted when they exit with an error, like pods of a Job."""

    def __init__(self, commands: dict[str, tuple[list[str], dict[str, str]]], log_dir: Path):
        self.commands = commands
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.starts = dict.fromkeys(commands, 0)
        self.exit_codes: dict[str, list[int]] = {name: [] for name in commands}

    def start(self, name: str) -> None:
        command, extra_env = self.commands[name]
        env = {**python_env(), **extra_env}
        self.starts[name] += 1
        log = open(self.log_dir / f"{name}-{self.starts[name]}.log", "w")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def start_all(self) -> None:
        for name in self.commands:
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL one process; `supervise` will restart it like any failed process."""
        self.processes[name].kill()
        self.processes[name].wait()

    def supervise(self, timeout: float, until=None, max_restarts: int = 4) -> None:
        """Restart failed processes until all exit 0 (or `until()` is true) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until is not None and until():
                return
            running = False
            for name, process in list(self.processes.items()):
                code = process.poll()
                if code is None:
                    running = True
                elif code != 0 and self.starts[name] <= max_restarts:
                    self.exit_codes[name].append(code)
                    self.start(name)
                    running = True
            if not running and until is None:
                return
            time.sleep(0.2)  # polling child processes, not waiting for speed
        self.stop()
        raise AssertionError(f"cluster did not finish in {timeout:.0f} s; logs in {self.log_dir}")

    def all_succeeded(self) -> bool:
        return all(process.poll() == 0 for process in self.processes.values())

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    def logs(self) -> str:
        return "\n".join(f"== {path.name}\n{path.read_text()[-3000:]}" for path in sorted(self.log_dir.glob("*.log")))


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"localhost:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


def worker_commands(command: list[str], workers: int = 2, timeout: int = 20) -> dict[str, tuple[list[str], dict[str, str]]]:
    ports = free_ports(workers)
    return {f"worker{index}": (command, {"TF_CONFIG": tf_config(ports, index), "RNNKIT_COLLECTIVE_TIMEOUT": str(timeout)})
            for index in range(workers)}


def tuner_commands(command: list[str], workers: int = 2) -> dict[str, tuple[list[str], dict[str, str]]]:
    (port,) = free_ports(1)
    base = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    commands = {"chief": (command, {**base, "KERASTUNER_TUNER_ID": "chief"})}
    for index in range(workers):
        commands[f"tuner{index}"] = (command, {**base, "KERASTUNER_TUNER_ID": f"tuner{index}"})
    return commands


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
