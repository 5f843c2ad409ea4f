"""What a logged metric name says: its direction, its per-replica and held-out
forms, the quantity a curve measures. The one place such names are parsed.

Imports neither Keras nor TensorFlow. Where the replica engine has the compiled
metric objects it asks them first (``replicas.metrics.metric_direction``);
this module is the rule for names alone, and agrees with Keras' own
``_direction`` for every built-in metric (a test checks it).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

# Keras' built-in metrics and their compile() aliases, by name: "up" when
# larger is better. From each class's `_direction` (Keras 3.15); Keras gives
# the confusion counts no direction, so they are set here by meaning.
_DIRECTIONS = {
    **dict.fromkeys((
        "accuracy", "acc", "binary_accuracy", "categorical_accuracy",
        "sparse_categorical_accuracy", "top_k_categorical_accuracy",
        "sparse_top_k_categorical_accuracy", "auc", "precision", "recall", "f1_score",
        "fbeta_score", "io_u", "binary_io_u", "mean_io_u", "one_hot_io_u",
        "one_hot_mean_io_u", "r2_score", "cosine_similarity", "pearson_correlation",
        "concordance_correlation", "precision_at_recall", "recall_at_precision",
        "sensitivity_at_specificity", "specificity_at_sensitivity", "true_positives",
        "true_negatives"), "up"),
    **dict.fromkeys((
        "loss", "binary_crossentropy", "categorical_crossentropy",
        "sparse_categorical_crossentropy", "categorical_hinge", "hinge", "squared_hinge",
        "kl_divergence", "kld", "logcosh", "mean_absolute_error", "mae",
        "mean_absolute_percentage_error", "mape", "mean_squared_error", "mse",
        "mean_squared_logarithmic_error", "msle", "root_mean_squared_error", "rmse",
        "poisson", "false_negatives", "false_positives"), "down"),
}

# Names not in the table: losses and errors are lower-is-better, anything else higher.
_LOWER_IS_BETTER = re.compile(
    r"(^|_)(loss|error|mse|mae|mape|msle|rmse|crossentropy|hinge|kld|kl_divergence|"
    r"poisson|log_?cosh|huber|perplexity|false_negatives|false_positives)($|_)")

_SPLIT_PREFIX = re.compile(r"^(val|test)_")
_REPLICA_KEY = re.compile(r"(?P<name>.+)_replica_(?P<index>\d+)")


def base_name(name: str) -> str:
    """The quantity a logged name measures: without ``val_``/``test_`` and the
    per-replica suffix.

    Example:

    >>> base_name("val_accuracy_replica_3"), base_name("loss")
    ('accuracy', 'loss')
    """
    match = _REPLICA_KEY.fullmatch(name)
    if match:
        name = match["name"]
    return _SPLIT_PREFIX.sub("", name)


def is_higher_better(metric: str | None) -> bool:
    """Whether larger values of ``metric`` are better, from its name: Keras'
    built-in metrics as Keras directs them, confusion counts by meaning
    (``false_negatives`` lower), other losses and errors lower, anything else
    higher. ``val_``/``test_`` prefixes and replica suffixes are ignored.

    Example:

    >>> is_higher_better("val_accuracy"), is_higher_better("val_loss")
    (True, False)
    >>> is_higher_better("f1_score"), is_higher_better("false_negatives_replica_2")
    (True, False)
    """
    if metric is None:
        return True
    name = base_name(metric)
    if name in _DIRECTIONS:
        return _DIRECTIONS[name] == "up"
    return not _LOWER_IS_BETTER.search(name)


def held_out_name(metric: str | None) -> str:
    """The name of ``metric`` measured on the test set.

    Example:

    >>> held_out_name("val_accuracy"), held_out_name(None)
    ('test_accuracy', 'test_score')
    """
    metric = metric or "score"
    return "test_" + (metric[4:] if metric.startswith("val_") else metric)


def curve_base(name: str) -> str:
    """The logged name without its ``val_`` prefix: what a curve measures.

    Example:

    >>> curve_base("val_loss"), curve_base("accuracy")
    ('loss', 'accuracy')
    """
    return name[4:] if name.startswith("val_") else name


def replica_key(name: str, index: int) -> str:
    """The History/logs name of replica ``index``'s value of ``name``.

    Example:

    >>> replica_key("val_loss", 3)
    'val_loss_replica_3'
    """
    return f"{name}_replica_{index}"


def split_replica_key(key: str) -> tuple[str, int] | None:
    """``(name, index)`` of a per-replica log name, else ``None``.

    Example:

    >>> split_replica_key("val_loss_replica_3"), split_replica_key("val_loss")
    (('val_loss', 3), None)
    """
    match = _REPLICA_KEY.fullmatch(key)
    return (match["name"], int(match["index"])) if match else None


def is_mean_key(key: str) -> bool:
    """Whether a log name is a mean over replicas (not one replica's value, nor
    the ``diverged`` count).

    Example:

    >>> is_mean_key("val_loss"), is_mean_key("val_loss_replica_0"), is_mean_key("diverged")
    (True, False, False)
    """
    return key != "diverged" and split_replica_key(key) is None


def replica_curves(logs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Every per-replica value in ``fit`` logs/History, ``{name: (epochs, K)}``.

    Example:

    >>> replica_curves({"loss": [1.0], "loss_replica_0": [0.5], "loss_replica_1": [1.5]})
    {'loss': array([[0.5, 1.5]])}
    """
    found: dict[str, dict[int, Any]] = {}
    for key, values in logs.items():
        parts = split_replica_key(key)
        if parts:
            found.setdefault(parts[0], {})[parts[1]] = values
    return {name: np.array([by_index[k] for k in range(len(by_index))], dtype=float).T
            for name, by_index in found.items() if set(by_index) == set(range(len(by_index)))}


def default_metric(names) -> str:
    """The one rule for the score a study, a sweep, the command line and a
    report use when none is named: the first validation metric other than
    the loss, else ``val_loss``, else the first metric other than the loss,
    else the loss. ``names`` are compiled metrics in Keras' order (the loss
    first) or the names a History logged.

    Example:

    >>> default_metric(["loss", "accuracy"]), default_metric(["loss"])
    ('accuracy', 'loss')
    >>> default_metric(["loss", "accuracy", "val_loss", "val_accuracy"])
    'val_accuracy'
    """
    names = list(names)
    preferred = ([n for n in names if n.startswith("val_") and n != "val_loss"]
                 + [n for n in names if n == "val_loss"] + [n for n in names if n != "loss"])
    return (preferred or names)[0]
