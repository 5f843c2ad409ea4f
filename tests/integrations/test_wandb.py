"""Weights & Biases tracking on real offline runs (no server, no mocks), read
back from the transaction log each run writes under ``<dir>/wandb/``."""

import json
import struct
import sys

import numpy as np
import pytest
import wandb

import keras_seeds as ks
from keras_seeds.demo import digits_mlp
from keras_seeds.integrations.tracker import as_trackers
from keras_seeds.integrations.wandb import WandbTracker
from keras_seeds.seeding.contract import Seeds
from keras_seeds.sweeps.store import SeedRun, SeedStore


def _data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    return (x[:256], y[:256]), (x[256:384], y[256:384])


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Every W&B file under ``tmp_path``, nothing sent anywhere; W&B's background
    service (wandb-core) stopped before and after, so none outlives the test."""
    for name, value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true",
                        "WANDB_ERROR_REPORTING": "false", "WANDB_DIR": tmp_path,
                        "WANDB_CACHE_DIR": tmp_path / "cache",
                        "WANDB_CONFIG_DIR": tmp_path / "config",
                        "WANDB_DATA_DIR": tmp_path / "data"}.items():
        monkeypatch.setenv(name, str(value))
    wandb.teardown()  # a service started earlier in this process, with other settings
    yield tmp_path
    wandb.teardown()


def _records(path):
    """The records of an offline run's transaction log (``run-<id>.wandb``).

    wandb has no public reader of it (``wandb sync`` only uploads it, and 0.31
    dropped the Python ``DataStore``); it is LevelDB's log format: a 7-byte
    header (``:W&B``, magic, version), then 32 KiB blocks of chunks, each
    ``crc32 (4) | length (2, little-endian) | type (1 full, 2 first, 3 middle,
    4 last)``, a block's last < 7 bytes being padding. Each record is a
    ``wandb_internal_pb2.Record``.
    """
    from wandb.proto import wandb_internal_pb2

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B"
    offset, pending = 7, b""
    while offset + 7 <= len(data):
        if block - offset % block < 7:
            offset += block - offset % block
            continue
        length, kind = struct.unpack_from("<HB", data, offset + 4)
        pending += data[offset + 7:offset + 7 + length]
        offset += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _values(items) -> dict:
    return {item.key or ".".join(item.nested_key): json.loads(item.value_json)
            for item in items}


def _offline_runs(folder) -> dict:
    """``{run name: run}`` of the offline runs under ``folder/wandb``: its group,
    job type, tags, config, per-step history, summary and exit code."""
    # wandb-core may write a log to disk after run.finish() returns; teardown
    # waits for every log to be written, and stops the service.
    wandb.teardown()
    runs = {}
    for path in sorted((folder / "wandb").glob("offline-run-*/run-*.wandb")):
        run = {"history": {}, "summary": {}, "config": {}, "exit_code": None}
        for record in _records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run.update(name=record.run.display_name, group=record.run.run_group,
                           job_type=record.run.job_type, tags=list(record.run.tags))
                run["config"].update(_values(record.run.config.update))
            elif kind == "config":
                run["config"].update(_values(record.config.update))
            elif kind == "history":
                run["history"][record.history.step.num] = _values(record.history.item)
            elif kind == "summary":
                run["summary"].update(_values(record.summary.update))
            elif kind == "exit":
                run["exit_code"] = record.exit.exit_code
        assert run["name"] not in runs
        runs[run["name"]] = run
    return runs


@pytest.mark.filterwarnings("ignore:SeedStudy.summary. 2 seeds")
def test_a_sweep_tracked_in_wandb_has_one_run_per_seed_and_a_summary_run(offline):
    study = ks.sweep(digits_mlp, _data, seeds=[3, 5], epochs=2, store=offline / "s.db",
                     config="mlp",
                     track=WandbTracker(project="keras-seeds-test", mode="offline", dir=offline),
                     progress=False, ensemble=False)
    store = SeedStore(offline / "s.db", create=False)
    rows = {run.seed: run for run in store.runs(store.only_config())}
    runs = _offline_runs(offline)
    assert sorted(runs) == ["seed_3", "seed_5", "summary"]
    assert {run["group"] for run in runs.values()} == {"mlp"}
    for seed, row in rows.items():
        run = runs[f"seed_{seed}"]
        assert run["job_type"] == "seed" and run["exit_code"] == 0
        assert run["config"]["seed"] == seed and run["config"]["epochs"] == 2
        assert run["config"]["init"] == Seeds(seed).init
        assert sorted(run["history"]) == [0, 1]  # step = epoch
        for name, values in row.history.items():
            np.testing.assert_allclose([run["history"][epoch][name] for epoch in (0, 1)],
                                       values)
        assert run["summary"]["score"] == pytest.approx(row.score)
        assert run["summary"]["score_accuracy"] == pytest.approx(row.metrics["accuracy"])
    summary, expected = runs["summary"], study.summary()
    assert summary["job_type"] == "summary" and summary["exit_code"] == 0
    assert summary["config"]["config"] == "mlp"
    assert summary["summary"]["n"] == 2 and summary["summary"]["metric"] == "accuracy"
    assert summary["summary"]["mean"] == pytest.approx(expected["mean"])
    assert summary["summary"]["std"] == pytest.approx(expected["std"])
    assert summary["summary"]["mean_t_ci_low"] == pytest.approx(expected["mean_t_ci"][0])
    assert "mean_ci_low" not in summary["summary"]  # withheld below 200 seeds
    assert summary["summary"]["black_swans"] == [o["seed"] for o in study.outliers()]


def test_a_sweep_stopped_early_finishes_its_summary_run_as_failed(offline):
    # mode and dir from WANDB_MODE and WANDB_DIR; the user's settings kept for every run
    tracker = WandbTracker(project="keras-seeds-test", tags=["ci"], settings={"quiet": True})
    tracker.start_sweep({"config": "mlp", "epochs": 1})
    tracker.log_runs([SeedRun(7, "done", score=0.5, history={"loss": [0.3]}),
                      SeedRun(8, "failed", error="MemoryError")])
    tracker.abort()
    runs = _offline_runs(offline)
    assert sorted(runs) == ["seed_7", "summary"]  # a failed seed has no run
    assert runs["summary"]["exit_code"] == 1 and "mean" not in runs["summary"]["summary"]
    assert runs["seed_7"]["exit_code"] == 0 and runs["seed_7"]["history"][0]["loss"] == 0.3
    assert runs["seed_7"]["tags"] == runs["summary"]["tags"] == ["ci"]


def test_track_wandb_by_name_and_without_wandb(monkeypatch):
    assert isinstance(as_trackers("wandb")[0], WandbTracker)
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'keras-seeds\[wandb\]'"):
        WandbTracker()
