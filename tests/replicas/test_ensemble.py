"""SeedEnsemble: combining, uncertainty, .keras and SavedModel round trips, bad input."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from scipy.special import softmax
from sklearn.datasets import load_digits

import keras_seeds as ks
from keras_seeds.demo import digits_mlp

X, Y = load_digits(return_X_y=True)
X = (X / 16.0).astype("float32")
Y = Y.astype("int32")
X_TRAIN, Y_TRAIN, X_TEST = X[:400], Y[:400], X[1500:1540]


def logits_mlp():
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                             keras.layers.Dropout(0.2), keras.layers.Dense(10)])


@pytest.fixture(scope="module")
def seeded():
    """A trained K=4 SeededModel and its replicas' own predictions (independent models)."""
    model = ks.SeededModel(digits_mlp, replicas=4, seed=5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X_TRAIN, Y_TRAIN, epochs=2, verbose=0)
    members = np.stack([model.replica(i).predict(X_TEST, verbose=0) for i in range(4)])
    return model, members


@pytest.fixture(scope="module")
def plain_members():
    """Three separately built logit models, all with Keras' default name."""
    models = []
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        models.append(logits_mlp())
    return models


# --------------------------------------------------------------- combining
def test_fused_ensemble_is_the_mean_of_the_replicas_own_predictions(seeded):
    model, members = seeded
    ensemble = model.ensemble()
    assert ensemble.fused and ensemble.replicas == 4
    assert ensemble.seeds == model.replica_seeds
    np.testing.assert_allclose(ensemble.predict(X_TEST, verbose=0), members.mean(axis=0),
                               atol=1e-6)
    np.testing.assert_allclose(ensemble.predict_members(X_TEST), members, atol=1e-6)


def test_ensemble_is_a_snapshot_of_the_replicas():
    model = ks.SeededModel(digits_mlp, replicas=2, seed=1)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X_TRAIN, Y_TRAIN, epochs=1, verbose=0)
    ensemble = model.ensemble()
    before = ensemble.predict(X_TEST, verbose=0)
    model.fit(X_TRAIN, Y_TRAIN, epochs=1, verbose=0)  # trains on; the ensemble stays
    np.testing.assert_array_equal(ensemble.predict(X_TEST, verbose=0), before)
    assert not np.array_equal(model.predict(X_TEST, verbose=0), before)


def test_members_list_combines_with_every_rule(plain_members):
    outputs = np.stack([m.predict(X_TEST, verbose=0) for m in plain_members])
    expected = {"mean": outputs.mean(axis=0),
                "mean_probs": softmax(outputs, axis=-1).mean(axis=0),
                "median": np.median(outputs, axis=0)}
    for combine, want in expected.items():
        ensemble = ks.SeedEnsemble(plain_members, combine=combine)
        assert not ensemble.fused and ensemble.replicas == 3
        np.testing.assert_allclose(ensemble.predict(X_TEST, verbose=0), want, atol=1e-6,
                                   err_msg=combine)


def test_clashing_member_names_are_made_unique(plain_members):
    a, b = logits_mlp(), logits_mlp()
    a.name = b.name = "member"
    ensemble = ks.SeedEnsemble([a, b])
    names = [m.name for m in ensemble.members]
    assert names == ["member", "member_1"]


def test_uncertainty_outputs_equal_numpys_std_and_disagreement(seeded, plain_members):
    model, members = seeded
    ensemble = model.ensemble(uncertainty=True)
    out = ensemble.predict(X_TEST, verbose=0)
    prediction = members.mean(axis=0)
    np.testing.assert_allclose(out["prediction"], prediction, atol=1e-6)
    np.testing.assert_allclose(out["std"], members.std(axis=0), atol=1e-6)
    votes = members.argmax(axis=-1)
    disagreement = (votes != prediction.argmax(axis=-1)).mean(axis=0)
    np.testing.assert_allclose(out["disagreement"], disagreement, atol=1e-6)
    assert disagreement.max() > 0  # the check compares something

    # Logit members with mean_probs: the spread is that of their probabilities.
    logits = np.stack([m.predict(X_TEST, verbose=0) for m in plain_members])
    probs = softmax(logits, axis=-1)
    spread = ks.SeedEnsemble(plain_members, combine="mean_probs").uncertainty(X_TEST)
    np.testing.assert_allclose(spread["std"], probs.std(axis=0), atol=1e-6)
    np.testing.assert_allclose(
        spread["disagreement"],
        (logits.argmax(-1) != probs.mean(axis=0).argmax(-1)).mean(axis=0), atol=1e-6)


# ------------------------------------------------------------------ saving
def test_keras_round_trip_gives_identical_predictions(seeded, plain_members, tmp_path):
    model, _ = seeded
    for name, ensemble in (("fused", model.ensemble(combine="median")),
                           ("members", ks.SeedEnsemble(plain_members, combine="mean_probs"))):
        path = tmp_path / f"{name}.keras"
        ensemble.save(path)
        loaded = keras.saving.load_model(path)
        assert (loaded.fused, loaded.replicas, loaded.combine) == (
            ensemble.fused, ensemble.replicas, ensemble.combine)
        np.testing.assert_array_equal(loaded.predict(X_TEST, verbose=0),
                                      ensemble.predict(X_TEST, verbose=0), err_msg=name)


# Plain TensorFlow serves each SavedModel first, keras-seeds not imported;
# then, in the same process, `import keras_seeds` and Keras loads the `.keras`
# file (Keras finds SeedEnsemble once keras-seeds is imported).
SERVE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    x_path, out_path, keras_path, *paths = sys.argv[1:]
    x = tf.constant(np.load(x_path))
    results = {}
    for path in paths:
        served = tf.saved_model.load(path)
        results[path] = {
            "serve": served.serve(x).numpy().tolist(),
            "uncertainty": {k: v.numpy().tolist()
                            for k, v in served.serve_uncertainty(x).items()},
            "signatures": sorted(served.signatures),
            "keras_seeds_imported": "keras_seeds" in sys.modules}
    import keras_seeds, keras
    loaded = keras.saving.load_model(keras_path)
    np.save(keras_path + ".predicted.npy", loaded.predict(np.load(x_path), verbose=0))
    json.dump(results, open(out_path, "w"))
""")


def serve_in_fresh_process(paths, keras_path, tmp_path) -> list[dict]:
    """What plain TensorFlow serves from each SavedModel in ``paths``, loaded
    in one fresh process before it imports keras-seeds; after it does, the
    ``.keras`` file's predictions land beside it (``.predicted.npy``)."""
    np.save(tmp_path / "x.npy", X_TEST)
    subprocess.run([sys.executable, "-c", SERVE, str(tmp_path / "x.npy"),
                    str(tmp_path / "served.json"), str(keras_path), *map(str, paths)],
                   check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    served = json.loads((tmp_path / "served.json").read_text())
    return [served[str(path)] for path in paths]


# The tests that load the default exports in a fresh process share one.
exports_group = pytest.mark.xdist_group("ensemble_exports")


@pytest.fixture(scope="module")
def exported(seeded, plain_members, tmp_path_factory):
    """The default export of the fused ensemble and of the members form, and
    what plain TensorFlow serves from each: ``{name: (path, served)}``; and the
    fused ensemble saved as ``.keras``, with what a fresh process loading it
    predicts: ``{"keras": (ensemble, predicted)}``."""
    model, _ = seeded
    work = tmp_path_factory.mktemp("exports")
    paths = {"fused": work / "fused_savedmodel", "members": work / "members_savedmodel"}
    ensemble = model.ensemble()
    ensemble.export(paths["fused"])
    ks.SeedEnsemble(plain_members).export(paths["members"])
    ensemble.save(work / "e.keras")
    served = serve_in_fresh_process(list(paths.values()), work / "e.keras", work)
    return {**{name: (path, result) for (name, path), result in zip(paths.items(), served)},
            "keras": (ensemble, np.load(work / "e.keras.predicted.npy"))}


@exports_group
def test_keras_file_loads_in_a_fresh_process_after_import_keras_seeds(exported):
    ensemble, predicted = exported["keras"]
    np.testing.assert_array_equal(predicted, ensemble.predict(X_TEST, verbose=0))


@exports_group
def test_savedmodel_serves_the_mean_in_plain_tensorflow(seeded, plain_members, exported):
    model, members = seeded
    _, served = exported["fused"]
    assert served["keras_seeds_imported"] is False
    assert {"serve", "serving_default", "serve_uncertainty"} <= set(served["signatures"])
    np.testing.assert_allclose(served["serve"], members.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(served["uncertainty"]["std"], members.std(axis=0), atol=1e-6)

    # The members form exports the same way.
    logits = np.stack([m.predict(X_TEST, verbose=0) for m in plain_members])
    path, served = exported["members"]
    np.testing.assert_allclose(served["serve"], logits.mean(axis=0), atol=1e-6)

    # ... and Keras reloads it as a layer.
    layer = keras.layers.TFSMLayer(str(path), call_endpoint="serve")
    np.testing.assert_allclose(np.asarray(layer(X_TEST)), logits.mean(axis=0), atol=1e-6)


def xla_compiled_functions(path) -> list[str]:
    """The functions in a SavedModel that TensorFlow must compile with XLA."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    library = saved.meta_graphs[0].graph_def.library
    return [f.signature.name for f in library.function
            if f.attr["_XlaMustCompile"].b]


@exports_group
def test_default_export_needs_no_xla_and_xla_is_an_opt_in(seeded, exported, tmp_path):
    # TF Serving's GPU build cannot run XLA-compiled SavedModel functions.
    model, members = seeded
    default, served = exported["fused"]  # ensemble.export(path), no options
    assert xla_compiled_functions(default) == []
    np.testing.assert_allclose(served["serve"], members.mean(axis=0), atol=1e-6)
    model.ensemble().export(tmp_path / "xla", jit_compile=True)
    assert len(xla_compiled_functions(tmp_path / "xla")) >= 2  # serve, serve_uncertainty


def saved_model_cli(*args) -> str:
    executable = shutil.which("saved_model_cli")
    command = ([executable] if executable else
               [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"])
    done = subprocess.run(command + list(args), capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@exports_group
def test_saved_model_cli_shows_and_runs_the_export(seeded, exported, tmp_path):
    model, members = seeded
    path, _ = exported["fused"]
    shown = saved_model_cli("show", "--dir", str(path), "--all")
    assert "signature_def['serving_default']" in shown
    assert "signature_def['serve_uncertainty']" in shown
    serving = shown[shown.index("signature_def['serving_default']"):]
    input_key = re.search(r"inputs\['([^']+)'\]", serving).group(1)
    np.save(tmp_path / "x.npy", X_TEST)
    saved_model_cli("run", "--dir", str(path), "--tag_set", "serve",
                    "--signature_def", "serving_default",
                    "--inputs", f"{input_key}={tmp_path / 'x.npy'}",
                    "--outdir", str(tmp_path / "out"))
    (written,) = os.listdir(tmp_path / "out")
    np.testing.assert_allclose(np.load(tmp_path / "out" / written), members.mean(axis=0),
                               atol=1e-6)


# --------------------------------------------------------------- bad input
def test_bad_members_are_refused_with_the_argument_named(plain_members):
    narrow = keras.Sequential([keras.Input((32,)), keras.layers.Dense(10)])
    three = keras.Sequential([keras.Input((64,)), keras.layers.Dense(3)])
    unbuilt = keras.Sequential([keras.layers.Dense(10)])
    first = plain_members[0]
    cases = [
        ([], ValueError, "`models` must hold at least one Keras model; received models=[]."),
        (first, TypeError, "`models` must be a list of Keras models; received models="),
        ([first, "model"], TypeError, "`models[1]` must be a Keras model; received 'model'."),
        ([first, plain_members[1], first], ValueError,
         "`models[0]` and `models[2]` are the same model object"),
        ([first, narrow], ValueError,
         "`models[1]` has input shape [(32,)], but `models[0]` has [(64,)]"),
        ([first, three], ValueError, "`models[1]` has output shape (3,), but `models[0]` has (10,)"),
        ([first, unbuilt], ValueError, "`models[1]` is not built"),
    ]
    for models, error, message in cases:
        with pytest.raises(error) as raised:
            ks.SeedEnsemble(models)
        assert message in str(raised.value), (message, str(raised.value))
    with pytest.raises(ValueError, match=re.escape(
            "`combine` must be one of 'mean', 'mean_probs', 'median'; received combine='vote'.")):
        ks.SeedEnsemble(plain_members, combine="vote")


def test_a_failed_export_leaves_nothing_half_written(seeded, tmp_path):
    model, _ = seeded
    ensemble = model.ensemble()
    with pytest.raises(ValueError, match=re.escape(
            "`jit_compile` must be 'auto', True or False; received jit_compile='yes'.")):
        ensemble.export(tmp_path / "a", jit_compile="yes")
    import tensorflow as tf
    with pytest.raises(ValueError):  # inputs of the wrong width fail while tracing
        ensemble.export(tmp_path / "a", input_signature=[tf.TensorSpec((None, 3), tf.float32)])
    assert os.listdir(tmp_path) == []
    # Over an existing export, a failure keeps the old one whole.
    ensemble.export(tmp_path / "a")
    before = sorted(os.listdir(tmp_path / "a"))
    with pytest.raises(ValueError):
        ensemble.export(tmp_path / "a", input_signature=[tf.TensorSpec((None, 3), tf.float32)])
    assert sorted(os.listdir(tmp_path)) == ["a"] and sorted(os.listdir(tmp_path / "a")) == before


def test_ensemble_of_an_unbuilt_seeded_model_says_what_to_do():
    model = ks.SeededModel(lambda: keras.Sequential([keras.layers.Dense(2)]), replicas=2, seed=0)
    with pytest.raises(ValueError, match="the replicas are not built yet"):
        model.ensemble()


def test_a_wide_and_deep_ensemble_with_string_features_predicts_reloads_and_serves(tmp_path):
    # keras-io's structured-data style: named inputs, adapted Normalization,
    # StringLookup on string features given as NumPy object arrays.
    import tensorflow as tf
    from keras_io_models import wide_and_deep, wine_features

    (x, y), (x_held, _) = wine_features()
    model = ks.SeededModel(wide_and_deep, seeds=[1, 2, 3])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    as_tensors = {name: tf.constant(a.astype(bytes) if a.dtype == object else a)
                  for name, a in x_held.items()}
    alone = np.stack([model.replica(k).predict(as_tensors, verbose=0) for k in range(3)])
    ensemble = model.ensemble()

    predicted = ensemble.predict(x_held, verbose=0)    # object arrays, as fit took them
    np.testing.assert_allclose(predicted, alone.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(ensemble.predict_members(x_held), alone, atol=1e-6)
    np.testing.assert_allclose(ensemble.uncertainty(x_held)["std"], alone.std(axis=0),
                               atol=1e-6)

    # A reloaded .keras file normalizes with the adapted mean and variance again.
    ensemble.save(tmp_path / "ensemble.keras")
    reloaded = keras.saving.load_model(tmp_path / "ensemble.keras")
    np.testing.assert_array_equal(reloaded.predict(x_held, verbose=0), predicted)

    # The SavedModel holds the lookup tables: TensorFlow's loader serves strings.
    # (That a SavedModel serves without keras_seeds imported, in a fresh process,
    # is test_savedmodel_serves_the_mean_in_plain_tensorflow's claim.)
    ensemble.export(tmp_path / "saved")
    served = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(served.serve(as_tensors).numpy(), predicted, atol=1e-6)


def two_outputs():
    """A member with two named outputs: a digit (10 classes) and a value."""
    pixels = keras.Input((64,), name="pixels")
    hidden = keras.layers.Dense(16, activation="relu")(pixels)
    return keras.Model(pixels, {"digit": keras.layers.Dense(10, activation="softmax")(hidden),
                                "value": keras.layers.Dense(1)(hidden)})


def test_members_with_several_outputs_give_uncertainty_per_output_and_export(tmp_path):
    model = ks.SeededModel(two_outputs, seeds=[1, 2, 3])
    alone = [model.replica(k).predict(X_TEST, verbose=0) for k in range(3)]
    stacked = {name: np.stack([a[name] for a in alone]) for name in ("digit", "value")}
    ensemble = model.ensemble()
    result = ensemble.uncertainty(X_TEST)
    assert sorted(result["digit"]) == ["disagreement", "prediction", "std"]
    assert sorted(result["value"]) == ["prediction", "std"]    # one column: no classes
    for name in ("digit", "value"):
        np.testing.assert_allclose(result[name]["prediction"], stacked[name].mean(axis=0),
                                   atol=1e-6)
        np.testing.assert_allclose(result[name]["std"], stacked[name].std(axis=0), atol=1e-6)
    votes = stacked["digit"].argmax(axis=-1)
    chosen = stacked["digit"].mean(axis=0).argmax(axis=-1)
    np.testing.assert_allclose(result["digit"]["disagreement"], (votes != chosen).mean(axis=0))
    # The members form gives the same structure.
    members = ks.SeedEnsemble([model.replica(k) for k in range(3)]).uncertainty(X_TEST)
    np.testing.assert_allclose(members["value"]["std"], result["value"]["std"], atol=1e-6)

    # It exports (the uncertainty signature's outputs flat, `<output>/<part>`),
    # and TensorFlow's loader serves both signatures.
    import tensorflow as tf

    ensemble.export(tmp_path / "saved")
    served = tf.saved_model.load(str(tmp_path / "saved"))
    assert sorted(served.signatures["serve_uncertainty"].structured_outputs) == [
        "digit/disagreement", "digit/prediction", "digit/std", "value/prediction", "value/std"]
    uncertainty = served.serve_uncertainty(X_TEST)
    for name in ("digit", "value"):
        np.testing.assert_allclose(served.serve(X_TEST)[name].numpy(),
                                   stacked[name].mean(axis=0), atol=1e-6)
        np.testing.assert_allclose(uncertainty[f"{name}/std"].numpy(),
                                   stacked[name].std(axis=0), atol=1e-6)
