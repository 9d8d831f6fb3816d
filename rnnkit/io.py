"""Atomic file and directory writes.

Every model, checkpoint, plot and result file rnnkit writes goes through here:
the content is written beside the target under a temporary name and then
renamed over it, so a reader (or TF Serving scanning a model folder) never
sees half a file, and a killed process leaves the previous version intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` on success.

    The temporary name keeps the target's suffixes (`x.keras` -> `.x.tmp123.keras`)
    because some writers (Keras `.keras`, matplotlib) pick the format from
    the extension. On an exception the temporary file is removed and the
    target is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes)
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays show up in metrics; keep this free of a numpy import.
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, TypeError):
            pass
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file in the error when it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, keep_existing: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory beside `path`; rename it to `path` on success.

    `path` must not exist yet (a finished directory is never replaced in
    place). The temporary name starts with a dot, so TF Serving, which only
    loads all-digit version folders, ignores it while it is being written.

    `keep_existing=True` is for caches that several processes may build at
    once (the workers of a cluster on one machine): when another process has
    put a complete `path` in place first, this one's copy is thrown away and
    theirs is kept instead of failing.
    """
    target = Path(path)
    if target.exists() and not keep_existing:
        raise FileExistsError(f"{target} already exists; refusing to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a server running as another user must read it
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError:
            if not (keep_existing and target.is_dir()):
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished the same cache first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def extract_archive(archive: str | os.PathLike, flag: str = "--data") -> Path:
    """Unpack a .tar/.tar.gz data set into a fresh temporary folder and return it.

    Members that would land outside the folder (absolute paths, `..`, links out)
    are refused by tarfile's "data" filter; an unreadable archive is a ValueError
    naming it.
    """
    import tarfile

    archive = Path(archive)
    target = Path(tempfile.mkdtemp(prefix="rnnkit-data-"))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as error:
        shutil.rmtree(target, ignore_errors=True)
        raise ValueError(f"{flag} {archive}: cannot read the archive ({error})") from None
    return target
