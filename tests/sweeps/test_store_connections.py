"""The sweep path opens its store once: ``keras-seeds study MODULE:BUILD_FN``
checks, trains, reads the study, builds the ensemble and writes the folder
through one SQLite connection in the process that writes the store, on a new
store and on a store it extends."""

import sqlite3
from pathlib import Path

import pytest

from conftest import SCRIPTS


@pytest.fixture
def connections(monkeypatch):
    """Every ``sqlite3.connect`` this process makes, by the file it opens."""
    opened = []
    connect = sqlite3.connect

    def counted(database, *args, **kwargs):
        opened.append(str(database))
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counted)
    return opened


def _study(store, seeds):
    from keras_seeds import cli

    return cli.main(["study", "sweep_job:build", "--data", "sweep_job:load", "--seeds", seeds,
                     "--store", str(store), "--epochs", "1", "--out",
                     str(Path(store).parent / "report"), "--replicas-per-job", "2",
                     "--loss", "sparse_categorical_crossentropy", "--metric", "accuracy",
                     "--quiet", "--no-export"])


def test_one_study_run_opens_the_store_once(tmp_path, monkeypatch, connections, capsys):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    store = tmp_path / "seeds.db"
    assert _study(store, "0..3") == 0
    assert [Path(c.split("?")[0].removeprefix("file://")).name for c in connections] == [
        "seeds.db"]
    assert "report" in capsys.readouterr().out
    # a second run that finds the store (two seeds done, two new) opens it once too
    connections.clear()
    assert _study(store, "2..5") == 0
    assert len([c for c in connections if "seeds.db" in c]) == 1
    with sqlite3.connect(store) as connection:
        assert connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 6
