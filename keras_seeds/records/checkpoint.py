"""Checkpoint files of a resumable run: each one is written whole or not at all,
and read back only if it is whole and comes from the same run.

A checkpoint is one ``checkpoint-<serial>.npz`` file in the backup directory:
the arrays of the run (variables, callback arrays) and a JSON header,
``meta``, with where the run stood and what identifies it (seeds, model
variables, training data, keras-seeds version). A new checkpoint is written
to a temporary file, flushed to disk and renamed in; only then are older ones
removed, so the previous good checkpoint stays until the next is complete. A
kill at any moment leaves the newest complete checkpoint readable.

Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keras_seeds._files import fsync_directory, write_file_atomically, write_json_atomically

FORMAT = "keras-seeds-checkpoint/1"
_PREFIX, _SUFFIX = "checkpoint-", ".npz"
_META, _DATA, _INDEX = "meta", "data", "arrays"
_RESUMES = "resumes.json"


class CheckpointRefused(ValueError):
    """A checkpoint that cannot be resumed from: unreadable, or from another run."""


@dataclass
class Checkpoint:
    """One checkpoint read back: its file, JSON header and arrays."""

    path: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


def checkpoint_path(directory, serial: int) -> Path:
    """The file of checkpoint number ``serial`` in ``directory``.

    Example:

    >>> checkpoint_path("backup", 12).name
    'checkpoint-00000012.npz'
    """
    return Path(directory) / f"{_PREFIX}{serial:08d}{_SUFFIX}"


def _serial(path: Path) -> int | None:
    name = path.name
    if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
        return None
    digits = name[len(_PREFIX):-len(_SUFFIX)]
    return int(digits) if digits.isdigit() else None


def checkpoints_in(directory) -> list[Path]:
    """The checkpoint files in ``directory``, newest (highest serial) first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(serial, path) for path in directory.iterdir()
             if (serial := _serial(path)) is not None]
    return [path for _, path in sorted(found, reverse=True)]


def remove_leftovers(directory) -> None:
    """Removes temporary files a write that was killed left behind."""
    directory = Path(directory)
    if directory.is_dir():
        for path in directory.glob(f".{_PREFIX}*.tmp"):
            path.unlink(missing_ok=True)


def write_checkpoint(directory, serial: int, meta: dict[str, Any],
                     arrays: dict[str, np.ndarray], keep: int = 2,
                     replaces: Path | None = None) -> Path:
    """Writes checkpoint ``serial`` atomically, then removes ``replaces`` (a
    checkpoint this one supersedes) and all but the ``keep`` newest. ``meta``
    must be JSON-ready (Python floats round-trip exactly).

    Example:

    >>> import tempfile
    >>> directory = tempfile.mkdtemp()
    >>> for serial in range(3):
    ...     _ = write_checkpoint(directory, serial, {"step": serial}, {"w": np.arange(serial)})
    >>> [path.name for path in checkpoints_in(directory)]
    ['checkpoint-00000002.npz', 'checkpoint-00000001.npz']
    >>> read_checkpoint(checkpoints_in(directory)[0]).meta["step"]
    2
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    index, data = _pack(arrays)
    header = json.dumps({"format": FORMAT, **meta, _INDEX: index}, sort_keys=True).encode()
    payload = {_DATA: data, _META: np.frombuffer(header, dtype=np.uint8)}
    path = checkpoint_path(directory, serial)
    write_file_atomically(path, lambda handle: np.savez(handle, **payload), mode="wb")
    fsync_directory(directory)
    if replaces is not None and Path(replaces) != path:
        Path(replaces).unlink(missing_ok=True)
    for old in checkpoints_in(directory)[keep:]:
        old.unlink(missing_ok=True)
    return path


def read_checkpoint(path) -> Checkpoint:
    """Reads a whole checkpoint (every member's CRC checked); a truncated or
    corrupt file raises :class:`CheckpointRefused` saying so."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            content = handle.read()
        with np.load(io.BytesIO(content), allow_pickle=False) as archive:
            meta = json.loads(archive[_META].tobytes().decode())
            data = archive[_DATA]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
            UnicodeDecodeError) as error:
        raise CheckpointRefused(
            f"'{path}' is truncated or corrupt ({type(error).__name__}: {error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointRefused(f"'{path}' is not a {FORMAT} checkpoint (format {found!r})")
    return Checkpoint(path, meta, _unpack(meta.pop(_INDEX), data))


def _pack(arrays: dict[str, np.ndarray]) -> tuple[list, np.ndarray]:
    """All arrays as one byte buffer and an index of ``[name, dtype, shape,
    offset]``: one archive member instead of one per array (each member costs
    headers and a CRC of its own, most of a small model's checkpoint time)."""
    index, parts, offset = [], [], 0
    for name, array in arrays.items():
        array = np.asarray(array)  # (np.ascontiguousarray makes a scalar 1-d)
        if array.dtype.hasobject:
            raise ValueError(f"`arrays`: {name!r} holds Python objects (dtype object); a "
                             "checkpoint stores numeric and string arrays only.")
        index.append([name, array.dtype.str, list(array.shape), offset])
        parts.append(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
        offset += array.nbytes
    data = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    return index, data


def _unpack(index: list, data: np.ndarray) -> dict[str, np.ndarray]:
    arrays = {}
    for name, dtype, shape, offset in index:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        arrays[name] = np.frombuffer(data, dtype, count, offset).reshape(tuple(shape)).copy()
    return arrays


def identity_differences(found: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """What differs between a checkpoint's run identity and this run's, one
    phrase per entry; each entry of ``expected`` is ``{"value", "described"}``.

    Example:

    >>> mine = {"seed": {"value": 1, "described": "seed 1"}}
    >>> identity_differences({"seed": {"value": 2, "described": "seed 2"}}, mine)
    ['seed: the checkpoint has seed 2, this run seed 1']
    """
    differences = []
    for name, entry in expected.items():
        theirs = found.get(name)
        if theirs is None:
            differences.append(f"{name}: not recorded in the checkpoint")
        elif theirs["value"] != entry["value"]:
            differences.append(f"{name}: the checkpoint has {theirs['described']}, "
                               f"this run {entry['described']}")
    return differences


def latest_usable(directory, identity: dict[str, Any]) -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint in ``directory`` that is whole and matches
    ``identity``, and a message for each newer one refused."""
    refused = []
    for path in checkpoints_in(directory):
        try:
            checkpoint = read_checkpoint(path)
        except CheckpointRefused as error:
            refused.append(str(error))
            continue
        differences = identity_differences(checkpoint.meta.get("identity", {}), identity)
        if differences:
            refused.append(f"'{path}' is from another run: {'; '.join(differences)}")
            continue
        return checkpoint, refused
    return None, refused


def describe_position(meta: dict[str, Any]) -> str:
    """Where a checkpoint's run stood, in words.

    Example:

    >>> describe_position({"epoch": 2, "batch": 0}), describe_position({"epoch": 1, "batch": 7})
    ('the start of epoch 2', 'epoch 1 after 7 batches')
    """
    if meta["batch"] == 0:
        return f"the start of epoch {meta['epoch']}"
    return f"epoch {meta['epoch']} after {meta['batch']} batches"


def resumes(directory) -> list[dict[str, Any]]:
    """The resumes of the run whose checkpoints ``directory`` holds, oldest first."""
    path = Path(directory) / _RESUMES
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text())["resumes"])
    except (ValueError, KeyError, TypeError):
        return []  # a log we cannot read is not a reason to refuse the run


def record_resumes(directory, entries: list[dict[str, Any]]) -> None:
    """Writes the resume log (atomically): it outlives a resumed run that is
    killed again before its first checkpoint. No entries: removes it."""
    path = Path(directory) / _RESUMES
    if not entries:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, {"resumes": entries})


def remove_directory(directory) -> None:
    """Removes the backup directory's checkpoints and resume log (and the
    directory if that leaves it empty)."""
    directory = Path(directory)
    (directory / _RESUMES).unlink(missing_ok=True)
    for path in checkpoints_in(directory):
        path.unlink(missing_ok=True)
    remove_leftovers(directory)
    try:
        os.rmdir(directory)
    except OSError:
        pass  # not there, or it holds files that are not ours
