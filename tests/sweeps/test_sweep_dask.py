"""Sweeps on a real Dask cluster: a LocalCluster of two worker processes on
127.0.0.1, one thread each. Each chunk is a task built inside a worker; this
process alone writes the store."""

import functools
import os
import signal
import sqlite3
import tempfile
from pathlib import Path

import pytest

import keras_seeds as ks
from keras_seeds.demo import digits_mlp
from keras_seeds.sweeps.store import SeedStore

from conftest import dask_group

SEEDS = [11, 3, 7, 42]
pytestmark = dask_group


def _data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    return (x[:256], y[:256]), (x[256:384], y[256:384])


class KillsItsWorkerOnce:
    """``digits_mlp``, except that the first call inside a Dask worker kills that
    worker's process (SIGKILL: no clean-up, as when a node goes away)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __call__(self):
        from distributed import get_worker

        try:
            get_worker()
        except ValueError:  # not in a worker: the client's own probe
            return digits_mlp()
        try:  # only the first worker here, of both
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return digits_mlp()
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.fixture
def client(dask_client):
    return dask_client


@functools.lru_cache(maxsize=None)
def _in_process_rows():
    path = Path(tempfile.mkdtemp()) / "seeds.db"
    ks.sweep(digits_mlp, _data, seeds=SEEDS, epochs=2, replicas_per_job=2, store=path,
             config="mlp", progress=False)
    return _rows(path)


@pytest.fixture
def in_process():
    return _in_process_rows()


def _rows(path):
    store = SeedStore(path, create=False)
    return {run.seed: run for run in store.runs(store.only_config())}


def _same_rows(got, want):
    assert sorted(got) == sorted(want) == sorted(SEEDS)
    for seed, run in want.items():
        other = got[seed]
        assert (other.status, other.score, other.metrics, other.history, other.sub_seeds) == (
            run.status, run.score, run.metrics, run.history, run.sub_seeds), seed
        assert other.outputs == run.outputs, seed  # validation predictions, bit for bit


def test_a_sweep_on_a_local_cluster_stores_the_rows_the_in_process_sweep_does(
        client, in_process, tmp_path):
    path = tmp_path / "seeds.db"
    study = ks.sweep(digits_mlp, _data, seeds=SEEDS, epochs=2, replicas_per_job=2,
                     store=path, config="mlp", progress=False, engine=client)
    rows = _rows(path)
    _same_rows(rows, in_process)
    workers = set(client.scheduler_info()["workers"])
    assert {run.manifest["worker"] for run in rows.values()} <= workers
    assert study.ensemble_score is not None and study.n == len(SEEDS)


def test_a_worker_killed_mid_sweep_loses_only_its_chunk_which_is_trained_again(
        client, in_process, tmp_path):
    marker = tmp_path / "killed"
    path = tmp_path / "seeds.db"
    ks.sweep(KillsItsWorkerOnce(marker), _data, seeds=SEEDS, epochs=2, replicas_per_job=2,
             store=path, config="mlp", progress=False, engine=client)
    assert marker.exists()  # a worker process did die mid-chunk
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*), COUNT(DISTINCT seed) FROM runs"
                                  ).fetchone() == (len(SEEDS), len(SEEDS))
    _same_rows(_rows(path), in_process)
    client.wait_for_workers(2)  # the nanny restarted it


def test_a_build_model_is_refused_on_a_cluster_and_dask_is_named_when_missing(
        client, tmp_path, monkeypatch):
    with pytest.raises(TypeError, match="on a Dask cluster each worker builds its own models"):
        ks.sweep(digits_mlp(), _data, seeds=SEEDS, epochs=1, store=tmp_path / "s.db",
                 engine=client)
    with pytest.raises(TypeError, match="`engine` must be None"):
        ks.sweep(digits_mlp, _data, seeds=SEEDS, epochs=1, store=tmp_path / "s.db",
                 engine=4)
    assert not (tmp_path / "s.db").exists()
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'keras-seeds\[dask\]'"):
        ks.sweep(digits_mlp, _data, seeds=SEEDS, epochs=1, store=tmp_path / "s.db",
                 engine="tcp://127.0.0.1:8786")


USER_MODULE = """
def load():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    return (x[:256], digits.target[:256]), (x[256:384], digits.target[256:384])


def build():
    import keras

    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])
"""


def test_the_command_line_sweeps_on_a_scheduler_sending_the_users_module_along(
        client, tmp_path, monkeypatch, capsys):
    from keras_seeds import cli

    # The user's module is on this process's path only: the workers, started
    # before it existed, can only have it from the tasks.
    (tmp_path / "user_model_for_dask.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    store = tmp_path / "seeds.db"
    assert cli.main(["study", "user_model_for_dask:build", "--data", "user_model_for_dask:load",
                     "--seeds", "0..3", "--store", str(store), "--epochs", "1",
                     "--replicas-per-job", "2", "--loss", "sparse_categorical_crossentropy",
                     "--metric", "accuracy", "--scheduler", client.scheduler.address,
                     "--quiet", "--no-export", "--out", str(tmp_path / "out")]) == 0
    rows = _rows(store)
    assert sorted(rows) == [0, 1, 2, 3] and {run.status for run in rows.values()} == {"done"}
    assert {run.manifest["worker"] for run in rows.values()} <= set(
        client.scheduler_info()["workers"])

    def importable():
        import importlib.util

        return importlib.util.find_spec("user_model_for_dask") is not None

    assert set(client.run(importable).values()) == {False}  # it travelled by value
    capsys.readouterr()
    assert cli.main(["study", "--scheduler", client.scheduler.address]) == 2
    assert "error: `--scheduler` runs a sweep's chunks on a Dask cluster" in capsys.readouterr().err
