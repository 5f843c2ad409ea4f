"""Each replica's loss and metrics: the member's metric state, stacked.

The compiled member owns the metric objects (its loss tracker, compiled
metrics, and any metric its own ``compute_loss`` updates, as listed by its
``metrics`` property). Replica k's state is slice k of variables stacked like
the weights; an update or a result runs in a ``keras.StatelessScope`` that maps
the member's metric variables to one replica's slice.

Means over the replicas leave out those whose loss is not finite (diverged).
"""

from __future__ import annotations

import keras
import numpy as np

from keras_seeds._internal import keras as private
from keras_seeds.replicas.fusing import backend, replica_map
from keras_seeds.statistics.metric_names import base_name, is_higher_better


class ReplicaMetrics:
    """The stacked metric state of ``replicas`` copies of ``member``'s metrics."""

    def __init__(self, member: keras.Model, replicas: int):
        self.member = member
        self.replicas = replicas
        self.variables: list | None = None
        self._initial: list[np.ndarray] = []
        self._results_fn = None

    @property
    def built(self) -> bool:
        return self.variables is not None

    def build(self, data_batch) -> None:
        """Creates the member's compiled metrics for data like ``data_batch``
        ``(x, y, sample_weight)`` and stacks their state, once."""
        if self.built:
            return
        private.symbolic_build(self.member, data_batch)
        self.member.reset_metrics()
        self._initial = [np.array(v.numpy()) for v in self.member.metrics_variables]
        self.variables = [keras.Variable(np.stack([value] * self.replicas), trainable=False,
                                         name=f"replica_metric_{i}")
                          for i, value in enumerate(self._initial)]

    def reset(self) -> None:
        for variable, value in zip(self.variables or [], self._initial):
            variable.assign(np.stack([value] * self.replicas))

    def tensors(self) -> list:
        return [keras.ops.convert_to_tensor(v) for v in self.variables]

    def store(self, values) -> None:
        for variable, value in zip(self.variables, values):
            variable.assign(value)

    # ------------------------------------------------------- one replica
    def update(self, values, loss, x, y, y_pred, sample_weight):
        """One replica's metric state after a batch: ``(new values, logs)``.
        Runs inside the vectorized step, on that replica's slice ``values``."""
        member = self.member
        with keras.StatelessScope(state_mapping=list(zip(member.metrics_variables,
                                                         values))) as scope:
            tracker = private.loss_tracker(member)
            if tracker is not None:
                batch = keras.ops.shape(keras.tree.flatten(x)[0])[0]
                tracker.update_state(loss, sample_weight=batch)
            logs = member.compute_metrics(x, y, y_pred, sample_weight)
        return [scope.get_current_value(v) for v in member.metrics_variables], logs

    def _results_of(self, values) -> dict:
        with keras.StatelessScope(state_mapping=list(zip(self.member.metrics_variables,
                                                         values))):
            return self.member.get_metrics_result()

    # ------------------------------------------------------- all replicas
    def results(self, values=None) -> dict[str, np.ndarray]:
        """Each replica's results: ``{name: (K,) array}``, of the current state or
        of the given metric ``values`` (as :meth:`tensors` gives them)."""
        if not self.built:
            return {}
        if self._results_fn is None:
            self._results_fn = compiled(lambda values: replica_map(self._results_of, values))
        values = self.tensors() if values is None else values
        results = self._results_fn(values)
        return {name: keras.ops.convert_to_numpy(results[name])
                for name in in_keras_order(self.member, results)}

    def names(self) -> list[str]:
        """The result names in the order Keras' ``evaluate`` lists them
        (:func:`in_keras_order`: ``loss`` first when compiled)."""
        if not self.built:
            return []
        return in_keras_order(self.member, self._results_of(
            [keras.ops.convert_to_tensor(v) for v in self._initial]))

    def higher_is_better(self, name: str) -> bool:
        """The one direction rule: a metric object's own direction when Keras
        declares one, else :func:`~keras_seeds.statistics.metric_names.is_higher_better`."""
        wanted = base_name(name)
        for metric in metric_objects(self.member):
            direction = private.metric_direction(metric)
            if metric.name == wanted and direction is not None:
                return direction == "up"
        return is_higher_better(name)


def metric_objects(model) -> list:
    """``model.metrics`` with containers (compiled metrics) opened up."""
    found = []
    for metric in model.metrics:
        inner = getattr(metric, "metrics", None)
        found.extend(inner if isinstance(inner, (list, tuple)) else [metric])
    return found


def log_value(value):
    """A metric result as Keras logs it: a Python float for a scalar, a NumPy
    array for a metric with a value per class (``F1Score(average=None)``).

    Example:

    >>> log_value(np.float32(0.5)), log_value(np.array([0.5, 1.0]))
    (0.5, array([0.5, 1. ]))
    """
    array = np.asarray(keras.ops.convert_to_numpy(value))
    return float(array) if array.ndim == 0 else array


def in_keras_order(model, names) -> list[str]:
    """``names`` (a model's metric results) in the order ``model.evaluate``
    lists them when ``return_dict=False``: the order of ``model.metrics`` with
    the compiled metrics opened up (the loss first), then the other results
    (per-output losses and metrics) sorted, as Keras' trainer does. Never the
    order of a results dict, which differs between Keras versions (3.13 sorts
    ``get_metrics_result()``, which put ``accuracy`` before ``loss``).

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, "softmax")])
    >>> model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> in_keras_order(model, {"accuracy": 0.5, "loss": 0.7})
    ['loss', 'accuracy']
    """
    names = list(names)
    ordered = [metric.name for metric in metric_objects(model) if metric.name in names]
    ordered = list(dict.fromkeys(ordered))
    return ordered + sorted(name for name in names if name not in ordered)


def check_scalar(metric: str, shape: tuple) -> None:
    """Refuses a score with a value per class (``F1Score(average=None)``) as a
    study's or a sweep's score: a study needs one number per seed.

    Example:

    >>> check_scalar("f1_score", (10,))
    Traceback (most recent call last):
    ...
    ValueError: `metric`: 'f1_score' has 10 values per seed (shape (10,)); a study needs ...
    """
    if tuple(shape):
        raise ValueError(f"`metric`: {metric!r} has {int(np.prod(shape))} values per seed "
                         f"(shape {tuple(shape)}); a study needs one score per seed. Name a "
                         "scalar metric, or compile this one averaged (for example "
                         "keras.metrics.F1Score(average='macro')).")


def means(per_replica: dict, training: bool, losses=None) -> dict:
    """Means over the replicas whose loss is finite, and during training the
    number that diverged (``diverged``). ``per_replica``: ``{name: (K,) tensor}``;
    the loss is its ``loss`` entry, else ``losses`` (the step's, per replica)."""
    ops = keras.ops
    source = per_replica.get("loss", losses)
    finite = None if source is None else ops.isfinite(ops.cast(source, "float32"))
    count = None if finite is None else ops.sum(ops.cast(finite, "float32"))
    logs = {}
    for name, values in per_replica.items():
        values = ops.cast(values, "float32")
        if finite is None:
            logs[name] = ops.mean(values, axis=0)
            continue
        mask = ops.reshape(finite, (-1,) + (1,) * (len(values.shape) - 1))
        total = ops.sum(ops.where(mask, values, 0.0), axis=0)
        logs[name] = ops.where(count > 0, total / ops.maximum(count, 1.0), float("nan"))
    if training and finite is not None:
        logs["diverged"] = float(finite.shape[0]) - count
    return logs


def compiled(fn):
    """``fn`` compiled for the backend: a ``jax.jit`` or a ``tf.function``."""
    if backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, autograph=False)
