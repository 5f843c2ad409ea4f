"""Argument checks with one message format, used at every entry point:

    `{name}` must be {constraint}; received {name}={value!r}.

A wrong type raises ``TypeError`` (and names the type), a wrong value
``ValueError``. Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable

import numpy as np


def must_be(name: str, constraint: str, value: Any, error: type = ValueError,
            detail: str = "") -> Exception:
    """The error for argument ``name`` whose ``value`` breaks ``constraint``.

    Example:

    >>> str(must_be("epochs", "an int >= 1", 0))
    '`epochs` must be an int >= 1; received epochs=0.'
    """
    kind = f" of type {type(value).__name__}" if error is TypeError else ""
    return error(f"`{name}` must be {constraint}; received {name}={value!r}{kind}.{detail}")


def int_constraint(minimum: int | None = None, maximum: int | None = None) -> str:
    """How :func:`check_int` words its range.

    Example:

    >>> int_constraint(0, 9), int_constraint(1), int_constraint()
    ('an int in [0, 9]', 'an int >= 1', 'an int')
    """
    if minimum is not None and maximum is not None:
        return f"an int in [{minimum}, {maximum}]"
    if minimum is not None:
        return f"an int >= {minimum}"
    if maximum is not None:
        return f"an int <= {maximum}"
    return "an int"


def check_int(value: Any, name: str, minimum: int | None = None, maximum: int | None = None,
              constraint: str | None = None) -> int:
    """``value`` as a plain ``int`` if it is a Python or NumPy integer (not a
    bool) in ``[minimum, maximum]``.

    Example:

    >>> check_int(np.int64(3), "batch_size", minimum=1)
    3
    >>> check_int(2.0, "replicas", minimum=1)
    Traceback (most recent call last):
    ...
    TypeError: `replicas` must be an int >= 1; received replicas=2.0 of type float.
    """
    constraint = constraint or int_constraint(minimum, maximum)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise must_be(name, constraint, value, TypeError)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise must_be(name, constraint, value)
    return value


def check_choice(value: Any, name: str, choices: Iterable) -> Any:
    """``value`` if it is one of ``choices``.

    Example:

    >>> check_choice("max", "mode", ("auto", "min", "max"))
    'max'
    >>> check_choice("up", "mode", ("auto", "min", "max"))
    Traceback (most recent call last):
    ...
    ValueError: `mode` must be one of 'auto', 'min', 'max'; received mode='up'.
    """
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise must_be(name, "one of " + ", ".join(map(repr, choices)), value)
    return value
