"""Keep TensorFlow's C++ start-up lines off the terminal of an `rnnkit` command.

`import tensorflow` (2.19 and newer) logs through absl before absl is
initialised, and such lines go straight to file descriptor 2 whatever
TF_CPP_MIN_LOG_LEVEL says:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:... port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.

`install()` puts an import hook in front of the first `import tensorflow`:
while TensorFlow's modules load, descriptor 2 goes to a temporary file, and
afterwards the lines at or above the wanted level are written to the real
stderr (everything else that was printed, Python warnings included, is kept).
The wanted level is TF_CPP_MIN_LOG_LEVEL when the user set it, else 1
(warnings and errors), which is also what TensorFlow uses for its later
logs. `--verbose` on the command line or RNNKIT_DEBUG=1 turns all of this
off. The hook is installed by the `rnnkit` command and by `apps/__init__.py`
(so `python -m apps.<app>.<command>` gets it too); importing the library
alone changes nothing.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

# An absl/glog line: severity letter, MMDD, time, thread, file:line]
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ (\S+):\d+\]")
_PYTHON_WARNING = re.compile(r":\d+: \w*Warning\b")
_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_LEVELS = {"I": 0, "W": 1, "E": 2, "F": 3}
DEFAULT_LEVEL = "1"


def verbose_requested(argv: list[str] | None = None) -> bool:
    argv = sys.argv if argv is None else argv
    return "--verbose" in argv or bool(os.environ.get("RNNKIT_DEBUG"))


def filter_lines(text: str, min_level: int, drop_sources: tuple[str, ...] = ()) -> str:
    """`text` without absl lines below `min_level` (0 info, 1 warning, 2 error) or from the source
    files in `drop_sources`, and without absl's preamble when nothing of what it introduces is
    kept. A message's continuation lines (no absl prefix) go with it."""
    kept: list[str] = []
    keep_current = True
    preamble_pending = False
    for line in text.splitlines(keepends=True):
        if line.rstrip("\n") == _PREAMBLE:
            preamble_pending = True
            continue
        match = _ABSL_LINE.match(line)
        if match:
            keep_current = _LEVELS[match.group(1)] >= min_level and match.group(2) not in drop_sources
            if keep_current and preamble_pending:
                kept.append(_PREAMBLE + "\n")
            if keep_current:
                preamble_pending = False
        elif not keep_current and line.strip() and not _starts_something_else(line):
            continue  # the rest of a dropped multi-line message (cpu_feature_guard's instruction list)
        else:
            keep_current = True
        if keep_current:
            kept.append(line)
    return "".join(kept)


def _starts_something_else(line: str) -> bool:
    """A line that begins a message of its own: a Python warning, a traceback, absl's preamble."""
    return bool(_PYTHON_WARNING.search(line)) or line.startswith(("Traceback", "WARNING:"))


@contextlib.contextmanager
def filtered_stderr(min_level: int, drop_sources: tuple[str, ...] = ()):
    """Capture file descriptor 2 (C++ and Python alike) for the block, then write what
    `filter_lines` keeps of it to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            shown = filter_lines(captured.read().decode("utf-8", "replace"), min_level, drop_sources)
            if shown:
                sys.stderr.write(shown)
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader with descriptor 2 captured and filtered while it runs."""

    def __init__(self, loader, min_level: int):
        self.loader, self.min_level = loader, min_level

    def __getattr__(self, name):  # get_filename, get_resource_reader, ... as the real loader has them
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with filtered_stderr(self.min_level):
            self.loader.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    def __init__(self, min_level: int):
        self.min_level = min_level

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: only the top-level import prints the banner
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader, self.min_level)
        return spec


def install(argv: list[str] | None = None) -> None:
    """Quiet TensorFlow's C++ logging for this process (see the module docstring); idempotent."""
    if verbose_requested(argv):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LEVEL)
    if "tensorflow" in sys.modules or any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        return
    try:
        level = int(os.environ["TF_CPP_MIN_LOG_LEVEL"])
    except ValueError:
        level = int(DEFAULT_LEVEL)
    sys.meta_path.insert(0, _QuietTensorFlowFinder(level))


def describe_devices() -> str:
    """One line on what TensorFlow will compute on: the GPUs it found, else the CPU."""
    import tensorflow as tf

    # Looking for GPUs on a machine without CUDA logs an error (cuInit failed); the line this
    # returns says the same in plain words. --verbose / RNNKIT_DEBUG=1 show it anyway.
    quiet = () if verbose_requested() else ("cuda_platform.cc", "cuda_executor.cc", "cuda_diagnostics.cc")
    with filtered_stderr(0, quiet):
        gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = []
        for gpu in gpus:
            try:
                names.append(tf.config.experimental.get_device_details(gpu).get("device_name") or gpu.name)
            except (ValueError, RuntimeError):
                names.append(gpu.name)
        return f"device: {len(gpus)} GPU{'s' if len(gpus) > 1 else ''} ({', '.join(names)})"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"device: CPU ({cores} cores; no GPU found)"
