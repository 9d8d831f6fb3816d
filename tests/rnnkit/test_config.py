from dataclasses import dataclass
from typing import Literal

import pytest

from rnnkit.config import (
    config_from_dict,
    config_to_dict,
    load_config,
    parse_overrides,
    save_config,
)


@dataclass
class Example:
    units: int = 8
    rate: float = 0.1
    cell: Literal["lstm", "gru"] = "gru"
    bidirectional: bool = False
    sizes: tuple[int, ...] = (1, 2)
    name: str | None = None

    def validate(self):
        if self.units < 1:
            raise ValueError("units must be at least 1")


def test_overrides_are_coerced_to_field_types():
    config = load_config(Example, overrides=["units=32", "rate=1e-3", "cell=lstm", "bidirectional=yes", "sizes=4,5,6", "name=none"])
    assert config == Example(units=32, rate=0.001, cell="lstm", bidirectional=True, sizes=(4, 5, 6), name=None)


@pytest.mark.parametrize("item, message", [
    ("units=many", "expected an integer"),
    ("cell=rnn", "not one of"),
    ("bidirectional=maybe", "true/false"),
    ("colour=red", r"unknown field\(s\) colour"),
    ("units", "expected key=value"),
    ("units=0", "units must be at least 1"),
])
def test_bad_overrides_say_what_is_wrong(item, message):
    with pytest.raises(ValueError, match=message):
        load_config(Example, overrides=[item])


def test_config_file_round_trip_and_overrides_win(tmp_path):
    path = save_config(Example(units=64, sizes=(3,)), tmp_path / "config.json", app="test")
    loaded = load_config(Example, path, overrides=["rate=0.5"])
    assert loaded == Example(units=64, rate=0.5, sizes=(3,))
    assert config_from_dict(Example, config_to_dict(loaded)) == loaded


def test_missing_and_invalid_config_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_config(Example, tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{units: 3")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        load_config(Example, bad)


def test_parse_overrides_keeps_equals_signs_in_values():
    assert parse_overrides(["prime=a=b"]) == {"prime": "a=b"}
