"""What keras-seeds' callbacks learn about a user's model, kept beside the
model rather than on it: nothing is set on a user's model.

A fit under ``SeedCallback`` notes how its data was ordered and what
``reinitialize=True`` re-drew (read later by :func:`keras_seeds.audit`);
``BackupAndRestore`` notes the resumes of the fit that is starting (read by
``SeedCallback`` for the manifest). Notes live as long as the model does
(a ``weakref.WeakKeyDictionary``) and are not saved with it.

Example:

>>> class Model:  # any object that can be weakly referenced
...     pass
>>> model = Model()
>>> note(model, data_order="controlled: seeded")
>>> read(model, "data_order"), read(model, "resumes")
('controlled: seeded', None)
>>> take(model, "data_order"), read(model, "data_order")
('controlled: seeded', None)
"""

from __future__ import annotations

import weakref
from typing import Any

_NOTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def note(model, **values: Any) -> None:
    """Records ``values`` about ``model``."""
    _NOTES.setdefault(model, {}).update(values)


def read(model, name: str, default: Any = None) -> Any:
    """The value noted about ``model`` under ``name``, or ``default``."""
    return _NOTES.get(model, {}).get(name, default)


def take(model, name: str, default: Any = None) -> Any:
    """Like :func:`read`, and forgets it."""
    return _NOTES.get(model, {}).pop(name, default)
