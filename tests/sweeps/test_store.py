"""The seed store: one row per (configuration, seed), whatever writes it and
however often; files that are not stores are refused and left as they were."""

import hashlib
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from keras_seeds.sweeps.store import (
    SCHEMA_VERSION,
    PerExample,
    SeedRun,
    SeedStore,
    StoreError,
    array_bytes,
)

from conftest import run_python


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_runs_round_trip_with_their_metrics_exactly(tmp_path):
    store = SeedStore(tmp_path / "seeds.db")
    key = store.add_config({"units": 64, "lr": 1e-3}, name="mlp")
    history = {"val_accuracy": [0.1 + 0.2, 0.5], "loss": [float("inf"), 1.0]}
    store.write(key, [SeedRun(7, "done", score=0.3, sub_seeds={"init": 11}, history=history,
                              metrics={"val_accuracy": 0.5}, outputs=b"\x00\x01", seconds=1.5),
                      SeedRun(8, "diverged", score=float("nan"))])
    first, second = SeedStore(tmp_path / "seeds.db").runs(key)
    assert (first.seed, first.status, first.score, first.sub_seeds) == (
        7, "done", 0.3, {"init": 11})
    assert first.history == history and first.outputs == b"\x00\x01"
    assert (second.status, second.score) == ("diverged", None)


def test_a_rerun_never_duplicates_a_seed_and_retries_only_failed_ones(tmp_path):
    store = SeedStore(tmp_path / "seeds.db")
    key = store.add_config({"units": 64})
    store.write(key, [SeedRun(1, "done", score=0.9), SeedRun(2, "failed", error="OOM")])
    assert store.done_seeds(key) == {1}
    written = store.write(key, [SeedRun(1, "done", score=0.1), SeedRun(2, "done", score=0.8)])
    assert written == 1
    assert [(r.seed, r.status, r.score) for r in store.runs(key)] == [
        (1, "done", 0.9), (2, "done", 0.8)]


def test_two_configurations_are_two_groups_in_one_store(tmp_path):
    store = SeedStore(tmp_path / "seeds.db")
    a = store.add_config({"units": 64}, name="wide")
    b = store.add_config({"units": 8}, name="narrow")
    assert store.add_config({"units": 64}, name="renamed") == a  # same definition, same group
    store.write(a, [SeedRun(s, "done", score=0.9) for s in range(3)])
    store.write(b, [SeedRun(0, "done", score=0.7)])
    assert {info["name"]: info["runs"] for info in store.configs().values()} == {
        "wide": 3, "narrow": 1}
    assert store.find_config("narrow") == b
    with pytest.raises(StoreError, match=r"`config`: no configuration in '.*' is named 'deep'; "
                                         r"it holds: wide, narrow\."):
        store.find_config("deep")


WRITER = """
import sys
from keras_seeds.sweeps.store import SeedRun, SeedStore
store = SeedStore(sys.argv[1])
key = store.add_config({"units": 64}, name="mlp")
for seed in range(40):
    store.write(key, [SeedRun(seed, "done", score=float(sys.argv[2]))])
"""


def test_processes_writing_at_once_leave_one_row_per_seed(tmp_path):
    path = tmp_path / "seeds.db"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(i)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(4)]
    outputs = [writer.communicate(timeout=120) for writer in writers]
    assert all(writer.returncode == 0 for writer in writers), [err for _, err in outputs]
    store = SeedStore(path)
    runs = store.runs(store.find_config("mlp"))
    assert [run.seed for run in runs] == list(range(40))
    assert {run.score for run in runs} <= {0.0, 1.0, 2.0, 3.0}
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 40
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    before = _digest(path)
    with pytest.raises(StoreError, match=r"^'.*other\.db' is an SQLite database but not a "
                                         r"keras-seeds seed store; it was left untouched\."):
        SeedStore(path)
    assert _digest(path) == before


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("seed,score\n1,0.9\n")
    with pytest.raises(StoreError, match=r"^'.*results\.csv' is not a seed store: not an "
                                         r"SQLite file\."):
        SeedStore(path)
    assert path.read_text() == "seed,score\n1,0.9\n"


def test_a_store_with_a_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "seeds.db"
    SeedStore(path).add_config({"units": 64})
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = _digest(path)
    with pytest.raises(StoreError, match=rf"written by a newer keras-seeds \(store schema "
                                         rf"{SCHEMA_VERSION + 1}; this one reads up to "
                                         rf"{SCHEMA_VERSION}\)"):
        SeedStore(path)
    assert _digest(path) == before


def test_a_store_that_cannot_be_written_is_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(StoreError, match=r"^cannot create the seed store '.*missing/seeds\.db': "
                                         r"directory '.*missing' does not exist\.$"):
        SeedStore(tmp_path / "missing" / "seeds.db")
    assert not (tmp_path / "missing").exists()
    # /proc refuses new files even to root (CI runs as root, which file modes do not stop).
    with pytest.raises(StoreError, match=r"^cannot create the seed store '/proc/seeds\.db'"):
        SeedStore("/proc/seeds.db")
    with pytest.raises(StoreError, match=r"'.*absent\.db' does not exist"):
        SeedStore(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


def test_a_bad_status_names_the_choices():
    with pytest.raises(ValueError, match=r"^`status` must be one of done, diverged, discarded, "
                                         r"failed; received status='ok'\.$"):
        SeedRun(1, "ok")


def test_the_store_needs_neither_keras_nor_tensorflow(tmp_path):
    code = f"""
import sys
from keras_seeds.sweeps.store import SeedRun, SeedStore
store = SeedStore({str(tmp_path / 'seeds.db')!r})
store.write(store.add_config({{"a": 1}}), [SeedRun(1, "done", score=1.0)])
print(sorted(m for m in ("keras", "tensorflow") if m in sys.modules))
"""
    assert run_python("-c", code).stdout.strip() == "[]"


def test_weights_and_ensembles_are_kept_beside_the_runs_and_older_stores_gain_them(tmp_path):
    path = tmp_path / "seeds.db"
    store = SeedStore(path)
    key = store.add_config({"units": 64}, name="mlp")
    # A store made before weights and ensembles were kept: neither table.
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE weights")
        connection.execute("DROP TABLE ensembles")
    assert store.weights(key) == {} and store.ensemble(key) is None
    store.write(key, [SeedRun(1, "done", score=0.9, weights=b"npz-1"),
                      SeedRun(2, "done", score=0.8, weights=b"npz-2"),
                      SeedRun(3, "failed", error="OOM")])
    store.set_ensemble(key, [2, 1], {"accuracy": 0.95})
    again = SeedStore(path)
    assert again.weights(key) == {1: b"npz-1", 2: b"npz-2"}
    assert again.weights(key, seeds=[2]) == {2: b"npz-2"}
    assert again.ensemble(key) == ([1, 2], {"accuracy": 0.95})
    # A seed already done keeps its weights: a second write changes nothing.
    assert again.write(key, [SeedRun(1, "done", score=0.1, weights=b"other")]) == 0
    assert again.weights(key, seeds=[1]) == {1: b"npz-1"}


def test_per_example_results_are_kept_compactly_and_older_stores_gain_them(tmp_path):
    path = tmp_path / "seeds.db"
    store = SeedStore(path)
    key = store.add_config({"units": 64}, name="mlp")
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE examples")  # a store made before they were kept
    assert store.examples(key) == {}
    correct = np.random.default_rng(0).random(1000) < 0.9
    losses = np.random.default_rng(1).random(1000).astype(np.float32)
    store.write(key, [SeedRun(1, "done", score=float(correct.mean()),
                              examples={"validation": PerExample("correct", correct),
                                        "test": PerExample("loss", losses)})])
    kept = SeedStore(path).examples(key)
    assert list(kept) == [1] and kept[1].kind == "correct"
    assert np.array_equal(kept[1].values, correct)
    test = SeedStore(path).examples(key, "test")[1]
    assert test.kind == "loss" and np.array_equal(test.values, losses.astype(np.float16))
    with sqlite3.connect(path) as connection:
        sizes = dict(connection.execute("SELECT split, length(data) FROM examples"))
    assert sizes == {"validation": 125, "test": 2000}  # one bit, two bytes per example


def test_a_name_already_given_to_another_configuration_is_refused(tmp_path):
    store = SeedStore(tmp_path / "seeds.db")
    store.add_config({"units": 64, "epochs": 10}, name="mlp")
    assert store.add_config({"units": 64, "epochs": 10}, name="mlp")  # the same one: fine
    with pytest.raises(StoreError, match=r"^`config`: the name 'mlp' is already used in "
                                         r"'.*seeds\.db' by another configuration \(they "
                                         r"differ in epochs\); give this one another name\.$"):
        store.add_config({"units": 64, "epochs": 20}, name="mlp")
    assert len(store.configs()) == 1


def test_test_predictions_and_labels_are_kept_and_older_stores_gain_them(tmp_path):
    path = tmp_path / "seeds.db"
    store = SeedStore(path)
    key = store.add_config({"units": 64}, name="mlp")
    with sqlite3.connect(path) as connection:  # a store made before they were kept
        connection.execute("DROP TABLE outputs")
        connection.execute("DROP TABLE labels")
    assert store.predictions(key, "test") == {} and store.labels(key) is None
    rng = np.random.default_rng(0)
    validation, test = rng.random((2, 5, 3)), rng.random((2, 4, 3))
    store.write(key, [SeedRun(s, "done", score=0.5, outputs=array_bytes(validation[s]),
                              test_outputs=array_bytes(test[s])) for s in range(2)])
    store.set_labels(key, "validation", np.array([0, 2, 1, 1, 0], np.int32))
    store.set_labels(key, "test", np.array([1, 1, 0, 2], np.int32))
    again = SeedStore(path)
    kept = again.predictions(key, "test")
    assert list(kept) == [0, 1] and kept[1].dtype == np.float32
    np.testing.assert_array_equal(kept[1], test[1].astype(np.float32))
    np.testing.assert_array_equal(again.predictions(key)[0], validation[0].astype(np.float32))
    assert again.labels(key, "test").tolist() == [1, 1, 0, 2]
    assert again.labels(key).dtype == np.int32
    # A seed already done keeps its test predictions: a second write changes nothing.
    assert again.write(key, [SeedRun(0, "done", test_outputs=array_bytes(test[1]))]) == 0
    np.testing.assert_array_equal(again.predictions(key, "test")[0], test[0].astype(np.float32))
    with pytest.raises(ValueError, match=r"^`split` must be 'validation' or 'test'; received "
                                         r"split='train'\.$"):
        again.predictions(key, "train")
