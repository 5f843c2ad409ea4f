"""Files written by keras-seeds 0.1.0 load with this release and give the same
numbers: a saved SeededModel and SeedEnsemble, a sweep store, a run manifest and
a BackupAndRestore checkpoint that resumes bit for bit
(tests/fixtures/release_0_1_0/make.py says how they were made)."""

import importlib.util
import shutil
import sqlite3
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_seeds as ks

FIXTURES = Path(__file__).parent / "fixtures" / "release_0_1_0"
EXPECTED = np.load(FIXTURES / "expected.npz")


def _make():
    spec = importlib.util.spec_from_file_location("release_0_1_0_make", FIXTURES / "make.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _make()


def test_a_seeded_model_saved_by_0_1_0_loads_with_its_replicas():
    (_, _), (x_val, _) = MAKE.digits()
    model = keras.saving.load_model(FIXTURES / "seeded_model.keras")
    assert isinstance(model, ks.SeededModel)
    assert model.replicas == 2
    np.testing.assert_array_equal(model.predict_replicas(x_val[:8], verbose=0),
                                  EXPECTED["replica_predictions"])
    np.testing.assert_array_equal(model.predict(x_val[:8], verbose=0),
                                  EXPECTED["ensemble_predictions"])


def test_a_seed_ensemble_saved_by_0_1_0_loads_and_predicts_the_same():
    (_, _), (x_val, _) = MAKE.digits()
    ensemble = keras.saving.load_model(FIXTURES / "ensemble.keras")
    assert isinstance(ensemble, ks.SeedEnsemble)
    np.testing.assert_array_equal(ensemble.predict(x_val[:8], verbose=0),
                                  EXPECTED["ensemble_predictions"])


def test_a_store_written_by_0_1_0_reads_and_is_extended(tmp_path):
    store = tmp_path / "store.db"
    shutil.copy(FIXTURES / "store.db", store)
    study = ks.SeedStudy.from_store(store, config="adam")
    assert list(study.seeds) == list(EXPECTED["store_seeds"]) == [3, 5, 11]
    np.testing.assert_array_equal(study.scores, EXPECTED["store_scores"])
    ensemble = ks.SeedEnsemble.from_store(store, MAKE.digits_mlp)
    assert ensemble.replicas == 3
    # a rerun with one more seed trains only that seed, in the old file
    more = ks.sweep(MAKE.digits_mlp, MAKE.digits(), seeds=[3, 5, 11, 17], epochs=1,
                    store=store, config="adam", fit_kwargs={"batch_size": 32}, keep_weights=True,
                    progress=False)
    np.testing.assert_array_equal(np.asarray(more.scores)[:3], EXPECTED["store_scores"])
    with sqlite3.connect(store) as connection:
        assert connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 4


def test_a_manifest_written_by_0_1_0_reads_and_diffs():
    manifest = ks.read_manifest(FIXTURES / "manifest.json")
    assert manifest["seed"]["master"] == 13
    assert manifest["seed"]["subseeds"] == ks.Seeds(13).as_dict()
    assert manifest["status"] == "finished" and manifest["fit"]["epochs"] == 3
    assert ks.diff_manifests(manifest, manifest) == []
    other = {**manifest, "seed": {**manifest["seed"], "master": 14}}
    assert [d.field for d in ks.diff_manifests(manifest, other)] == ["seed.master"]


def test_a_backup_written_by_0_1_0_resumes_bit_for_bit(tmp_path):
    backup = tmp_path / "backup"
    shutil.copytree(FIXTURES / "backup", backup)
    (x, y), _ = MAKE.digits()
    model = MAKE.plain_model()
    epochs = []
    model.fit(x, y, epochs=3, batch_size=32, verbose=0,
              callbacks=[ks.SeedCallback(13, manifest=None, verbose=0),
                         ks.BackupAndRestore(backup),
                         keras.callbacks.LambdaCallback(
                             on_epoch_begin=lambda epoch, logs: epochs.append(epoch))])
    assert epochs == [2]  # epochs 0 and 1 were in the checkpoint
    weights = np.concatenate([w.ravel() for w in model.get_weights()])
    np.testing.assert_array_equal(weights, EXPECTED["uninterrupted_weights"])


@pytest.mark.parametrize("name", ["seeded_model.keras", "ensemble.keras", "store.db"])
def test_the_fixtures_are_what_0_1_0_wrote(name):
    # guards against a fixture being regenerated with the new code by mistake
    assert (FIXTURES / name).stat().st_size > 1000
    assert '"keras_seeds": "0.1.0"' in (FIXTURES / "versions.json").read_text()
