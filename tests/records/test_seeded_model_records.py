"""SeedCallback on a SeededModel: the manifest fingerprints the arrays given to
``fit`` (not the batch numbers SeededModel feeds Keras), records every
replica's seeds, and warns of no pipeline it does not have."""

import hashlib
import json
import warnings

import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds.demo import digits_mlp, load_digits_split


def _sha256(array):
    array = np.ascontiguousarray(array)
    return hashlib.sha256(f"{array.dtype.str}|{array.shape}|".encode()
                          + array.tobytes()).hexdigest()


def test_manifest_of_a_seeded_model_fingerprints_fits_arrays_and_every_replica_seed(tmp_path):
    (x, y), _ = load_digits_split(0)
    x, y = x[:300], y[:300]
    model = ks.SeededModel(digits_mlp, seeds=[1, 2, 3])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "run.json"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, validation_split=0.2,
                  callbacks=[ks.SeedCallback(5, manifest=path, verbose=0)])
    manifest = json.loads(path.read_text())
    train = manifest["data"]["train"]["items"]
    assert train["x"]["sha256"] == _sha256(x) and train["y"]["sha256"] == _sha256(y)
    assert manifest["fit"]["validation_split"] == 0.2 and manifest["fit"]["batch_size"] == 32
    assert manifest["replicas"]["replica_seeds"] == [1, 2, 3]
    assert [s["subseeds"] for s in manifest["replicas"]["sub_seeds"]] == [
        ks.Seeds(s).to_config()["subseeds"] for s in (1, 2, 3)]
    data_seeds = [ks.Seeds(s).data for s in (1, 2, 3)]
    assert manifest["control"]["data_order"] == (
        "controlled: every replica its own order, replica k's pass e is "
        f"pass_order(n, [data seed k, e]) with data seeds {data_seeds}")
    assert manifest["control"]["initialization"].startswith("controlled: replica k built")


def test_reinitialize_on_a_seeded_model_is_refused_before_anything_changes():
    model = ks.SeededModel(digits_mlp, seeds=[1, 2])
    model.compile("adam", "sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    (x, y), _ = load_digits_split(0)
    with pytest.raises(ValueError, match=r"SeedCallback\(reinitialize=True\): a SeededModel "
                                         r"draws every replica's weights from that replica's "
                                         r"own init sub-seed"):
        model.fit(x[:64], y[:64], verbose=0, callbacks=[
            ks.SeedCallback(1, reinitialize=True, manifest=None, verbose=0)])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_subclass_whose_fit_calls_super_is_recorded_with_what_the_user_passed(tmp_path):
    import keras

    class Wrapped(keras.Sequential):
        def fit(self, x, y, **kwargs):
            return super().fit(x[:, :4], y, **kwargs)  # what Keras' frame holds differs

    x, y = np.arange(48, dtype="float32").reshape(8, 6), np.ones((8, 1), "float32")
    model = Wrapped([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    path = tmp_path / "run.json"
    model.fit(x, y, epochs=1, verbose=0, callbacks=[ks.SeedCallback(2, manifest=path,
                                                                    verbose=0)])
    train = json.loads(path.read_text())["data"]["train"]["items"]
    assert train["x"]["shape"] == [8, 6] and train["x"]["sha256"] == _sha256(x)
