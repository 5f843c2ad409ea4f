"""Keras' own BackupAndRestore tests (keras-team/keras v3.15.1,
``keras/src/callbacks/backup_and_restore_test.py``), run with
``ks.BackupAndRestore`` on a plain model and on a ``SeededModel(replicas=2)``.

Keras' tests read its callback's private counters (``_current_epoch``,
``_weights_path``); what a user relies on is kept: how many batches the model
has trained in all (a ``CanaryLayer`` counts its calls), the epochs ``fit``
returns, and the backup directory. Where keras-seeds answers otherwise it
says why, next to the number (docs/resume.md lists the differences).
"""

import keras
import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds.records import checkpoint as checkpoints


class InterruptingCallback(keras.callbacks.Callback):
    """A callback to intentionally interrupt training (Keras' own)."""

    def __init__(self, steps_int, epoch_int):
        self.batch_count = 0
        self.epoch_count = 0
        self.steps_int = steps_int
        self.epoch_int = epoch_int

    def on_epoch_end(self, epoch, log=None):
        self.epoch_count += 1
        if self.epoch_int is not None and self.epoch_count == self.epoch_int:
            raise RuntimeError("EpochInterruption")

    def on_batch_end(self, batch, logs=None):
        self.batch_count += 1
        if self.steps_int is not None and self.batch_count == self.steps_int:
            raise RuntimeError("StepsInterruption")


class CanaryLayer(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.counter = self.add_weight(shape=(), initializer="zeros", dtype="float32",
                                       trainable=False)

    def call(self, x):
        self.counter.assign_add(1)
        return x


def make_member():
    return keras.Sequential([keras.layers.Input((3,)), CanaryLayer(), keras.layers.Dense(1)])


def make_model(kind):
    model = make_member() if kind == "plain" else ks.SeededModel(make_member, replicas=2,
                                                                 seed=0)
    model.compile(loss="mse", optimizer="sgd", metrics=["mse"])
    return model


def counters(model) -> list[int]:
    """Batches the model has trained, per replica."""
    if isinstance(model, ks.SeededModel):
        return [int(model.replica(i).layers[0].counter.value) for i in range(model.replicas)]
    return [int(model.layers[0].counter.value)]


KINDS = ["plain", "replicas"]
x_train = np.random.default_rng(0).random((10, 3))
y_train = np.random.default_rng(1).random((10, 1))


def _fit(model, callbacks, epochs, verbose=0):
    return model.fit(x_train, y_train, batch_size=4, callbacks=callbacks, epochs=epochs,
                     verbose=verbose)


def test_save_freq_unknown_error():
    for bad in ("batch", 0.15):
        with pytest.raises(ValueError):
            keras.callbacks.BackupAndRestore(backup_dir="backup_dir", save_freq=bad)
        with pytest.raises(ValueError, match=r"^`save_freq` must be 'epoch' or an int >= 1"):
            ks.BackupAndRestore(backup_dir="backup_dir", save_freq=bad)


@pytest.mark.parametrize("kind", KINDS)
def test_best_case_step(tmp_path, kind):
    backup_dir = tmp_path / "subdir"
    model = make_model(kind)
    cbk = ks.BackupAndRestore(backup_dir, save_freq=1)
    with pytest.raises(RuntimeError, match="StepsInterruption"):
        _fit(model, [cbk, InterruptingCallback(steps_int=2, epoch_int=None)], epochs=2)
    assert backup_dir.exists()
    assert counters(model) == [2] * len(counters(model))

    hist = _fit(make_model(kind), [cbk], epochs=5)
    assert hist.epoch[-1] == 4
    # 5 epochs of 3 batches, each trained once. Keras' callback restores the
    # epoch but not the position in it: it replays epoch 0 and counts 17.
    assert counters(cbk.model) == [15] * len(counters(cbk.model))


@pytest.mark.parametrize("kind", KINDS)
def test_best_case_epoch(tmp_path, kind):
    backup_dir = tmp_path / "subdir"
    model = make_model(kind)
    assert counters(model) == [0] * len(counters(model))
    cbk = ks.BackupAndRestore(backup_dir=backup_dir, save_freq="epoch")
    with pytest.raises(RuntimeError, match="EpochInterruption"):
        _fit(model, [cbk, InterruptingCallback(steps_int=None, epoch_int=2)], epochs=6)
    assert backup_dir.exists()
    assert counters(model) == [6] * len(counters(model))

    hist = _fit(make_model(kind), [cbk], epochs=5)
    assert hist.epoch[-1] == 4
    assert counters(cbk.model) == [5 * 3] * len(counters(cbk.model))


@pytest.mark.parametrize("kind", KINDS)
def test_backup_corrupted(tmp_path, kind):
    backup_dir = tmp_path / "subdir"
    model = make_model(kind)
    cbk = ks.BackupAndRestore(backup_dir=backup_dir, save_freq="epoch", double_checkpoint=True)
    with pytest.raises(RuntimeError, match="EpochInterruption"):
        _fit(model, [cbk, InterruptingCallback(steps_int=None, epoch_int=2)], epochs=6)
    kept = checkpoints.checkpoints_in(backup_dir)
    assert len(kept) == 2  # the current state and the previous one
    assert counters(model) == [6] * len(counters(model))

    kept[0].write_text("0")  # corrupt the newest
    with pytest.warns(UserWarning, match="checkpoint refused: .*truncated or corrupt"):
        hist = _fit(make_model(kind), [cbk], epochs=5)
    assert cbk.resumed_from.path == kept[1]
    assert hist.epoch[-1] == 4
    assert counters(cbk.model) == [5 * 3] * len(counters(cbk.model))


@pytest.mark.parametrize("kind", KINDS)
def test_model_deleted_case_epoch(tmp_path, kind):
    backup_dir = tmp_path / "subdir"
    _fit(make_model(kind), [ks.BackupAndRestore(backup_dir, save_freq="epoch")], epochs=2)
    assert not backup_dir.exists()


def test_a_seeded_models_layers_are_the_replicas_in_the_replica_models():
    """Code that walks ``model.layers`` (summaries, freezing for fine-tuning)
    finds no layer of a SeededModel: its variables are stacked, no layer holds
    one replica's weights. The member's layers are in ``architecture``; replica
    k's, holding its weights, in ``replica(k)`` (docs/replicas.md)."""
    model = make_model("replicas")
    _fit(model, [], epochs=1)
    assert model.layers == []
    assert [type(layer).__name__ for layer in model.architecture.layers] == [
        "CanaryLayer", "Dense"]
    stacked_kernel = next(w for w in model.weights if tuple(w.shape) == (2, 3, 1))
    for k in range(2):
        dense = model.replica(k).layers[1]
        np.testing.assert_array_equal(dense.kernel.numpy(), stacked_kernel.numpy()[k])


# ----------------------------------------- Keras' EarlyStopping tests (v3.15.1)
def _early_member():
    return keras.Sequential((keras.layers.Dense(1, activation="relu"),
                             keras.layers.Dense(1, activation="relu")))


def _early_model(kind, **compile_kwargs):
    model = _early_member() if kind == "plain" else ks.SeededModel(_early_member, replicas=2,
                                                                   seed=0)
    model.compile(**compile_kwargs)
    return model


@pytest.mark.parametrize("kind", KINDS)
def test_early_stopping(kind):
    """Stock callbacks infer each metric's direction from the model's metrics,
    a vector metric (F1Score) included; an unknown monitor raises."""
    rng = np.random.default_rng(2)
    x_train, y_train, x_test, y_test = (rng.random(shape) for shape in
                                        ((10, 5), (10, 1), (10, 5), (10, 1)))
    model = _early_model(kind, loss="mae", optimizer="adam", metrics=[
        "mse", "acc", "accuracy", "hinge", keras.metrics.F1Score(name="f1_score")])
    cases = [
        ("max", "val_mse", "max"),
        ("min", "val_loss", "min"),
        ("auto", "val_mse", "min"),
        ("auto", "loss", "min"),
        ("auto", "acc", "max"),
        ("auto", "val_accuracy", "max"),
        ("auto", "hinge", "min"),
        ("auto", "f1_score", "max"),
    ]
    for mode, monitor, expected_mode in cases:
        cbks = [keras.callbacks.EarlyStopping(patience=0, monitor=monitor, mode=mode)]
        # One epoch (Keras' test runs two): the direction is set at the first epoch's end.
        model.fit(x_train, y_train, batch_size=5, validation_data=(x_test, y_test),
                  callbacks=cbks + [ks.SeedCallback(0, manifest=None, verbose=0)],
                  epochs=1, verbose=0)
        expected = keras.ops.greater if expected_mode == "max" else keras.ops.less
        assert cbks[0].monitor_op == expected, (mode, monitor)

    with pytest.raises(ValueError):
        model.fit(x_train, y_train, batch_size=5, validation_data=(x_test, y_test),
                  callbacks=[keras.callbacks.EarlyStopping(patience=0, monitor="unknown")],
                  epochs=2, verbose=0)


@pytest.mark.parametrize("kind", KINDS)
def test_early_stopping_reuse_and_baseline(kind):
    patience = 3
    data = np.random.default_rng(3).random((100, 1))
    labels = np.where(data > 0.5, 1, 0)
    model = _early_model(kind, optimizer="sgd", loss="mae", metrics=["mse"])
    stopper = keras.callbacks.EarlyStopping(monitor="mse", patience=patience)
    for _ in range(2):  # the same stopper, reused
        history = model.fit(data, labels, callbacks=[stopper], verbose=0, epochs=20)
        assert len(history.epoch) >= patience

    stopper = keras.callbacks.EarlyStopping(monitor="mse", patience=patience, baseline=0.6)
    history = model.fit(data[:10], labels[:10], callbacks=[stopper], verbose=0, epochs=20)
    assert len(history.epoch) >= patience
