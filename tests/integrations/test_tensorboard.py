"""SeedTensorBoard: one TensorBoard run per seed, a mean run and a band, read
back with TensorBoard's own EventAccumulator."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

import keras_seeds as ks
from keras_seeds.demo import digits_mlp
from keras_seeds.sweeps.store import SeedStore

X, Y = load_digits(return_X_y=True)
X = (X / 16.0).astype("float32")[:300]
Y = Y.astype("int32")[:300]


def _events(run_dir):
    events = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    events.Reload()
    return events


def _curve(events, tag):
    return [float(tf.make_ndarray(event.tensor_proto)) for event in events.Tensors(tag)]


def _hparams(events):
    (tag,) = [tag for tag in events.Tags()["tensors"] if tag.startswith("_hparams_/session_start")]
    content = events.SummaryMetadata(tag).plugin_data.content
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
            for name, value in info.hparams.items()}


def _band_charts(events):
    (event,) = events.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(tf.make_ndarray(event.tensor_proto).item())
    return [(chart.margin.series[0].value, chart.margin.series[0].lower,
             chart.margin.series[0].upper) for chart in layout.category[0].chart]


def test_a_seeded_model_fit_writes_one_run_per_replica_a_mean_and_a_band(tmp_path):
    seeds = [5, 9, 13]
    model = ks.SeededModel(digits_mlp, seeds=seeds)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X[:200], Y[:200], epochs=2, batch_size=32, verbose=0,
                        validation_data=(X[200:], Y[200:]),
                        callbacks=[ks.SeedTensorBoard(tmp_path, hparams={"data": "digits"})])
    logs = history.history
    assert {p.name for p in tmp_path.iterdir()} == {"band", "mean"} | {
        f"seed_{s}" for s in seeds}
    runs = {p.name: _events(p) for p in tmp_path.iterdir()}
    for k, seed in enumerate(seeds):
        for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(_curve(runs[f"seed_{seed}"], name),
                                       logs[ks.replica_key(name, k)], rtol=1e-6)
    values = np.array([logs[ks.replica_key("val_loss", k)] for k in range(3)])  # (K, epochs)
    np.testing.assert_allclose(_curve(runs["mean"], "val_loss"), values.mean(axis=0), rtol=1e-6)
    band = runs["band"]
    np.testing.assert_allclose(_curve(band, "val_loss/min"), values.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(_curve(band, "val_loss/max"), values.max(axis=0), rtol=1e-6)
    np.testing.assert_allclose(_curve(band, "val_loss/std_upper"),
                               values.mean(axis=0) + values.std(axis=0, ddof=1), rtol=1e-6)
    assert ("val_loss/mean", "val_loss/std_lower", "val_loss/std_upper") in _band_charts(band)
    assert ("val_loss/mean", "val_loss/min", "val_loss/max") in _band_charts(band)
    # The same hparams in every run: the configuration, not the seed.
    hparams = {name: _hparams(events) for name, events in runs.items()}
    assert hparams["seed_5"] == {"data": "digits", "optimizer": "Adam", "epochs": 2.0,
                                 "learning_rate": pytest.approx(1e-3)}
    assert all(value == hparams["seed_5"] for value in hparams.values())


def test_a_sweep_tracked_in_tensorboard_has_each_seeds_history_and_the_band(tmp_path):
    def data():
        return (X[:200], Y[:200]), (X[200:], Y[200:])

    seeds = [3, 1, 4, 7]
    ks.sweep(digits_mlp, data, seeds=seeds, epochs=2, replicas_per_job=2,
             store=tmp_path / "seeds.db", config="mlp", progress=False, ensemble=False,
             track=ks.SeedTensorBoard(tmp_path / "logs"))
    store = SeedStore(tmp_path / "seeds.db", create=False)
    rows = {run.seed: run for run in store.runs(store.only_config())}
    runs = {p.name: _events(p) for p in (tmp_path / "logs").iterdir()}
    assert set(runs) == {"band", "mean"} | {f"seed_{s}" for s in seeds}
    for seed, run in rows.items():
        np.testing.assert_allclose(_curve(runs[f"seed_{seed}"], "val_accuracy"),
                                   run.history["val_accuracy"], rtol=1e-6)
    values = np.array([rows[s].history["loss"] for s in seeds])
    np.testing.assert_allclose(_curve(runs["band"], "loss/min"), values.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(_curve(runs["mean"], "loss"), values.mean(axis=0), rtol=1e-6)
    assert _hparams(runs["seed_3"]) == _hparams(runs["band"])
    assert _hparams(runs["seed_3"])["config"] == "mlp"


def test_seed_tensorboard_refuses_a_plain_model_and_sweep_a_foreign_tracker(tmp_path):
    model = digits_mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(TypeError, match="for one model use keras.callbacks.TensorBoard"):
        model.fit(X[:8], Y[:8], epochs=1, verbose=0,
                  callbacks=[ks.SeedTensorBoard(tmp_path / "logs")])
    with pytest.raises(TypeError, match="`track` must be None, 'mlflow' or 'wandb', an object "
                                        "with start_sweep, log_runs, end_sweep and abort"):
        ks.sweep(digits_mlp, ((X, Y), (X, Y)), seeds=[1], epochs=1, track="neptune",
                 store=tmp_path / "s.db")
    assert not (tmp_path / "s.db").exists()
