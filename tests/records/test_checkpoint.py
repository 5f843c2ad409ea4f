"""Checkpoint files: whole or refused, the previous one kept until the next is whole."""

import os

import numpy as np
import pytest

from keras_seeds.records import checkpoint as checkpoints

IDENTITY = {"seed": {"value": 7, "described": "master seed 7"}}


def _write(directory, serial, identity=IDENTITY, **arrays):
    return checkpoints.write_checkpoint(
        directory, serial, {"identity": identity, "step": serial, "loss": 0.1 + serial},
        arrays or {"w": np.arange(4.0) * serial})


def test_round_trip_keeps_arrays_and_python_floats_exact(tmp_path):
    weights = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    path = checkpoints.write_checkpoint(tmp_path, 1, {"loss": [0.1 + 0.2, float("inf")]},
                                        {"w": weights})
    read = checkpoints.read_checkpoint(path)
    assert read.meta["loss"] == [0.1 + 0.2, float("inf")]  # repr round trip, not rounded
    assert read.arrays["w"].dtype == np.float32
    assert read.arrays["w"].tobytes() == weights.tobytes()


def test_a_new_checkpoint_keeps_the_previous_one_and_removes_older(tmp_path):
    for serial in (1, 2, 3):
        _write(tmp_path, serial)
    assert [p.name for p in checkpoints.checkpoints_in(tmp_path)] == [
        "checkpoint-00000003.npz", "checkpoint-00000002.npz"]


def test_truncated_checkpoint_is_refused_and_the_previous_one_used(tmp_path):
    _write(tmp_path, 1)
    newest = _write(tmp_path, 2)
    size = newest.stat().st_size
    with open(newest, "r+b") as handle:
        handle.truncate(size // 2)
    found, refused = checkpoints.latest_usable(tmp_path, IDENTITY)
    assert found.meta["step"] == 1
    assert len(refused) == 1
    assert refused[0].startswith(f"'{newest}' is truncated or corrupt (")


def test_flipped_byte_is_caught_by_the_crc(tmp_path):
    path = _write(tmp_path, 1, w=np.zeros(1000))
    content = bytearray(path.read_bytes())
    content[500] ^= 0xFF  # inside the array's data
    path.write_bytes(bytes(content))
    with pytest.raises(checkpoints.CheckpointRefused, match="truncated or corrupt"):
        checkpoints.read_checkpoint(path)


def test_checkpoint_of_another_run_is_refused_naming_what_differs(tmp_path):
    _write(tmp_path, 1, identity={"seed": {"value": 8, "described": "master seed 8"}})
    found, refused = checkpoints.latest_usable(tmp_path, IDENTITY)
    assert found is None
    assert refused == [f"'{checkpoints.checkpoint_path(tmp_path, 1)}' is from another run: "
                       "seed: the checkpoint has master seed 8, this run master seed 7"]


def test_a_killed_write_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    _write(tmp_path, 1)

    def killed(source, target):
        raise KeyboardInterrupt  # the process dies between fsync and rename

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path, 2)
    monkeypatch.undo()
    assert [p.name for p in checkpoints.checkpoints_in(tmp_path)] == ["checkpoint-00000001.npz"]
    assert checkpoints.latest_usable(tmp_path, IDENTITY)[0].meta["step"] == 1


def test_leftover_temporary_files_are_removed(tmp_path):
    (tmp_path / ".checkpoint-00000002.npz.abc.tmp").write_bytes(b"half")
    _write(tmp_path, 1)
    checkpoints.remove_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-00000001.npz"]


def test_resume_log_survives_until_the_directory_is_removed(tmp_path):
    _write(tmp_path, 1)
    checkpoints.record_resumes(tmp_path, [{"epoch": 1, "batch": 3}])
    assert checkpoints.resumes(tmp_path) == [{"epoch": 1, "batch": 3}]
    checkpoints.remove_directory(tmp_path)
    assert not tmp_path.exists()


def test_scalars_strings_and_empty_arrays_come_back_with_their_shapes(tmp_path):
    arrays = {"step": np.array(7, "int64"), "names": np.array([b"a", b"bc"]),
              "empty": np.zeros((0, 3), "float16")}
    read = checkpoints.read_checkpoint(checkpoints.write_checkpoint(tmp_path, 1, {}, arrays))
    for name, array in arrays.items():
        assert read.arrays[name].shape == array.shape and read.arrays[name].dtype == array.dtype
        assert read.arrays[name].tobytes() == array.tobytes()
