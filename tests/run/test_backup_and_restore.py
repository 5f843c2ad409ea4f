"""BackupAndRestore: a job killed with SIGKILL and restarted ends bit-identical
to the job never stopped; checkpoints of other runs, or damaged ones, are refused.

The kill tests run ``tests/scripts/resume_run.py``: a job of six stages (an
MLP with Dropout and a CNN with BatchNormalization and Dropout, each trained
with plain ``fit(x, y, shuffle=True)`` + SeedCallback, with
``seeded_dataset``, and as a K=4 SeededModel). The job stops itself at the
asked point and waits; the test kills it with SIGKILL and starts it again,
until it finishes. The reference is the same job run without
BackupAndRestore.
"""

import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

from keras_seeds.records import checkpoint as checkpoints

from conftest import SCRIPTS

# The kill tests share the reference run: one worker runs them all.
reference_group = pytest.mark.xdist_group("backup_reference")

CONFIGS = [f"{model}-{feed}" for model in ("mlp", "cnn")
           for feed in ("fit", "dataset", "replicas")]


def _start(work, configs, *options):
    return subprocess.Popen(
        [sys.executable, str(SCRIPTS / "resume_run.py"), str(work), ",".join(configs),
         *options], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def _run(work, configs, *options) -> str:
    """Runs the job once: ``"PAUSED ..."`` if it stopped (then it is SIGKILLed),
    ``"DONE"`` if it finished."""
    process = _start(work, configs, *options)
    line = process.stdout.readline().strip()
    if line.startswith("PAUSED"):
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL
        return line
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0 and line == "DONE", stderr[-4000:]
    return line


def _results(work, configs) -> dict:
    return {config: json.loads((work / f"{config}.json").read_text()) for config in configs}


def _newest_position(work, config) -> tuple[int, int]:
    meta = checkpoints.read_checkpoint(
        checkpoints.checkpoints_in(work / f"{config}-backup")[0]).meta
    return meta["epoch"], meta["batch"]


# Session scope: xdist may run other modules' tests between these on the worker,
# which would make a module-scoped fixture run again.
@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    work = tmp_path_factory.mktemp("reference")
    assert _run(work, CONFIGS, "--reference") == "DONE"
    return _results(work, CONFIGS)


def _assert_same_run(resumed: dict, reference: dict, resumes: int,
                     configs=tuple(CONFIGS)) -> None:
    for config in configs:
        assert resumed[config]["weights_sha256"] == reference[config]["weights_sha256"], config
        assert resumed[config]["history"] == reference[config]["history"], config
        assert resumed[config]["epochs"] == [0, 1, 2]
        assert resumed[config]["resumed"]["count"] == resumes, config


def _kill_each_stage_once(work, save_freq: str, where: str, configs=tuple(CONFIGS)) -> list:
    pauses = [option for config in configs for option in ("--pause", f"{config}:{where}")]
    positions = []
    for config in configs:
        assert _run(work, configs, "--save-freq", save_freq, *pauses) == f"PAUSED {where}"
        positions.append(_newest_position(work, config))
    assert _run(work, configs, "--save-freq", save_freq, *pauses) == "DONE"
    return positions


@reference_group
def test_killed_inside_an_epoch_the_job_ends_bit_identical(tmp_path, reference):
    # Killed after batch 6 of epoch 1; the newest checkpoint is from after
    # batch 5 (every 4 batches: 4, 8, then 2 and 6 of epoch 1): the resumed job
    # skips 6 batches of epoch 1 and trains the 7th again.
    positions = _kill_each_stage_once(tmp_path, "4", "batch:1:6")
    assert positions == [(1, 6)] * len(CONFIGS)
    _assert_same_run(_results(tmp_path, CONFIGS), reference, resumes=1)
    assert not (tmp_path / "mlp-fit-backup").exists()  # delete_checkpoint=True


@reference_group
def test_killed_between_epochs_the_job_ends_bit_identical(tmp_path, reference):
    # One stage per feed (the inside-an-epoch test above kills all six): the
    # epoch checkpoint is written apart from how the data comes in.
    configs = ("mlp-fit", "cnn-dataset", "cnn-replicas")
    positions = _kill_each_stage_once(tmp_path, "epoch", "epoch:2", configs)
    assert positions == [(2, 0)] * len(configs)
    _assert_same_run(_results(tmp_path, configs), reference, resumes=1, configs=configs)


@reference_group
@pytest.mark.parametrize("config", ["mlp-replicas"])
def test_killed_again_while_writing_the_first_checkpoint_after_resuming(
        tmp_path, reference, config):
    save = ("--save-freq", "4")
    assert _run(tmp_path, [config], *save, "--pause", f"{config}:batch:1:6") == \
        "PAUSED batch:1:6"
    assert _run(tmp_path, [config], *save, "--pause-resumed", f"{config}:save") == \
        "PAUSED save"
    backup = tmp_path / f"{config}-backup"
    # Killed after the temporary file was written, before it was renamed in.
    assert [p.name for p in backup.glob(".checkpoint-00000005.npz.*.tmp")]
    assert _newest_position(tmp_path, config) == (1, 6)
    assert _run(tmp_path, [config], *save) == "DONE"
    result = _results(tmp_path, [config])[config]
    assert result["weights_sha256"] == reference[config]["weights_sha256"]
    assert result["history"] == reference[config]["history"]
    assert result["resumed"]["count"] == 2
    assert [(r["epoch"], r["batch"]) for r in result["resumed"]["from"]] == [(1, 6), (1, 6)]


# ----------------------------------------------------------- in one process
def _digits(n=96):
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data[:n] / 16.0).astype("float32"), digits.target[:n].astype("int32")


def _fit(backup, *, seed=3, hidden=16, epochs=2, data=None, delete=False, extra=(),
         double=False):
    import keras

    import keras_seeds as ks

    x, y = data if data is not None else _digits()
    callback = ks.SeedCallback(seed, manifest=None, verbose=0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hidden, activation="relu"),
                              keras.layers.Dropout(0.2), keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    backup_callback = ks.BackupAndRestore(backup, delete_checkpoint=delete,
                                          double_checkpoint=double)
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0,
                        callbacks=[callback, backup_callback, *extra])
    return model, history, backup_callback


def _truncate_newest(directory):
    newest = checkpoints.checkpoints_in(directory)[0]
    with open(newest, "r+b") as handle:
        handle.truncate(newest.stat().st_size - 100)


def test_double_checkpoint_falls_back_to_the_older_one_when_the_newest_is_damaged(tmp_path):
    # As in Keras: double_checkpoint=True keeps the two newest states.
    _fit(tmp_path, epochs=3, double=True)  # kept: the start of epoch 2 (serial 2) and the end (3)
    assert [p.name for p in checkpoints.checkpoints_in(tmp_path)] == [
        "checkpoint-00000003.npz", "checkpoint-00000002.npz"]
    _truncate_newest(tmp_path)
    with pytest.warns(UserWarning, match="checkpoint refused: .*truncated or corrupt"):
        _, history, callback = _fit(tmp_path, epochs=4, delete=True, double=True)
    assert callback.resumed_from.path.name == "checkpoint-00000002.npz"
    assert callback.resumed_from.meta["epoch"] == 2
    assert history.epoch == [0, 1, 2, 3]
    # ... and that resumed run is the run never stopped, bit for bit.
    _, uninterrupted, _ = _fit(tmp_path / "uninterrupted", epochs=4)
    assert history.history == uninterrupted.history


def test_without_double_checkpoint_one_is_kept_and_a_damaged_one_is_refused(tmp_path):
    _fit(tmp_path, epochs=3)
    assert [p.name for p in checkpoints.checkpoints_in(tmp_path)] == ["checkpoint-00000003.npz"]
    _truncate_newest(tmp_path)
    with pytest.warns(UserWarning, match="checkpoint refused: .*truncated or corrupt"), \
            pytest.raises(ValueError, match=r"no usable checkpoint in backup_dir=.*\(1 refused"):
        _fit(tmp_path, epochs=4)


@pytest.mark.parametrize("change, message", [
    ({"seed": 4}, "seed: the checkpoint has master seed 3, this run master seed 4"),
    ({"hidden": 8}, "architecture: the checkpoint has 5 model and 10 optimizer variables "
                    "(shapes (64, 16), (16,), (2,), (16, 10), ...), this run 5 model and "
                    "10 optimizer variables (shapes (64, 8), (8,), (2,), (8, 10), ...)"),
    ({"data": _digits(64)}, "data: the checkpoint has training data with fingerprint "),
])
def test_a_checkpoint_of_another_run_is_refused(tmp_path, change, message):
    _fit(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.warns(UserWarning) as caught, pytest.raises(
            ValueError, match="no usable checkpoint in backup_dir=.*1 refused"):
        _fit(tmp_path, epochs=3, **change)
    refusals = [str(w.message) for w in caught if "refused" in str(w.message)]
    assert len(refusals) == 1 and message in refusals[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # left as it is


def test_a_checkpoint_of_another_keras_seeds_version_is_refused(tmp_path, monkeypatch):
    import keras_seeds

    _fit(tmp_path)
    monkeypatch.setattr(keras_seeds, "__version__", "9.9.9")
    with pytest.warns(UserWarning, match="keras_seeds_version: the checkpoint has keras-seeds "
                                         r"0\.1\.0, this run keras-seeds 9\.9\.9"), \
            pytest.raises(ValueError, match="no usable checkpoint"):
        _fit(tmp_path, epochs=3)


def test_early_stopping_counters_continue_after_a_resume(tmp_path):
    import keras

    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=50, min_delta=10.0)
    _fit(tmp_path, epochs=2, extra=[stop])
    assert stop.wait == 1  # the first epoch sets best; the second does not improve by 10
    resumed = keras.callbacks.EarlyStopping(monitor="loss", patience=50, min_delta=10.0)
    _fit(tmp_path, epochs=3, extra=[resumed])
    assert resumed.wait == 2 and resumed.best == stop.best


def test_a_callback_that_declares_restorable_state_continues_after_a_resume(tmp_path):
    # A third party's callback says what it needs back (restorable_state);
    # BackupAndRestore knows nothing of its class.
    import keras

    class Improvements(keras.callbacks.Callback):
        restorable_state = ("best", "seen")

        def on_train_begin(self, logs=None):
            self.best, self.seen = float("inf"), []

        def on_epoch_end(self, epoch, logs=None):
            self.seen = [*self.seen, epoch]
            self.best = min(self.best, logs["loss"])

    first = Improvements()
    _, history, _ = _fit(tmp_path, epochs=2, extra=[first])
    resumed = Improvements()
    _fit(tmp_path, epochs=3, extra=[resumed])
    assert resumed.seen == [0, 1, 2]  # not [2]: the first two epochs came back
    assert first.best == min(history.history["loss"])
    assert resumed.best <= first.best


def _crash_at_the_end_of(crash_epoch):
    import keras

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == crash_epoch:
                raise RuntimeError("crashed in on_epoch_end")

    return Crash()


def _epochs_trained():
    import keras

    class EpochsTrained(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append(epoch)

    return EpochsTrained()


def test_a_crash_in_a_later_callbacks_on_epoch_end_does_not_cost_the_epoch(tmp_path):
    import keras

    # Keras' own callback saves in on_epoch_end: the restarted fit trains epoch 2 only.
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras_backup = keras.callbacks.BackupAndRestore(str(tmp_path / "keras"))
    with pytest.raises(RuntimeError, match="crashed in on_epoch_end"):
        model.fit(*_digits(), epochs=3, verbose=0,
                  callbacks=[keras_backup, _crash_at_the_end_of(1)])
    trained = _epochs_trained()
    model.fit(*_digits(), epochs=3, verbose=0, callbacks=[keras_backup, trained])
    assert trained.epochs == [2]

    # keras-seeds' does the same, and the run ends as the one never stopped.
    with pytest.raises(RuntimeError, match="crashed in on_epoch_end"):
        _fit(tmp_path / "ours", epochs=3, extra=[_crash_at_the_end_of(1)])
    trained = _epochs_trained()
    resumed, history, _ = _fit(tmp_path / "ours", epochs=3, extra=[trained])
    assert trained.epochs == [2]
    uninterrupted, expected, _ = _fit(tmp_path / "uninterrupted", epochs=3)
    assert [w.tobytes() for w in resumed.get_weights()] == [
        w.tobytes() for w in uninterrupted.get_weights()]
    assert history.epoch == [0, 1, 2] and history.history == expected.history


def test_what_callbacks_after_it_do_at_an_epochs_end_is_in_the_checkpoint(tmp_path):
    # ReduceLROnPlateau, listed after BackupAndRestore, lowers the learning rate
    # and adds it to the logs after the checkpoint of on_epoch_end was written:
    # it is written again once every callback is done, replacing that one.
    import keras

    from keras_seeds.run.backup_and_restore import decode

    def plateau():
        return keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0,
                                                 min_delta=100.0, verbose=0)

    model, history, _ = _fit(tmp_path, epochs=2, extra=[plateau()])
    [newest] = checkpoints.checkpoints_in(tmp_path)
    saved = checkpoints.read_checkpoint(newest)
    # each epoch's was written again (the learning rate joins the logs after it)
    assert newest.name == "checkpoint-00000004.npz"
    assert history.history["learning_rate"] == [0.0010000000474974513] * 2  # logged before
    assert float(model.optimizer.learning_rate) == np.float32(0.0005)  # epoch 1 lowered it
    assert decode(saved.meta["history"], saved.arrays)["history"] == history.history
    paths = [entry[0] for entry in saved.meta["variables"]["optimizer"]]
    rate = paths.index(model.optimizer.learning_rate.path)
    assert saved.arrays[f"optimizer_{rate}"] == np.float32(0.0005)
    resumed, history, _ = _fit(tmp_path, epochs=3, extra=[plateau()])
    uninterrupted, expected, _ = _fit(tmp_path / "uninterrupted", epochs=3, extra=[plateau()])
    assert float(resumed.optimizer.learning_rate) == np.float32(0.00025)
    assert [w.tobytes() for w in resumed.get_weights()] == [
        w.tobytes() for w in uninterrupted.get_weights()]
    assert history.history == expected.history


def test_arguments_are_checked():
    import keras

    import keras_seeds as ks

    with pytest.raises(ValueError, match=r"^`save_freq` must be 'epoch' or an int >= 1 \(save "
                                         r"every N batches\); received save_freq=0\.$"):
        ks.BackupAndRestore("backup", save_freq=0)
    with pytest.raises(ValueError, match=r"^`save_freq` must be .*received save_freq='batch'"):
        ks.BackupAndRestore("backup", save_freq="batch")
    # The error types are Keras' own, so code that catches Keras' error catches ours.
    for bad, error in (("", ValueError), (None, ValueError), (123, TypeError)):
        with pytest.raises(error):
            keras.callbacks.BackupAndRestore(bad)
        with pytest.raises(error, match=rf"^`backup_dir` must be a non-empty path \(str or "
                                        rf"os\.PathLike\); received backup_dir={bad!r}"):
            ks.BackupAndRestore(bad)


def test_keras_stays_as_it_was_after_a_resumed_fit(tmp_path):
    model, _, _ = _fit(tmp_path, epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model.fit(*_digits(), epochs=1, verbose=0)  # a later plain fit
    assert history.epoch == [0]  # not started at the resumed epoch
    assert np.isfinite(history.history["loss"][0])


def _assert_resumed_run_is_uninterrupted(fit, backup):
    """``fit(3)`` against ``fit(2, backup)`` (the job stops after epoch 1, its
    last checkpoint kept) then ``fit(3, backup)``: the same weights and History."""
    uninterrupted, expected = fit(3)
    fit(2, backup)
    resumed, history = fit(3, backup)
    assert [w.tobytes() for w in resumed.get_weights()] == [
        w.tobytes() for w in uninterrupted.get_weights()]
    assert history.history == expected.history
    return resumed


def test_a_seeded_model_resumes_with_its_frozen_and_diverged_replicas(tmp_path):
    import keras

    import keras_seeds as ks

    class StopReplicas(keras.callbacks.Callback):
        """After epoch 0, replica 1 is stopped and replica 2 counted as diverged."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.model.freeze_replica(1)
                self.model.diverged_replicas.append(2)

    def fit(epochs, backup=None):
        model = ks.SeededModel(lambda: keras.Sequential([
            keras.Input((64,)), keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.3), keras.layers.Dense(10)]), seeds=[1, 2, 3])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        callbacks = [StopReplicas()]
        if backup is not None:
            callbacks.append(ks.BackupAndRestore(backup, delete_checkpoint=epochs == 3))
        history = model.fit(*_digits(), batch_size=32, epochs=epochs, verbose=0,
                            callbacks=callbacks)
        return model, history

    # StopReplicas does not run again after the resume: epoch 0 is done.
    resumed = _assert_resumed_run_is_uninterrupted(fit, tmp_path)
    assert resumed.diverged_replicas == [2]


def test_a_seeded_models_checkpoint_is_refused_by_a_run_fused_otherwise(tmp_path):
    import keras

    import keras_seeds as ks

    def fit(strategy, epochs):
        model = ks.SeededModel(lambda: keras.Sequential([
            keras.Input((64,)), keras.layers.Dense(8), keras.layers.Dense(10)]), seeds=[1, 2])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      strategy=strategy)
        model.fit(*_digits(), batch_size=32, epochs=epochs, verbose=0,
                  callbacks=[ks.BackupAndRestore(tmp_path, delete_checkpoint=False)])

    fit("vectorized", 1)
    # Unrolled replicas sum in another order: not the run the checkpoint holds.
    with pytest.warns(UserWarning, match="fusing: the checkpoint has the replicas fused "
                                         "vectorized, this run the replicas fused unrolled"), \
            pytest.raises(ValueError, match="no usable checkpoint"):
        fit("unrolled", 2)


def test_a_model_keras_builds_only_when_training_starts_resumes_too(tmp_path):
    import keras

    import keras_seeds as ks

    def fit(epochs, backup=None):
        callbacks = [ks.SeedCallback(5, manifest=None, verbose=0)]
        model = keras.Sequential([keras.layers.Dense(8, activation="relu"),  # no keras.Input
                                  keras.layers.Dropout(0.3), keras.layers.Dense(10)])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        if backup is not None:
            callbacks.append(ks.BackupAndRestore(backup, delete_checkpoint=epochs == 3))
        history = model.fit(*_digits(), batch_size=32, epochs=epochs, verbose=0,
                            callbacks=callbacks)
        return model, history

    _assert_resumed_run_is_uninterrupted(fit, tmp_path)


def test_a_custom_train_step_with_augmentation_resumes_mid_epoch(tmp_path):
    """keras-io style: a subclassed model with its own train_step and loss
    tracker, RandomFlip and GaussianNoise inside; the fit crashes (an exception,
    as in a notebook) inside epoch 1 and is run again."""
    import keras
    import tensorflow as tf

    import keras_seeds as ks

    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.augment = keras.Sequential([keras.layers.Reshape((8, 8, 1)),
                                             keras.layers.RandomFlip("horizontal"),
                                             keras.layers.GaussianNoise(0.1)])
            self.body = keras.Sequential([keras.layers.Conv2D(4, 3, activation="relu"),
                                          keras.layers.Flatten(), keras.layers.Dense(10)])
            self.loss_tracker = keras.metrics.Mean(name="loss")

        def call(self, x, training=False):
            return self.body(self.augment(x, training=training))

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
                    y, self(x, training=True), from_logits=True))
            gradients = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply(gradients, self.trainable_variables)
            self.loss_tracker.update_state(loss)
            return {"loss": self.loss_tracker.result()}

        @property
        def metrics(self):
            return [self.loss_tracker]

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.history.epoch == [0] and batch == 1:
                raise RuntimeError("the runtime went away")

    def fit(backup=None, crash=False):
        callbacks = [ks.SeedCallback(9, manifest=None, verbose=0)]
        model = Classifier()
        model.compile(optimizer="adam")
        if backup is not None:
            callbacks.append(ks.BackupAndRestore(backup, save_freq=2))
        history = model.fit(*_digits(), batch_size=32, epochs=2, verbose=0,
                            callbacks=callbacks + ([Crash()] if crash else []))
        return model, history

    uninterrupted, expected = fit()
    with pytest.raises(RuntimeError, match="the runtime went away"):
        fit(tmp_path, crash=True)  # 3 batches an epoch: saved after epoch 1's first batch
    assert checkpoints.read_checkpoint(
        checkpoints.checkpoints_in(tmp_path)[0]).meta["batch"] == 1
    resumed, history = fit(tmp_path)
    assert [w.tobytes() for w in resumed.get_weights()] == [
        w.tobytes() for w in uninterrupted.get_weights()]
    assert history.history == expected.history
