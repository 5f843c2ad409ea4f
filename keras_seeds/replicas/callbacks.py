"""The callbacks ``SeededModel.fit`` adds: per-replica epoch logs, the data
order's epoch, divergence warnings, and a progress bar of the means.

Keras' ``fit`` hands callbacks the step logs, which hold the replica means (K
values per metric per step would slow training by a fifth). Each replica's own
values join the epoch logs here, through public callback hooks only: the
training values are read when validation begins (``on_test_begin``, before
``evaluate`` resets the metric state) or at the end of the epoch, and added to
the logs at ``on_epoch_end``, as Keras' ``ReduceLROnPlateau`` adds
``learning_rate``; the validation values come from ``SeededModel.evaluate``.
This callback runs first, so History, CSVLogger, TensorBoard and the user's
callbacks see every value.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from keras_seeds.replicas.metrics import log_value
from keras_seeds.statistics.metric_names import is_mean_key, replica_key


class ReplicaLogs(keras.callbacks.Callback):
    """Adds ``<name>_replica_<k>`` values to the epoch logs, keeps the data
    feed's pass on fit's epoch number, and warns once per diverged replica."""

    def __init__(self, epoch_variable=None):
        super().__init__()
        self.epoch_variable = epoch_variable
        self._training_values: dict | None = None
        self._in_epoch = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.epoch_variable is not None:
            self.epoch_variable.assign(int(epoch))
        self._training_values, self._in_epoch = None, True

    def on_test_begin(self, logs=None):
        if self._in_epoch and self._training_values is None:
            self._training_values = self.model.replica_metric_results()

    def on_epoch_end(self, epoch, logs=None):
        self._in_epoch = False
        if logs is None:
            return
        values = self._training_values
        if values is None:
            values = self.model.replica_metric_results()
        for name, per_replica in values.items():
            for k, value in enumerate(per_replica):
                logs[replica_key(name, k)] = log_value(value)
        self._warn_diverged(epoch, logs)

    def _warn_diverged(self, epoch, logs) -> None:
        model = self.model
        for k in range(model.replicas):
            value = logs.get(replica_key("loss", k))
            if value is not None and not np.isfinite(value) and k not in model.diverged_replicas:
                model.diverged_replicas.append(k)
                warnings.warn(
                    f"SeededModel: replica {k} (seed {model.replica_seeds[k]}) diverged at epoch "
                    f"{epoch} (loss={value}); the others keep training and the mean logs "
                    "leave it out.", RuntimeWarning, stacklevel=2)


def fused_fit_params(callback: keras.callbacks.Callback, refusal: str) -> dict:
    """What a tracking callback records of the SeededModel fit it is in: the
    optimizer, learning rate and epochs. A model that is not a SeededModel is
    refused with ``refusal`` (what the callback logs and what to use instead)."""
    model = callback.model
    if not hasattr(model, "replica_seeds"):
        raise TypeError(f"{refusal} Received a {type(model).__name__}.")
    optimizer = model.optimizer
    return {"optimizer": type(optimizer).__name__,
            "learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
            "epochs": int(dict(callback.params or {}).get("epochs") or 0)}


def means_only(logs):
    return None if logs is None else {k: v for k, v in logs.items() if is_mean_key(k)}


class MeanProgbarLogger(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, showing the replica means, not K columns per metric."""

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, means_only(logs))

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(batch, means_only(logs))

    def on_predict_batch_end(self, batch, logs=None):
        super().on_predict_batch_end(batch, means_only(logs))

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, means_only(logs))

    def on_test_end(self, logs=None):
        super().on_test_end(means_only(logs))
