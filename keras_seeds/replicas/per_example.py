"""Each replica's result on every single example: per-example correctness for an
accuracy-type score, else the per-example compiled loss.

These feed the test-set noise analysis (:meth:`keras_seeds.SeedStudy.noise`)
and the seed store. They are computed from the replicas' predictions with
Keras' public per-example metric and loss functions, and a correctness is
kept only when its mean equals the score Keras computed (no sample weights,
no masking), so that the analysis is of the score the study reports.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from keras_seeds.replicas.metrics import metric_objects
from keras_seeds.statistics.metric_names import base_name
from keras_seeds.statistics.noise import rows_match_scores

_LOG = logging.getLogger("keras_seeds")

# Keras' accuracy metric classes and the public per-example function of each,
# with the configuration keys the function takes.
_ACCURACIES = {
    "SparseCategoricalAccuracy": ("sparse_categorical_accuracy", ()),
    "CategoricalAccuracy": ("categorical_accuracy", ()),
    "BinaryAccuracy": ("binary_accuracy", ("threshold",)),
    "SparseTopKCategoricalAccuracy": ("sparse_top_k_categorical_accuracy", ("k",)),
    "TopKCategoricalAccuracy": ("top_k_categorical_accuracy", ("k",)),
}


def correctness_function(model, metric: str):
    """The per-example function of the compiled accuracy named ``metric``
    (``"accuracy"``, ``"val_accuracy"``, ...), or ``None`` when it is not one
    of Keras' accuracies.

    Example:

    >>> import numpy as np
    >>> import keras_seeds as ks
    >>> from keras_seeds.demo import digits_mlp
    >>> model = ks.SeededModel(digits_mlp, seeds=[1, 2])
    >>> model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> _ = model.evaluate(np.zeros((4, 64)), np.zeros(4), verbose=0)
    >>> correctness_function(model, "val_accuracy").__name__, correctness_function(model, "loss")
    ('sparse_categorical_accuracy', None)
    """
    wanted = base_name(metric)
    for found in metric_objects(model.architecture):
        if found.name != wanted or type(found).__name__ not in _ACCURACIES:
            continue
        name, keys = _ACCURACIES[type(found).__name__]
        function = getattr(keras.metrics, name)
        config = found.get_config()
        options = {key: config[key] for key in keys if key in config}
        if not options:
            return function

        def with_options(y_true, y_pred):
            return function(y_true, y_pred, **options)

        with_options.__name__ = name
        return with_options
    return None


def _per_replica(function, y, outputs: np.ndarray) -> np.ndarray | None:
    """``function(y, outputs[k])`` for every replica, as ``(K, examples)``; ``None``
    when a result is not one value per example."""
    rows = []
    for output in outputs:
        values = keras.ops.convert_to_numpy(function(y, output))
        if values.size != len(output):
            return None  # sequence outputs: one value per step, not per example
        rows.append(values.reshape(len(output)))
    return np.stack(rows)


def _loss_function(model):
    loss = model.compile_arguments(fresh=True).get("loss")
    if isinstance(loss, keras.losses.Loss):
        return type(loss).from_config({**loss.get_config(), "reduction": None})
    if isinstance(loss, str) or callable(loss):
        return keras.losses.get(loss)
    return None  # several losses (a dict or list): several outputs


def correctness(model, y, outputs, metric: str) -> np.ndarray | None:
    """Each replica's 0/1 correctness on each example, ``(K, examples)`` bool, when
    ``metric`` is one of Keras' accuracies; else ``None``.

    Example: see :func:`per_example`.
    """
    function = correctness_function(model, metric)
    values = None if function is None else _per_replica(function, y, outputs)
    return None if values is None or not np.isin(values, (0, 1)).all() else values.astype(bool)


def losses(model, y, outputs) -> np.ndarray | None:
    """Each replica's compiled loss on each example, ``(K, examples)`` float32, or
    ``None`` for several losses or outputs that are not one value per example.

    Example: see :func:`per_example`.
    """
    loss = _loss_function(model)
    values = None if loss is None else _per_replica(loss, y, outputs)
    return None if values is None else values.astype(np.float32)


def per_example(model, y, outputs, metric: str, scores) -> tuple[str, np.ndarray] | None:
    """``("correct", bool (K, examples))`` when ``metric`` is an accuracy and the
    rows' means are ``scores`` (the replicas' values of ``metric``), else
    ``("loss", float32 (K, examples))`` of the compiled loss; ``None`` for
    outputs or targets that are not one array.

    Example:

    >>> import numpy as np
    >>> import keras_seeds as ks
    >>> from keras_seeds.demo import digits_mlp, load_digits_split
    >>> (x, y), (x_val, y_val) = load_digits_split(0)
    >>> model = ks.SeededModel(digits_mlp, seeds=[1, 2])
    >>> model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> _ = model.fit(x, y, epochs=1, verbose=0)
    >>> scores = model.evaluate_replicas(x_val, y_val)["accuracy"]
    >>> kind, correct = per_example(model, y_val, model.predict_replicas(x_val, verbose=0),
    ...                             "accuracy", scores)
    >>> kind, correct.shape, np.allclose(correct.mean(axis=1), scores)
    ('correct', (2, 360), True)
    """
    if not isinstance(outputs, np.ndarray) or not isinstance(y, np.ndarray):
        return None
    correct = correctness(model, y, outputs, metric)
    if correct is not None:
        if rows_match_scores(correct, scores).all():
            return "correct", correct
        _LOG.warning("keras_seeds: the per-example correctness of %r does not average to "
                     "its score (sample weights or masking?); the per-example losses are "
                     "kept instead.", metric)
    values = losses(model, y, outputs)
    return None if values is None else ("loss", values)
