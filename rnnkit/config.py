"""Config dataclasses: load, save, and override from the command line.

Each app describes everything that changes a run in one dataclass with
working defaults. The same object is read from `--config FILE`, patched
with `--set key=value`, varied by the tuner and written next to every
checkpoint and exported model, so a run can always be reproduced.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from rnnkit.io import atomic_write_json

ConfigT = TypeVar("ConfigT")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def field_types(cls: type) -> dict[str, Any]:
    """Resolved type annotations of the dataclass `cls`, by field name."""
    hints = typing.get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Turn `value` (often a string from the command line) into `annotation`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in {"none", "null"}):
            if type(None) in args:
                return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError(f"{key}: {value!r} does not fit {annotation} ({'; '.join(errors)})")
    if origin in (tuple, list):
        items = value
        if isinstance(value, str):
            items = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"{key}: expected a list, got {value!r}")
        item_type = args[0] if args else str
        converted = [_coerce(item, item_type, key) for item in items]
        return tuple(converted) if origin is tuple else converted
    if origin is typing.Literal:
        for option in args:
            if str(option) == str(value):
                return option
        raise ValueError(f"{key}: {value!r} is not one of {', '.join(map(str, args))}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{key}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ValueError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).replace("_", ""))
        except ValueError:
            raise ValueError(f"{key}: expected an integer, got {value!r}") from None
    if annotation is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key}: expected a number, got {value!r}") from None
    if annotation is str:
        return str(value)
    return value


def config_from_dict(cls: type[ConfigT], data: Mapping[str, Any], source: str = "config") -> ConfigT:
    """Build `cls` from a mapping, rejecting unknown keys with the list of known ones."""
    types_by_name = field_types(cls)
    unknown = sorted(set(data) - set(types_by_name))
    if unknown:
        raise ValueError(
            f"{source}: unknown field(s) {', '.join(unknown)}; "
            f"{cls.__name__} has: {', '.join(types_by_name)}"
        )
    values = {key: _coerce(value, types_by_name[key], f"{source}: {key}") for key, value in data.items()}
    config = cls(**values)
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    data = dataclasses.asdict(config)
    return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """Split `key=value` strings from `--set`; a bad item names itself."""
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: expected key=value, for example --set units=256")
        overrides[key.strip()] = value.strip()
    return overrides


def load_config(
    cls: type[ConfigT],
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    base: ConfigT | None = None,
) -> ConfigT:
    """Defaults (or `base`), then the JSON file at `path`, then `key=value` overrides."""
    data: dict[str, Any] = config_to_dict(base) if base is not None else {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"--config {path}: no such file")
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"--config {path}: not valid JSON ({error})") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"--config {path}: expected a JSON object of config fields")
        # A saved run config or a tuner's best_config.json wraps the fields.
        loaded = loaded.get("config", loaded)
        data.update(loaded)
    data.update(parse_overrides(overrides))
    return config_from_dict(cls, data, source=str(path) if path else "--set")


def save_config(config: Any, path: str | Path, **extra: Any) -> Path:
    payload = {"config_class": type(config).__qualname__, "config": config_to_dict(config), **extra}
    return atomic_write_json(path, payload)


def read_saved_config(cls: type[ConfigT], path: str | Path) -> ConfigT:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no saved config (is this a run folder made by `train`?)")
    return load_config(cls, path)


def describe_fields(cls: type) -> str:
    """One line per field with its default, for `--help` epilogs."""
    lines = []
    for field in dataclasses.fields(cls):
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()  # type: ignore[misc]
        lines.append(f"  {field.name} = {default!r}")
    return "\n".join(lines)
