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


def test_the_manifest_records_the_fusing_strategy_and_the_diff_names_it(tmp_path):
    # The strategies sum floats in different orders: a run repeated with the
    # other one differs, and the diff must say why.
    (x, y), _ = load_digits_split(0)
    manifests = {}
    for strategy in ("vectorized", "unrolled"):
        model = ks.SeededModel(digits_mlp, seeds=[1, 2])
        model.compile("adam", "sparse_categorical_crossentropy", strategy=strategy)
        path = tmp_path / f"{strategy}.json"
        model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0,
                  callbacks=[ks.SeedCallback(5, manifest=path, verbose=0)])
        manifests[strategy] = json.loads(path.read_text())
        assert manifests[strategy]["replicas"]["fusing"] == model.fusing
        assert model.fusing["strategy"] == strategy and model.fusing["repeatable"] is True
    reasons = ks.explain_diff(manifests["vectorized"], manifests["unrolled"])
    assert ("The replicas are fused differently (the strategies add floats in different "
            "orders): replicas.fusing.requested is vectorized in A and unrolled in B; "
            "replicas.fusing.strategy is vectorized in A and unrolled in B.") in reasons


def test_the_diff_takes_a_timed_strategy_choice_for_a_cause_not_its_timings():
    fusing = {"requested": "fastest", "strategy": "unrolled", "rule": "fastest: ...",
              "repeatable": False, "probe_seconds_per_step": {"vectorized": 0.03,
                                                              "unrolled": 0.01}}
    a = {"replicas": {"fusing": fusing}}
    b = {"replicas": {"fusing": {**fusing, "probe_seconds_per_step": {"vectorized": 0.02,
                                                                     "unrolled": 0.01}}}}
    note = ("chose how to fuse its replicas by timing them (strategy='fastest'): another "
            "process may choose the other strategy; pass the recorded strategy to repeat it.")
    assert ks.explain_diff(a, b) == [f"Run A {note}", f"Run B {note}"]
    c = {"replicas": {"fusing": {**fusing, "strategy": "vectorized"}}}
    assert ks.explain_diff(a, c)[0] == (
        "The replicas are fused differently (the strategies add floats in different "
        "orders): replicas.fusing.strategy is unrolled in A and vectorized in B.")
