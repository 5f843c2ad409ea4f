"""The run manifest: everything needed to repeat a run, and why two runs differ.

:class:`~keras_seeds.SeedCallback` writes one JSON manifest per run (atomically:
a reader never sees half a file). :func:`diff_manifests` compares two and
:func:`explain_diff` says in plain words why their results may differ, the
most likely cause first. ``keras-seeds diff A.json B.json`` prints it.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keras_seeds.writing import read_json


FORMAT = "keras-seeds-manifest/1"

# Environment variables that change what TensorFlow computes or how.
ENV_VARS = (
    "PYTHONHASHSEED", "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC",
    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
    "TF_ENABLE_ONEDNN_OPTS", "TF_XLA_FLAGS", "CUDA_VISIBLE_DEVICES", "KERAS_BACKEND",
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
    >>> from keras_seeds.writing import write_json_atomically
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
    import tensorflow as tf

    from keras_seeds.determinism import determinism_enabled, thread_settings

    devices = tf.config.list_physical_devices("GPU")
    build = tf.sysconfig.get_build_info()
    gpu_details = []
    for device in devices:
        try:
            gpu_details.append(tf.config.experimental.get_device_details(device))
        except Exception:  # device details are best effort
            gpu_details.append({"name": device.name})
    return {
        "versions": {
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "keras_seeds": _own_version(),
            "cuda": build.get("cuda_version"),
            "cudnn": build.get("cudnn_version"),
        },
        "hardware": {
            "platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "gpus": [d.name for d in devices], "gpu_details": gpu_details,
        },
        "environment": {name: os.environ.get(name) for name in ENV_VARS},
        "determinism": {
            "op_determinism": determinism_enabled(),
            "xla_autoclustering": bool(tf.config.optimizer.get_jit()),
            "threads": thread_settings(),
            "python_hash_seed_fixed": _hash_seed_fixed(),
        },
    }


def _hash_seed_fixed() -> bool:
    from keras_seeds.seeding import hash_seed_fixed

    return hash_seed_fixed()


def _own_version() -> str:
    from keras_seeds import __version__

    return __version__


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------- diffing

# Sections in the order their differences are reported: causes that always
# change results first, then causes that may.
_CAUSES = (
    ("seed", "The seed differs"),
    ("data", "The training data differs"),
    ("fit", "A fit() argument differs"),
    ("compile", "A compile() argument differs"),
    ("optimizer", "An optimizer setting differs"),
    ("model", "The model differs"),
    ("control", "What keras-seeds controlled differs"),
    ("versions", "Library versions differ"),
    ("determinism", "Determinism settings differ"),
    ("hardware", "The hardware differs"),
    ("environment", "Environment variables differ"),
)
# Not causes: bookkeeping, results, and PYTHONHASHSEED (always the master seed).
_IGNORED = ("format", "created", "finished", "status", "result", "manifest_path",
            "hardware.gpu_details", "environment.PYTHONHASHSEED")


@dataclass(frozen=True)
class Difference:
    """One field that differs between two manifests."""

    field: str
    a: Any
    b: Any


def _flatten(value, prefix="") -> dict[str, Any]:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        value = dict(enumerate(value))
    if isinstance(value, dict) and value:
        flat = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def diff_manifests(a: dict, b: dict) -> list[Difference]:
    """Fields whose values differ between manifests ``a`` and ``b`` (inputs
    only: results and timestamps are left out).

    Example:

    >>> diff_manifests({"fit": {"epochs": 3}}, {"fit": {"epochs": 5}})
    [Difference(field='fit.epochs', a=3, b=5)]
    """
    flat_a, flat_b = _flatten(a), _flatten(b)
    differences = []
    for field in sorted(set(flat_a) | set(flat_b)):
        if any(field == i or field.startswith(i + ".") for i in _IGNORED):
            continue
        if flat_a.get(field) != flat_b.get(field):
            differences.append(Difference(field, flat_a.get(field), flat_b.get(field)))
    return differences


def _short(value) -> str:
    text = json.dumps(value, default=repr) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:16] + "..." + text[-8:]


def explain_diff(a: dict, b: dict) -> list[str]:
    """Plain-words reasons why runs ``a`` and ``b`` may differ, likeliest first.

    Example:

    >>> explain_diff({"fit": {"epochs": 3}}, {"fit": {"epochs": 5}})
    ['A fit() argument differs: fit.epochs is 3 in A and 5 in B.']
    """
    differences = diff_manifests(a, b)
    reasons = []
    for section, headline in _CAUSES:
        fields = [d for d in differences if d.field.split(".")[0] == section]
        if not fields:
            continue
        details = "; ".join(f"{d.field} is {_short(d.a)} in A and {_short(d.b)} in B"
                            for d in fields[:4])
        more = f" (and {len(fields) - 4} more)" if len(fields) > 4 else ""
        reasons.append(f"{headline}: {details}{more}.")
    for name, manifest in (("A", a), ("B", b)):
        if manifest.get("determinism", {}).get("op_determinism") is False:
            reasons.append(f"Run {name} ran without op determinism: even with identical "
                           f"settings its results can change from run to run.")
    known = {section for section, _ in _CAUSES}
    other = [d for d in differences if d.field.split(".")[0] not in known]
    if other:
        reasons.append("Other fields differ: " + ", ".join(d.field for d in other) + ".")
    result_a = a.get("result", {}).get("weights_sha256")
    result_b = b.get("result", {}).get("weights_sha256")
    if not reasons:
        if result_a and result_b and result_a != result_b:
            reasons.append("Every recorded input matches, yet the final weights differ: "
                           "something uncontrolled changed the run (see `keras-seeds "
                           "audit`: thread pools, GPU kernels, unseeded custom code).")
        elif result_a and result_a == result_b:
            reasons.append("The runs match: same inputs and bit-identical final weights.")
        else:
            reasons.append("Every recorded input matches; the runs should be identical.")
    return reasons
