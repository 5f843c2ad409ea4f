import json

import keras
import numpy as np

import keras_seeds as ks

from conftest import run_python


def test_dropout_seed_uncontrolled_before_callback_and_controlled_after():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2),
                              keras.layers.Dropout(0.5, name="drop"), keras.layers.Dense(1)])
    before = ks.audit(model).find("Dropout 'drop'")
    assert [(i.status, i.fix) for i in before] == [
        ("NOT controlled", "SeedCallback(seed) re-seeds it when training begins")]
    model.compile("sgd", "mse")
    model.fit(ks.seeded_dataset(np.ones((4, 3)), np.ones((4, 1)), batch_size=2, seed=3),
              epochs=1, verbose=0, callbacks=[ks.SeedCallback(3, manifest=None)])
    report = ks.audit(model)
    assert [i.status for i in report.find("Dropout 'drop'")] == ["controlled"]
    assert report.find("Op determinism")[0].controlled
    assert report.find("Data order")[0].controlled
    text = str(report)
    assert "[  controlled  ] Dropout 'drop' SeedGenerator (noise)" in text


def test_explicitly_seeded_generator_counts_as_controlled():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.5, seed=1, name="d")])
    assert ks.audit(model).find("Dropout 'd'")[0].controlled


def test_audit_lists_every_source_with_a_fix_for_uncontrolled_ones():
    out = run_python("-m", "keras_seeds.cli", "audit").stdout
    for source in ("Python random", "NumPy global RNG", "TensorFlow global seed",
                   "Keras global SeedGenerator", "PYTHONHASHSEED", "Op determinism",
                   "Thread pools", "XLA", "GPU"):
        assert source in out
    assert "[NOT controlled] Python random" in out
    assert "fix: call keras_seeds.seed_everything(seed) first thing in the script" in out


def test_audit_cli_inspects_a_saved_model(tmp_path, capsys):
    # What a saved model holds is the claim, not this process's state: the
    # command runs here (the bare `audit` above needs a fresh process).
    from keras_seeds import cli

    model = keras.Sequential([keras.Input((3,)), keras.layers.GaussianNoise(0.1, name="gn")])
    model.save(tmp_path / "m.keras")
    capsys.readouterr()
    assert cli.main(["audit", "--model", str(tmp_path / "m.keras")]) == 0
    out = capsys.readouterr().out
    assert "[NOT controlled] GaussianNoise 'gn' SeedGenerator (noise)" in out


def test_no_attribute_is_set_on_the_users_model_and_the_audit_still_sees_the_fit(tmp_path):
    # What keras-seeds' callbacks learn about a model is kept beside it
    # (records/model_notes.py): a fit with them adds to the model only what
    # Keras' own fit adds. (SeedTensorBoard and ReplicaEarlyStopping take a
    # SeededModel, keras-seeds' own.)
    def fitted(callbacks):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2),
                                  keras.layers.Dropout(0.5), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        before = set(vars(model))
        model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=4, epochs=2, verbose=0,
                  callbacks=callbacks)
        return model, set(vars(model)) - before

    _, keras_adds = fitted([])
    seed = ks.SeedCallback(4, reinitialize=True, manifest=tmp_path / "manifest.json",
                           verbose=0)
    model, ours_add = fitted([seed, ks.BackupAndRestore(tmp_path / "backup")])
    ks.disable_determinism()
    assert ours_add == keras_adds
    report = ks.audit(model)
    assert report.find("Weight initialisation")[0].controlled
    assert report.find("Data order")[0].controlled
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["resumed"] == {"count": 0, "from": []}
