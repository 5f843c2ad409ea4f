"""Gradient clipping per replica, as a pure function over stacked gradients.

Keras clips a variable's gradient by its norm (``clipnorm``) or all gradients
by their joint norm (``global_clipnorm``). On variables stacked with a replica
axis that norm would run across the replicas, and one replica's large gradient
would shrink every other replica's step. Here each replica's slice is clipped
by its own norm, with the formulas Keras uses for one model; the optimizer's
own clipping is switched off around ``apply`` (public attributes only).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from keras import ops

_OPTIONS = ("clipnorm", "global_clipnorm", "clipvalue")


@dataclass(frozen=True)
class Clipping:
    """The clipping an optimizer was configured with (at most one is set).

    Example:

    >>> import keras
    >>> Clipping.of(keras.optimizers.Adam(clipnorm=0.5))
    Clipping(clipnorm=0.5, global_clipnorm=None, clipvalue=None)
    """

    clipnorm: float | None = None
    global_clipnorm: float | None = None
    clipvalue: float | None = None

    @classmethod
    def of(cls, optimizer) -> "Clipping":
        return cls(**{name: getattr(optimizer, name, None) or None for name in _OPTIONS})

    def __bool__(self) -> bool:
        return any(value and value > 0 for value in (self.clipnorm, self.global_clipnorm,
                                                     self.clipvalue))


def _inner_axes(tensor) -> list[int]:
    return list(range(1, len(tensor.shape)))


def _per_replica(values, rank: int):
    """``(K,)`` values shaped to broadcast over a ``(K, ...)`` tensor of ``rank``."""
    return ops.reshape(values, (-1,) + (1,) * (rank - 1))


def clip_per_replica(grads: list, clipping: Clipping) -> list:
    """``grads`` (each ``(K, ...)``, or ``None``) clipped replica by replica.

    - ``clipnorm``: each slice of each gradient to that norm;
    - ``global_clipnorm``: replica k's gradients scaled by
      ``min(1, global_clipnorm / norm_k)``, ``norm_k`` over replica k's slices;
    - ``clipvalue``: element-wise (the same with or without replicas).

    Example:

    >>> import numpy as np
    >>> g = np.array([[3.0, 4.0], [0.3, 0.4]], "float32")   # two replicas, norms 5 and 0.5
    >>> np.asarray(clip_per_replica([g], Clipping(global_clipnorm=1.0))[0]).round(3)
    array([[0.6, 0.8],
           [0.3, 0.4]], dtype=float32)
    """
    present = [g for g in grads if g is not None]
    if clipping.clipnorm and clipping.clipnorm > 0:
        def clip(g):  # Keras' _clip_by_norm, over each replica's slice
            squares = ops.sum(ops.square(g), axis=_inner_axes(g), keepdims=True)
            positive = squares > 0
            norm = ops.where(positive, ops.sqrt(ops.where(positive, squares,
                                                          ops.ones_like(squares))), squares)
            return ops.multiply(g, clipping.clipnorm) / ops.maximum(norm, clipping.clipnorm)
        return [None if g is None else clip(g) for g in grads]
    if clipping.global_clipnorm and clipping.global_clipnorm > 0 and present:
        squares = [ops.sum(ops.square(g), axis=_inner_axes(g)) for g in present]
        norm = ops.sqrt(ops.sum(ops.stack(squares), axis=0))  # one norm per replica
        limit = clipping.global_clipnorm
        # Keras' formula: `(norm - norm)` makes the scale NaN where the norm is.
        scale = limit * ops.minimum(1.0 / norm, 1.0 / limit) + (norm - norm)
        return [None if g is None else g * _per_replica(scale, len(g.shape)) for g in grads]
    if clipping.clipvalue and clipping.clipvalue > 0:
        v = clipping.clipvalue
        return [None if g is None else ops.clip(g, -v, v) for g in grads]
    return list(grads)


@contextlib.contextmanager
def keras_clipping_off(optimizer):
    """The optimizer without its own clipping, for an ``apply`` of gradients that
    :func:`clip_per_replica` has clipped; its settings come back on exit (its
    config, and so saved models, keep them).

    Example:

    >>> import keras
    >>> sgd = keras.optimizers.SGD(global_clipnorm=1.0)
    >>> with keras_clipping_off(sgd):
    ...     inside = sgd.global_clipnorm
    >>> inside, sgd.global_clipnorm
    (None, 1.0)
    """
    saved = {name: getattr(optimizer, name, None) for name in _OPTIONS}
    try:
        for name in _OPTIONS:
            setattr(optimizer, name, None)
        yield optimizer
    finally:
        for name, value in saved.items():
            setattr(optimizer, name, value)
