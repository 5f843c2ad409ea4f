"""Early stopping per seed replica: each replica stops when its own score does."""

from __future__ import annotations

import warnings

import keras
import numpy as np

from keras_seeds._validation import check_choice
from keras_seeds.replicas.model import SeededModel
from keras_seeds.statistics.metric_names import replica_curves, replica_key


class ReplicaEarlyStopping(keras.callbacks.Callback):
    """Stops each replica of a :class:`~keras_seeds.SeededModel` on its own.

    Keras' ``EarlyStopping`` watches the mean over the replicas (``val_loss``)
    and stops all of them together. This callback watches every replica's own
    value (``val_loss_replica_<i>``): a replica that has not improved for
    ``patience`` epochs is frozen (its weights, statistics and optimizer state
    stop changing) while the others train on; training ends when all have
    stopped. Each replica then is the run "of its seed, with early stopping",
    the same as that seed trained alone with ``EarlyStopping``.

    Args:
        monitor: the metric to watch, as named in the logs (``"val_loss"``).
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before a replica stops.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (the direction the compiled
            metric declares, else the name's: losses and errors are ``"min"``).
        restore_best_weights: at the end, give each replica its weights from
            its best epoch.
        start_from_epoch: epochs to wait before any replica may stop.

    Attributes:
        stopped_epoch: ``{replica: epoch}`` for the replicas that stopped.
        best: each replica's best monitored value.

    Example:

    >>> import numpy as np, keras, keras_seeds as ks
    >>> model = ks.SeededModel(lambda: keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]),
    ...                        seeds=[1, 2])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x = np.random.rand(32, 2)
    >>> stop = ks.ReplicaEarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    >>> _ = model.fit(x, x[:, :1], epochs=5, verbose=0, callbacks=[stop])
    >>> sorted(stop.stopped_epoch.items())
    [(0, 1), (1, 1)]
    """

    # what a checkpoint saves and a resume puts back (keras_seeds.BackupAndRestore)
    restorable_state = ("best", "wait", "best_weights", "stopped_epoch")

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__()
        self.mode = check_choice(mode, "mode", ("auto", "min", "max"))
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)

    def _improved(self, value, best) -> bool:
        if self._higher_is_better:
            return value > best + self.min_delta
        return value < best - self.min_delta

    def on_train_begin(self, logs=None):
        if not isinstance(self.model, SeededModel):
            raise TypeError("ReplicaEarlyStopping works on a keras_seeds.SeededModel; "
                            f"received a {type(self.model).__name__}. Use "
                            "keras.callbacks.EarlyStopping for a single model.")
        self.model.unfreeze_replicas()
        # The package's one direction rule: the compiled metric's, else by name.
        self._higher_is_better = (self.mode == "max" if self.mode != "auto"
                                  else self.model.higher_is_better(self.monitor))
        worst = -np.inf if self._higher_is_better else np.inf
        self.best = [worst] * self.model.replicas
        self.wait = [0] * self.model.replicas
        self.best_weights: dict[int, list] = {}
        self.stopped_epoch: dict[int, int] = {}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        model = self.model
        if replica_key(self.monitor, 0) not in logs:
            known = sorted(replica_curves(logs))
            warnings.warn(f"ReplicaEarlyStopping: no per-replica values for "
                          f"monitor={self.monitor!r} in the logs; known: {known}.", stacklevel=2)
            return
        for k in range(model.replicas):
            if k in self.stopped_epoch:
                continue
            value = float(logs[replica_key(self.monitor, k)])
            if self._improved(value, self.best[k]):
                self.best[k], self.wait[k] = value, 0
                if self.restore_best_weights:
                    self.best_weights[k] = model.get_replica_weights(k)
                continue
            self.wait[k] += 1
            if self.wait[k] >= self.patience and epoch >= self.start_from_epoch:
                self.stopped_epoch[k] = epoch
                model.freeze_replica(k)
        if len(self.stopped_epoch) == model.replicas:
            model.stop_training = True

    def on_train_end(self, logs=None):
        for k, weights in self.best_weights.items():
            self.model.set_replica_weights(k, weights)
        self.model.unfreeze_replicas()
