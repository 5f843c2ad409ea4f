"""MLflow tracking on a real local backend (a SQLite tracking store and a file
artifact store in a temporary folder), read back with MlflowClient."""

import json

import mlflow
import numpy as np
import pytest
from sklearn.datasets import load_digits

import keras_seeds as ks
from keras_seeds.demo import digits_mlp
from keras_seeds.seeding.contract import Seeds
from keras_seeds.sweeps.store import SeedStore

X, Y = load_digits(return_X_y=True)
X = (X / 16.0).astype("float32")[:300]
Y = Y.astype("int32")[:300]


@pytest.fixture
def tracking(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = mlflow.create_experiment("seeds", artifact_location=(tmp_path / "art").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    yield mlflow.MlflowClient(), experiment
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _family(client, experiment):
    runs = client.search_runs([experiment])
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert len(parents) == 1
    children = {int(run.data.params["seed"]): run for run in runs
                if run.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id}
    assert len(children) == len(runs) - 1
    return parents[0], children


def _history(client, run, key):
    return [m.value for m in sorted(client.get_metric_history(run.info.run_id, key),
                                    key=lambda m: m.step)]


def _artifact(client, run, path):
    local = client.download_artifacts(run.info.run_id, path)
    with open(local) as handle:
        return json.load(handle) if path.endswith(".json") else handle.read()


def test_a_sweep_tracked_in_mlflow_has_a_parent_and_one_child_per_seed(tracking, tmp_path):
    client, experiment = tracking
    seeds = [3, 1, 4, 7]

    def data():
        return (X[:200], Y[:200]), (X[200:], Y[200:])

    study = ks.sweep(digits_mlp, data, seeds=seeds, epochs=2, replicas_per_job=4,
                     store=tmp_path / "seeds.db", config="mlp", progress=False, ensemble=False,
                     track="mlflow")
    store = SeedStore(tmp_path / "seeds.db", create=False)
    rows = {run.seed: run for run in store.runs(store.only_config())}
    parent, children = _family(client, experiment)
    assert sorted(children) == sorted(seeds)
    assert parent.info.run_name == "mlp" and parent.info.status == "FINISHED"
    assert parent.data.params["config"] == "mlp" and parent.data.params["epochs"] == "2"
    summary = study.summary()
    assert parent.data.metrics["summary_mean"] == pytest.approx(summary["mean"])
    assert parent.data.metrics["summary_mean_t_ci_low"] == pytest.approx(summary["mean_t_ci"][0])
    assert "summary_mean_ci_low" not in parent.data.metrics  # withheld below 200 seeds
    assert _artifact(client, parent, "black_swans.json") == {
        "metric": "accuracy", "black_swans": study.outliers()}
    assert "# " in _artifact(client, parent, "report/report.md")
    for seed, child in children.items():
        row = rows[seed]
        assert child.data.params["init"] == str(Seeds(seed).init)
        assert child.data.params["data"] == str(Seeds(seed).data)
        for name in ("loss", "val_accuracy"):  # one value per epoch, step = epoch
            np.testing.assert_allclose(_history(client, child, name), row.history[name])
        assert child.data.metrics["score"] == pytest.approx(row.score)
        assert _artifact(client, child, "manifest.json")["chunk"] == row.manifest["chunk"]


def test_a_seeded_model_fit_logs_a_parent_and_one_child_per_replica(tracking):
    client, experiment = tracking
    model = ks.SeededModel(digits_mlp, seeds=[5, 9])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X[:200], Y[:200], epochs=2, verbose=0,
                        validation_data=(X[200:], Y[200:]), callbacks=[ks.MLflowLogger()])
    parent, children = _family(client, experiment)
    assert sorted(children) == [5, 9] and parent.data.params["optimizer"] == "Adam"
    np.testing.assert_allclose(_history(client, parent, "val_loss"),
                               history.history["val_loss"], rtol=1e-6)
    for k, seed in enumerate(model.replica_seeds):
        np.testing.assert_allclose(_history(client, children[seed], "val_accuracy"),
                                   history.history[ks.replica_key("val_accuracy", k)])
        manifest = _artifact(client, children[seed], "manifest.json")
        assert manifest["replica"] == k and manifest["seeds"] == Seeds(seed).to_config()
    assert parent.data.metrics["summary_n"] == 2


def test_seed_callback_logs_its_seed_and_manifest_to_the_active_run(tracking, tmp_path):
    client, _ = tracking
    model = digits_mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    with mlflow.start_run() as run:
        model.fit(X[:64], Y[:64], epochs=1, verbose=0,
                  callbacks=[ks.SeedCallback(21, manifest=tmp_path / "m.json", verbose=0)])
    logged = client.get_run(run.info.run_id)
    assert logged.data.params["keras_seeds.seed"] == "21"
    assert logged.data.params["keras_seeds.noise"] == str(Seeds(21).noise)
    manifest = _artifact(client, logged, "keras_seeds_manifest.json")
    assert manifest == json.loads((tmp_path / "m.json").read_text())
