"""What a ``fit`` call was given, for the records a ``SeedCallback`` keeps.

Keras hands callbacks ``self.params`` (epochs, steps, verbose) but not the
data or the other arguments. keras-seeds' own fits (``SeededModel.fit``)
register theirs while they run: what the user passed, not the batch numbers
they give Keras. For Keras' own ``fit`` they are read from the outermost
``fit`` frame of the model on this thread (``fit``'s parameter names are
public API), so a model whose ``fit`` calls ``super().fit`` is recorded with
what the user passed too.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

_registered: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def registered(model, arguments: dict[str, Any]):
    """Makes :func:`fit_arguments` of ``model`` give ``arguments`` while the
    block runs (a fit of keras-seeds' own)."""
    outer = _registered.get(model)
    _registered[model] = dict(arguments)
    try:
        yield
    finally:
        if outer is None:
            _registered.pop(model, None)
        else:
            _registered[model] = outer


def fit_arguments(model) -> dict[str, Any] | None:
    """The arguments of the ``model.fit`` call running on this thread (the
    outermost one), or ``None`` outside ``fit``."""
    arguments = _registered.get(model)
    if arguments is not None:
        return dict(arguments)
    from keras_seeds._internal import keras as private

    return private.fit_frame_arguments(model)
