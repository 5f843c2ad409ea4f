"""Import paths of 0.1.0 that moved when the package was laid out by what each
part does. They keep working, with a ``DeprecationWarning``, until 0.3.0.

The old module names are entries of ``sys.modules`` that forward each
attribute to the new module on first use (nothing is imported until then).
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings

REMOVED_IN = "0.3.0"

# old module -> new module (keras_seeds.sweeps is now a package: see its __init__)
MOVED = {
    "keras_seeds.callback": "keras_seeds.run.seed_callback",
    "keras_seeds.backup": "keras_seeds.run.backup_and_restore",
    "keras_seeds.store": "keras_seeds.sweeps.store",
    "keras_seeds.sweep_engines": "keras_seeds.sweeps.engines",
    "keras_seeds.sweep_progress": "keras_seeds.sweeps.progress",
    "keras_seeds.sweep_report": "keras_seeds.sweeps.report",
    "keras_seeds.attributions": "keras_seeds.sweeps.attribute",
    "keras_seeds.seed_mlflow": "keras_seeds.integrations.mlflow",
    "keras_seeds.seed_tensorboard": "keras_seeds.integrations.tensorboard",
}


def _warn(old: str, new: str, name: str) -> None:
    warnings.warn(f"{old}.{name} moved to {new}.{name} (or keras_seeds.{name} where "
                  f"it is public); the old path goes in keras-seeds {REMOVED_IN}.",
                  DeprecationWarning, stacklevel=3)


def moved_attribute(old: str, new: str):
    """A module ``__getattr__`` that forwards ``old``'s names to ``new``, warning."""

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(importlib.import_module(new), name)
        _warn(old, new, name)
        return value

    return __getattr__


def register() -> None:
    """Puts each old path in ``sys.modules`` (once)."""
    for old, new in MOVED.items():
        if old not in sys.modules:
            module = types.ModuleType(
                old, f"Moved to {new}; this path goes in keras-seeds {REMOVED_IN}.")
            module.__getattr__ = moved_attribute(old, new)  # PEP 562
            sys.modules[old] = module
