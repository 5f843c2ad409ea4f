"""Writing files so that a reader never sees half of one: manifests, studies,
reports, SavedModels. Everything is written beside its target and renamed in;
a failure leaves nothing, or the previous file whole.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


def jsonable(value: Any) -> Any:
    """Converts NumPy scalars/arrays, tuples and objects to JSON-ready values.

    Example:

    >>> jsonable({"a": np.float32(0.01), "b": (1, np.int64(2)), "c": float("nan")})
    {'a': 0.01, 'b': [1, 2], 'c': 'nan'}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, float) and float(np.float32(value)) == value:
        # A float32 read back as a Python float: record it as written (0.01,
        # not 0.009999999776482582).
        return float(str(np.float32(value)))
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "numpy"):
        return jsonable(value.numpy())
    return repr(value)


def write_file_atomically(path, write: Callable[[Any], None], mode: str = "w") -> None:
    """``write(handle)`` into a temporary file beside ``path``, then ``os.replace``.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> write_file_atomically(path, lambda handle: handle.write("whole"))
    >>> open(path).read()
    'whole'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it open's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_directory(path) -> None:
    """Flushes a directory's entries (a file renamed into it) to disk, where
    the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomically(path, payload: dict) -> None:
    """Writes ``payload`` (made :func:`jsonable`) as JSON to ``path``, atomically."""
    def dump(handle):
        # Serialise first: an unserialisable payload must fail before any write.
        handle.write(json.dumps(jsonable(payload), indent=2, sort_keys=True) + "\n")

    write_file_atomically(path, dump)


def write_directory_atomically(path, write: Callable[[str], None]) -> None:
    """``write(temporary path)``, then the result replaces ``path`` whole: a
    failure leaves no directory, or the previous one untouched."""
    target = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", dir=parent)
    try:
        write(os.path.join(staging, "out"))
        if os.path.exists(target):
            os.replace(target, os.path.join(staging, "old"))
        os.replace(os.path.join(staging, "out"), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_json(path, what: str) -> Any:
    """Reads JSON from ``path``; invalid JSON is a ``ValueError`` saying that
    ``path`` is not a keras-seeds ``what`` (manifest, study)."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise ValueError(f"'{path}' is not a keras-seeds {what}: invalid JSON "
                         f"({error}).") from None
