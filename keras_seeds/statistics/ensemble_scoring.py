"""How a k-seed ensemble is scored, and which ensembles are drawn.

The rule of the ensemble score a sweep keeps
(``keras_seeds.sweeps.run._score_ensemble``): the members' outputs, as the
model emits them, are averaged example by example, and the metric is applied
to that mean prediction against the labels. Every score here is the mean
over examples of a per-example value of the mean prediction: whether its top
class (or, with one output, whether it is above 0.5) is the label, for an
accuracy; its squared or absolute error, for MSE and MAE; its cross-entropy.
A score given as a function is called the same way, on one ensemble's mean
prediction.

- :func:`ensemble_scores`: the score of each ensemble (rows of seed indices);
- :func:`k_subsets`: every k-subset of the seeds, or random ones;
- :func:`make_scorer`: a score by name (``SCORES``) or a function, with its
  direction; :func:`mean_predictions`: the ensembles' mean predictions, in
  batches; :func:`check_predictions`, :func:`check_labels`: the inputs.

:mod:`keras_seeds.statistics.ensembles` compares setups with them. Imports
neither Keras nor TensorFlow.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from keras_seeds._validation import check_int
from keras_seeds.statistics.metric_names import base_name, is_higher_better

# Keras' probabilities are clipped to [eps, 1 - eps] before a logarithm.
_EPSILON = 1e-7
# Mean predictions are computed in batches of at most this many floats.
_BATCH_FLOATS = 2 ** 22

ScoreFunction = Callable[[np.ndarray, np.ndarray], float]


def _targets(labels: np.ndarray, shape: tuple, score: str) -> np.ndarray:
    """``labels`` shaped as one example's prediction ``shape`` (Keras'
    ``squeeze_or_expand_to_same_rank``), for the element-wise scores."""
    if labels.shape[1:] == shape:
        return labels
    if labels.size == labels.shape[0] * math.prod(shape):
        return labels.reshape((labels.shape[0], *shape))
    raise ValueError(f"`labels`: {score!r} compares each example's label with its prediction "
                     f"of shape {shape}; received labels of shape {labels.shape}.")


def _accuracy_kind(name: str, shape: tuple, labels: np.ndarray) -> str:
    """Which accuracy ``name`` is, as Keras resolves ``"accuracy"``: binary for
    one output, sparse for integer labels, categorical for one-hot labels."""
    if name != "accuracy":
        return name
    if math.prod(shape) == 1:
        return "binary_accuracy"
    if labels.ndim >= 2 and labels.shape[1:] == shape:
        return "categorical_accuracy"
    return "sparse_categorical_accuracy"


def _per_example(name: str, mean: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The per-example values of score ``name`` for mean predictions ``(m,
    examples, ...)``: ``(m, examples)``."""
    shape = mean.shape[2:]
    if mean.dtype != np.float64 and name not in ("accuracy", "binary_accuracy",
                                                  "categorical_accuracy",
                                                  "sparse_categorical_accuracy"):
        mean = mean.astype(np.float64)
    if name in ("accuracy", "binary_accuracy", "categorical_accuracy",
                "sparse_categorical_accuracy"):
        name = _accuracy_kind(name, shape, labels)
    if name == "binary_accuracy":
        target = _targets(labels, shape, name).astype(np.float64)
        values = (mean > 0.5) == target[None]
        return values if not shape else values.reshape(values.shape[:2] + (-1,)).mean(axis=-1)
    if name == "sparse_categorical_accuracy":
        return mean.argmax(axis=-1) == labels.reshape(labels.shape[0])[None]
    if name == "categorical_accuracy":
        return mean.argmax(axis=-1) == labels.argmax(axis=-1)[None]
    if name in ("mse", "mae"):
        error = mean - _targets(labels, shape, name).astype(np.float64)[None]
        error = error ** 2 if name == "mse" else np.abs(error)
        return error.reshape(error.shape[:2] + (-1,)).mean(axis=-1)
    if name in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        probabilities = mean / mean.sum(axis=-1, keepdims=True)
        probabilities = np.clip(probabilities, _EPSILON, 1 - _EPSILON)
        if name == "sparse_categorical_crossentropy":
            index = labels.reshape(labels.shape[0]).astype(np.int64)
            picked = np.take_along_axis(probabilities, index[None, :, None], axis=-1)[..., 0]
            return -np.log(picked)
        return -(labels[None] * np.log(probabilities)).sum(axis=-1)
    if name == "binary_crossentropy":
        target = _targets(labels, shape, name).astype(np.float64)[None]
        p = np.clip(mean, _EPSILON, 1 - _EPSILON)
        values = -(target * np.log(p) + (1 - target) * np.log(1 - p))
        return values.reshape(values.shape[:2] + (-1,)).mean(axis=-1)
    raise AssertionError(name)


SCORE_ALIASES = {"acc": "accuracy", "mean_squared_error": "mse", "mean_absolute_error": "mae"}
SCORES = ("accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
          "mse", "mae", "sparse_categorical_crossentropy", "categorical_crossentropy",
          "binary_crossentropy")


@dataclass(frozen=True)
class Scorer:
    """A score by name (vectorised over ensembles) or a user's function."""

    name: str | None
    function: ScoreFunction | None
    higher_is_better: bool

    def __call__(self, mean: np.ndarray, labels: np.ndarray) -> np.ndarray:
        if self.function is None:
            return _per_example(self.name, mean, labels).mean(axis=1, dtype=np.float64)
        return np.array([float(self.function(one, labels)) for one in mean])


def make_scorer(score, higher_is_better: bool | None) -> Scorer:
    """``score`` (a name in ``SCORES``, with or without ``val_``, or a
    function) and its direction."""
    if callable(score):
        if higher_is_better is None:
            raise ValueError("`higher_is_better` must be True or False when `score` is a "
                             "function; received higher_is_better=None.")
        return Scorer(getattr(score, "__name__", None), score, bool(higher_is_better))
    name = SCORE_ALIASES.get(base_name(score), base_name(score)) if isinstance(score, str) else None
    if name not in SCORES:
        raise ValueError(f"`score` must be one of {', '.join(SCORES)} or a function "
                         f"f(mean_prediction, labels) -> float; received score={score!r}.")
    direction = is_higher_better(name) if higher_is_better is None else bool(higher_is_better)
    return Scorer(name, None, direction)


def check_predictions(values, name: str) -> np.ndarray:
    """``values`` as per-seed predictions ``(seeds, examples, ...)``: numeric
    and finite (a ``ValueError`` naming the argument ``name`` otherwise)."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf" or array.ndim < 2:
        raise ValueError(f"`{name}` must be per-seed predictions shaped (seeds, examples, "
                         f"...); received an array of shape {array.shape} and dtype "
                         f"{array.dtype}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` holds NaN or infinite predictions; drop the seeds that "
                         "diverged.")
    return array


def check_labels(values, examples: int) -> np.ndarray:
    """``values`` as one numeric label per example of ``examples``."""
    labels = np.asarray(values)
    if labels.dtype.kind not in "biuf" or labels.ndim < 1 or labels.shape[0] != examples:
        raise ValueError(f"`labels` must hold one numeric label per example ({examples}); "
                         f"received an array of shape {labels.shape} and dtype "
                         f"{labels.dtype}.")
    return labels


def mean_predictions(predictions: np.ndarray, subsets: np.ndarray) -> Any:
    """Yields the mean prediction of each subset's seeds, in batches ``(b,
    examples, ...)``: summed in float64 and cast to float32, as the sweep's
    ensemble score averages its seeds' outputs."""
    seeds, k = predictions.shape[0], subsets.shape[1]
    flat = predictions.reshape(seeds, -1).astype(np.float64)
    batch = max(1, _BATCH_FLOATS // max(flat.shape[1] * k, 1))
    for start in range(0, len(subsets), batch):
        chosen = subsets[start:start + batch]
        mean = (flat[chosen].sum(axis=1) / k).astype(np.float32)
        yield mean.reshape((len(chosen), *predictions.shape[1:]))


def ensemble_scores(predictions, labels, subsets, score="accuracy") -> np.ndarray:
    """The score of the ensemble of each row of ``subsets`` (seed indices into
    ``predictions``, shaped ``(seeds, examples, ...)``): ``score`` of the mean
    of those seeds' predictions against ``labels``. ``(len(subsets),)``.

    Example:

    >>> predictions = np.array([[[0.9, 0.1], [0.4, 0.6]],    # seed 0
    ...                         [[0.2, 0.8], [0.3, 0.7]]])   # seed 1
    >>> ensemble_scores(predictions, [0, 1], [[0], [1]]).tolist()  # each seed alone
    [1.0, 0.5]
    >>> ensemble_scores(predictions, [0, 1], [[0, 1]]).tolist()  # mean [0.55 0.45], [0.35 0.65]
    [1.0]
    """
    predictions = check_predictions(predictions, "predictions")
    labels = check_labels(labels, predictions.shape[1])
    scorer = make_scorer(score, None if not callable(score) else True)
    subsets = _check_subsets(subsets, predictions.shape[0])
    return np.concatenate([scorer(mean, labels)
                           for mean in mean_predictions(predictions, subsets)])


def _check_subsets(subsets, seeds: int) -> np.ndarray:
    try:
        array = np.array(subsets, dtype=np.int64)
    except (TypeError, ValueError):
        array = None
    if (array is None or array.ndim != 2 or array.size == 0 or array.min() < 0
            or array.max() >= seeds
            or any(len(set(row)) != len(row) for row in array.tolist())):
        raise ValueError(f"`subsets` must be rows of distinct seed indices in [0, {seeds}), "
                         f"all of one length; received subsets={subsets!r}.")
    return array


def k_subsets(seeds: int, k: int, n_ensembles: int = 2000,
              random_state=0) -> tuple[np.ndarray, bool]:
    """``(subsets, exact)``: every ``k``-subset of ``range(seeds)`` when there
    are at most ``n_ensembles`` (``exact`` is True), else ``n_ensembles``
    subsets of ``k`` distinct seeds drawn uniformly and independently with
    ``numpy.random.default_rng(random_state)``.

    Example:

    >>> k_subsets(4, 2)[0].tolist()
    [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    >>> subsets, exact = k_subsets(64, 5, n_ensembles=1000)
    >>> subsets.shape, exact
    ((1000, 5), False)
    """
    seeds = check_int(seeds, "seeds", minimum=1)
    k = check_int(k, "k", minimum=1, maximum=seeds,
                  constraint=f"an int between 1 and the number of seeds ({seeds})")
    n_ensembles = check_int(n_ensembles, "n_ensembles", minimum=1)
    if math.comb(seeds, k) <= n_ensembles:
        return np.array(list(itertools.combinations(range(seeds), k)), dtype=np.int64), True
    keys = np.random.default_rng(random_state).random((n_ensembles, seeds))
    # The k smallest of uniform keys: a uniform k-subset, one per row.
    return np.sort(np.argpartition(keys, k - 1, axis=1)[:, :k], axis=1), False
