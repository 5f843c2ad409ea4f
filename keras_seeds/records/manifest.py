"""The run manifest: everything needed to repeat a run.

:class:`~keras_seeds.SeedCallback` writes one JSON manifest per run (atomically:
a reader never sees half a file); :mod:`keras_seeds.records.diff` compares two.
"""

from __future__ import annotations

import datetime
import os
import platform
import tempfile
from pathlib import Path

import numpy as np

from keras_seeds._files import read_json

FORMAT = "keras-seeds-manifest/1"

# Environment variables that change what TensorFlow computes or how.
ENV_VARS = (
    "PYTHONHASHSEED", "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC",
    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
    "TF_ENABLE_ONEDNN_OPTS", "TF_XLA_FLAGS", "CUDA_VISIBLE_DEVICES", "KERAS_BACKEND",
    "XLA_FLAGS",
)


def check_manifest_path(path) -> Path:
    """Validates a manifest path before training: its directory must exist and
    be writable. Raises ``FileNotFoundError``, ``NotADirectoryError`` or
    ``PermissionError`` naming the ``manifest`` argument.

    Example:

    >>> check_manifest_path("/no/such/dir/run.json")
    Traceback (most recent call last):
    ...
    FileNotFoundError: `manifest`: directory '/no/such/dir' does not exist (manifest='/no/such/dir/run.json'); create it first or choose another path.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`manifest` must be a path (str or os.PathLike), 'auto' or "
                        f"None; received manifest={path!r}.")
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise FileNotFoundError(
            f"`manifest`: directory '{parent}' does not exist (manifest='{path}'); "
            f"create it first or choose another path.")
    if not parent.is_dir():
        raise NotADirectoryError(
            f"`manifest`: '{parent}' is not a directory (manifest='{path}').")
    if path.is_dir():
        raise IsADirectoryError(f"`manifest`: '{path}' is a directory; give a file "
                                f"path such as '{path / 'run.json'}'.")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".keras-seeds-probe-"):
            pass
    except OSError as error:
        raise PermissionError(
            f"`manifest`: cannot write in '{parent}' (manifest='{path}'): "
            f"{error.strerror or error}.") from None
    return path


def read_manifest(path) -> dict:
    """Reads a manifest, with a clear error for files that are not manifests.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
    >>> from keras_seeds._files import write_json_atomically
    >>> write_json_atomically(path, {"format": FORMAT, "seed": {"master": 1}})
    >>> read_manifest(path)["seed"]
    {'master': 1}
    """
    manifest = read_json(path, "manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"'{path}' is not a keras-seeds manifest (expected "
                         f"format {FORMAT!r}).")
    return manifest


def environment_section() -> dict:
    """Versions, hardware, environment variables, threads and determinism flags."""
    import keras
    import sklearn

    from keras_seeds.seeding.determinism import (
        determinism_enabled,
        thread_settings,
        usable_cores,
        xla_enabled,
    )

    backend = keras.backend.backend()
    devices, gpu_details, build = _accelerators(backend)
    return {
        "versions": {
            "python": platform.python_version(), "backend": backend,
            "tensorflow": _distribution_version("tensorflow"),
            "jax": _distribution_version("jax"), "jaxlib": _distribution_version("jaxlib"),
            "keras": keras.__version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "keras_seeds": _own_version(),
            "cuda": build.get("cuda_version"),
            "cudnn": build.get("cudnn_version"),
        },
        "hardware": {
            "platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "usable_cores": usable_cores(),
            "gpus": devices, "gpu_details": gpu_details,
        },
        "environment": {name: os.environ.get(name) for name in ENV_VARS},
        "determinism": {
            "op_determinism": determinism_enabled(),
            "xla_autoclustering": xla_enabled() if backend == "tensorflow" else None,
            "threads": thread_settings(),
            "python_hash_seed_fixed": _hash_seed_fixed(),
        },
    }


def _accelerators(backend: str) -> tuple[list, list, dict]:
    """The GPUs the backend sees, their details, and the CUDA build."""
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform != "cpu"]
        return ([str(d) for d in gpus], [{"name": d.device_kind} for d in gpus], {})
    import tensorflow as tf

    devices = tf.config.list_physical_devices("GPU")
    gpu_details = []
    for device in devices:
        try:
            gpu_details.append(tf.config.experimental.get_device_details(device))
        except Exception:  # device details are best effort
            gpu_details.append({"name": device.name})
    return [d.name for d in devices], gpu_details, tf.sysconfig.get_build_info()


def _distribution_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _hash_seed_fixed() -> bool:
    from keras_seeds.seeding.global_rngs import hash_seed_fixed

    return hash_seed_fixed()


def _own_version() -> str:
    from keras_seeds import __version__

    return __version__


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
