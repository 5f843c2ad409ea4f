"""What the fused replicas of ``SeededModel`` and ``SeedEnsemble`` share: running
one member architecture over weights stacked with a leading replica axis, and
combining the K outputs.

Keras-free at import (``SeedEnsemble`` and ``SeededModel`` both import it while
``keras_seeds`` registers them with Keras).
"""

from __future__ import annotations

from typing import Any

COMBINE_CHOICES = ("mean", "mean_probs", "median")


class Untracked:
    """Holds objects Keras must not track or save as part of the model that owns it."""

    def __init__(self, **items):
        self.__dict__.update(items)


def check_combine(combine: Any) -> str:
    """Validates a ``combine`` choice: one of ``COMBINE_CHOICES``.

    Example:

    >>> check_combine("mean")
    'mean'
    """
    if combine not in COMBINE_CHOICES:
        raise ValueError(f"`combine` must be one of {', '.join(map(repr, COMBINE_CHOICES))}; "
                         f"received combine={combine!r}.")
    return combine


def combine_outputs(outputs, combine: str, axis: int = 0):
    """Combines replica outputs stacked along ``axis`` (NumPy arrays or tensors,
    eager or traced: the one definition ``predict`` and ``SeedEnsemble`` share).

    Example:

    >>> import numpy as np
    >>> np.asarray(combine_outputs(np.array([[1.0, 3.0], [3.0, 5.0]]), "mean"))
    array([2., 4.])
    """
    from keras import ops

    if combine == "median":
        return ops.median(outputs, axis=axis)
    if combine == "mean_probs":
        outputs = ops.softmax(outputs, axis=-1)
    return ops.mean(outputs, axis=axis)


def stacked_outputs(member, trainable, non_trainable, x, training: bool = False):
    """``member``'s output for each set of stacked weights: a leading replica axis.

    ``trainable``/``non_trainable`` hold ``member``'s variables' values stacked
    as ``(K, ...)``; one ``tf.vectorized_map`` over ``stateless_call`` runs all K.
    """
    import tensorflow as tf

    call_kwargs = {"training": training} if member._call_has_training_arg else {}

    def one_replica(args):
        tv, ntv = args
        return member.stateless_call(tv, ntv, x, **call_kwargs)[0]

    return tf.vectorized_map(one_replica, ([tf.convert_to_tensor(v) for v in trainable],
                                           [tf.convert_to_tensor(v) for v in non_trainable]))
