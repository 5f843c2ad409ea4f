"""keras-seeds: the random seed as a recorded, controllable part of Keras training.

Names are imported on first use, so ``import keras_seeds`` (and the command
line) does not start TensorFlow until something needs it.

Example:

>>> import keras_seeds as ks
>>> ks.Seeds(42).master
42
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from keras_seeds import _moved

__version__ = "0.1.0"

_EXPORTS = {
    # the seed contract and runtime seeding
    "SUBSEED_NAMES": "seeding.contract", "Seeds": "seeding.contract",
    "check_seed": "seeding.contract", "derive_seed": "seeding.contract",
    "replica_seeds": "seeding.contract",
    "active_seeds": "seeding.global_rngs", "seed_everything": "seeding.global_rngs",
    "determinism_enabled": "seeding.determinism", "disable_determinism": "seeding.determinism",
    "enable_determinism": "seeding.determinism",
    # data order and records
    "seeded_dataset": "data_order.seeded_dataset",
    "AuditItem": "records.audit", "AuditReport": "records.audit", "audit": "records.audit",
    "read_manifest": "records.manifest",
    "diff_manifests": "records.diff", "explain_diff": "records.diff",
    # one run, and K replicas
    "SeedCallback": "run.seed_callback", "BackupAndRestore": "run.backup_and_restore", "sweep": "sweeps.run",
    "attribute": "sweeps.attribute",
    "SeededModel": "replicas.model", "replica_key": "statistics.metric_names",
    "ReplicaEarlyStopping": "replicas.early_stopping",
    "SeedEnsemble": "replicas.ensemble", "SeedTensorBoard": "integrations.tensorboard",
    "MLflowLogger": "integrations.mlflow", "Tracker": "integrations.tracker",
    "WandbTracker": "integrations.wandb",
    # statistics
    "SeedStudy": "statistics.study", "Comparison": "statistics.compare",
    "compare": "statistics.compare", "SeedStudyWarning": "statistics.functions",
    "ensemble_comparison_from_store": "statistics.ensembles",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if f"keras_seeds.{name}" in _moved.MOVED:  # ``keras_seeds.callback`` after its import
        return sys.modules[f"keras_seeds.{name}"]
    if name not in _EXPORTS:
        raise AttributeError(f"module 'keras_seeds' has no attribute {name!r}")
    if not _EXPORTS[name].startswith("statistics."):
        # A name that works with Keras: below the supported Keras/TensorFlow it
        # raises UnsupportedVersion (an ImportError) in one line, before any use.
        from keras_seeds import _versions

        _versions.require_supported()
    value = getattr(importlib.import_module(f"keras_seeds.{_EXPORTS[name]}"), name)
    if _registration_pending:
        _register_with_keras()
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


# Modules whose classes ``keras.saving.load_model`` must find by their registered
# names ("keras_seeds>SeededModel", ...). Keras cannot import them from a saved
# config, so they are imported as soon as Keras is: now if it already is, else
# right after ``import keras`` finishes (names stay lazy until then).
_KERAS_SERIALIZABLE = ("replicas.model", "replicas.ensemble")


_registration_pending = False


def _register_with_keras() -> None:
    global _registration_pending
    try:
        for module in _KERAS_SERIALIZABLE:
            importlib.import_module(f"keras_seeds.{module}")
        _registration_pending = False
    except ImportError:
        # Keras was imported from inside a keras_seeds module that one of these
        # imports (it is half-initialised): try again on the next name looked up.
        _registration_pending = True


class _AfterKerasImport:
    """A one-shot import hook: runs :func:`_register_with_keras` once ``keras``
    has been imported, wherever the import comes from."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _register_with_keras()

        spec.loader.exec_module = exec_then_register
        return spec


if "keras" in sys.modules:
    _register_with_keras()
elif not any(isinstance(finder, _AfterKerasImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _AfterKerasImport())

_moved.register()
