import os
import stat

import pytest

from rnnkit.io import atomic_directory, atomic_path, atomic_write_json, read_json


def test_failed_write_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.name.endswith(".keras") and tmp.parent == tmp_path
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.keras"]


def test_atomic_json_round_trip_and_permissions(tmp_path):
    path = atomic_write_json(tmp_path / "a" / "state.json", {"epoch": 3, "best": 1.5})
    assert read_json(path) == {"epoch": 3, "best": 1.5}
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & stat.S_IRGRP, "files must be readable by others (a server may run as another user)"


def test_atomic_directory_appears_only_when_complete(tmp_path):
    target = tmp_path / "models" / "1"
    with atomic_directory(target) as scratch:
        (scratch / "saved_model.pb").write_text("x")
        assert not target.exists()
        assert scratch.name.startswith(".")
    assert (target / "saved_model.pb").read_text() == "x"
    with pytest.raises(FileExistsError):
        with atomic_directory(target):
            pass
    with pytest.raises(ValueError):
        with atomic_directory(tmp_path / "models" / "2") as scratch:
            raise ValueError("conversion failed")
    assert sorted(path.name for path in (tmp_path / "models").iterdir()) == ["1"]


def test_a_cache_built_by_two_processes_at_once_keeps_the_first_one(tmp_path):
    target = tmp_path / "cache" / "demo"
    with atomic_directory(target, keep_existing=True) as mine:
        (mine / "data.txt").write_text("mine")
        # Meanwhile another worker on this machine finishes the same cache.
        with atomic_directory(target, keep_existing=True) as theirs:
            (theirs / "data.txt").write_text("theirs")
        assert (target / "data.txt").read_text() == "theirs"
    assert (target / "data.txt").read_text() == "theirs"
    assert sorted(path.name for path in target.parent.iterdir()) == ["demo"], "no temporary folder left behind"
    with pytest.raises(FileExistsError):  # without keep_existing a finished directory is never replaced
        with atomic_directory(target):
            pass
