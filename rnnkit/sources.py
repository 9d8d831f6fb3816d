"""Which data source a run was trained on, for `evaluate`'s split choice (issue 18).

A run's split settings (validation fractions, hashed or held-out groups and
speakers) describe the source it was trained on; `evaluate` applies them only
when --data is that same source, and otherwise scores the source's own test
split or all of it.
"""

from __future__ import annotations

from pathlib import Path


def resolved_source(data: str) -> str | None:
    """The absolute path of a path SOURCE, for the run's saved config; None for `demo` and `tfds:NAME`."""
    if data == "demo" or data.startswith("tfds:"):
        return None
    return str(Path(data).expanduser().resolve())


def same_source(data: str, trained_on: str | None, trained_on_resolved: str | None = None) -> bool:
    """Whether --data is the source the run was trained on (paths compared resolved)."""
    if not trained_on:
        return False
    if data == trained_on:
        return True
    if data == "demo" or data.startswith("tfds:") or trained_on == "demo" or trained_on.startswith("tfds:"):
        return False
    return Path(data).expanduser().resolve() == Path(trained_on_resolved or trained_on).expanduser().resolve()
