"""The one definition of a seeded train/validation split (the ``split`` sub-seed).

Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np

from keras_seeds._validation import must_be
from keras_seeds.seeding.contract import check_seed


def check_validation_split(value, name: str = "validation_split") -> float:
    """A validation fraction strictly between 0 and 1.

    Example:

    >>> check_validation_split(0.2)
    0.2
    >>> check_validation_split(1.5)
    Traceback (most recent call last):
    ...
    ValueError: `validation_split` must be a float in (0, 1); received validation_split=1.5.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not (
            0 < value < 1):
        raise must_be(name, "a float in (0, 1)", value)
    return float(value)


def split_rows(num_samples: int, validation_split: float, seed: int):
    """``(train_rows, validation_rows)`` of a seeded split of ``num_samples``
    examples: a permutation by ``numpy.random.Generator(PCG64(seed))``, the
    first ``num_samples - floor(num_samples * (1 - validation_split))`` rows
    validation (Keras' rounding), the rest training; both sorted. The same seed
    gives the same rows in every process.

    Example:

    >>> train, validation = split_rows(10, 0.2, seed=3)
    >>> len(train), len(validation), sorted([*train, *validation]) == list(range(10))
    (8, 2, True)
    >>> bool((split_rows(10, 0.2, seed=3)[1] == validation).all())
    True
    """
    validation_split = check_validation_split(validation_split)
    training = int(math.floor(num_samples * (1.0 - validation_split)))
    if training in (0, num_samples):
        raise ValueError(f"`validation_split={validation_split}` leaves no training or no "
                         f"validation samples out of {num_samples}.")
    order = np.random.Generator(np.random.PCG64(check_seed(seed))).permutation(num_samples)
    return np.sort(order[num_samples - training:]), np.sort(order[:num_samples - training])
