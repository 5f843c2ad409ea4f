"""What a checkpoint saves besides Keras' own variables, declared by the
objects that hold it, so that :class:`~keras_seeds.BackupAndRestore` works
with any of them without knowing their classes:

- a model whose training engine keeps state of its own implements
  :class:`RestorableEngine` (``SeededModel`` does: each replica's metric
  sums, batch order, diverged and frozen replicas);
- a callback whose next decision depends on what it saw declares
  ``restorable_state``, the names of those attributes
  (``ReplicaEarlyStopping`` does); Keras' stock callbacks have theirs listed
  in :mod:`keras_seeds._internal.keras`, pinned to the versions CI runs.

Example, a third party's callback that counts epochs across a resume:

>>> import keras
>>> class EpochCounter(keras.callbacks.Callback):
...     restorable_state = ("seen",)
...     def on_train_begin(self, logs=None):
...         self.seen = getattr(self, "seen", 0)
...     def on_epoch_end(self, epoch, logs=None):
...         self.seen += 1
>>> restorable_attributes(EpochCounter())
('seen',)
>>> restorable_attributes(keras.callbacks.EarlyStopping())
('wait', 'stopped_epoch', 'best', 'best_weights', 'best_epoch')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np


@dataclass
class EngineState:
    """A training engine's own state: its variables by name, and the replicas
    that diverged or are frozen."""

    variables: dict  # name -> backend variable
    diverged: list[int]
    frozen: list[int]


@runtime_checkable
class RestorableEngine(Protocol):
    """A model that holds training state outside Keras' model, optimizer and
    metric variables, and says what a checkpoint of its run must match."""

    def checkpoint_identity(self) -> dict[str, tuple[Any, str]]:
        """``{name: (value, described)}`` a checkpoint must match to resume
        this run; ``"seed"`` (a dict) is joined with the run's seed."""

    def engine_state(self) -> EngineState:
        """The state to save."""

    def restore_engine_state(self, values: Mapping[str, np.ndarray], diverged: Sequence[int],
                             frozen: Sequence[int]) -> None:
        """Puts back what :meth:`engine_state` gave (values by name)."""


def restorable_attributes(callback) -> tuple[str, ...] | None:
    """The attributes of ``callback`` a checkpoint saves and a resume puts
    back: its own ``restorable_state``, else those of the Keras callback it
    is, else ``None`` (nothing to save)."""
    declared = getattr(type(callback), "restorable_state", None)
    if declared is not None:
        return tuple(declared)
    from keras_seeds._internal import keras as private

    for kind, attributes in private.STOCK_CALLBACK_STATE:
        if isinstance(callback, kind):
            return tuple(attributes)
    return None
