"""Which Keras and TensorFlow keras-seeds runs on.

Two facts, kept here and nowhere else:

- the **floor**: the oldest Keras and TensorFlow that ``setup.cfg`` declares
  and that ``.ci/run`` tests (``tests/run_on_the_floor.sh``). Below it
  keras-seeds refuses to start, in one line, rather than train differently;
- the **tested range**: the minor versions whose answers were checked to be the
  same as the CI versions' (``benchmarks/version_matrix.py``,
  ``docs/versions.md``). Newer versions run, and ``keras-seeds audit`` says
  they are outside it.

Nothing here imports Keras or TensorFlow: the versions are read from the
installed packages' metadata, so the command line can refuse before
TensorFlow starts.

Example:

>>> within_range("3.14.1", TESTED["keras"]), within_range("3.16.0", TESTED["keras"])
(True, False)
"""

from __future__ import annotations

import importlib.metadata
import re
import sys

# The oldest versions that work. Keras 3.12 lacks the global SeedGenerator
# name keras-seeds re-seeds (``keras.src.random.seed_generator.GLOBAL_SEED_GENERATOR``,
# first in 3.13.0).
FLOOR = {"keras": "3.13.0", "tensorflow": "2.16.1"}
# Minor versions (inclusive) on which `keras-seeds study --seed 42` was run and
# gave the CI versions' answers.
TESTED = {"keras": ("3.13", "3.15"), "tensorflow": ("2.16", "2.21")}
NAMES = {"keras": "Keras", "tensorflow": "TensorFlow"}
# Distributions that install each module (the nightlies and CPU-only builds).
_DISTRIBUTIONS = {"keras": ("keras", "keras-nightly"),
                  "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos",
                                 "tf-nightly")}


class UnsupportedVersion(ImportError):
    """The installed Keras or TensorFlow is older than keras-seeds supports."""


def installed(module: str) -> str | None:
    """The installed version of ``keras`` or ``tensorflow`` (``None``: not
    installed), from the imported module if it is imported, else from the
    package metadata."""
    loaded = sys.modules.get(module)
    version = getattr(loaded, "__version__", None)
    if isinstance(version, str):
        return version
    for distribution in _DISTRIBUTIONS[module]:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _release(version: str) -> tuple[int, ...]:
    """The leading numbers of a version: ``"3.13.0.dev2025"`` -> ``(3, 13, 0)``."""
    match = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(part) for part in match.group().split(".")) if match else ()


def within_range(version: str, minors: tuple[str, str]) -> bool:
    """Whether ``version``'s major.minor lies in ``minors`` (inclusive)."""
    low, high = (_release(bound) for bound in minors)
    return low <= _release(version)[:2] <= high


def refusal() -> str | None:
    """One line saying why this environment is refused, or ``None``.

    Example:

    >>> refusal() is None  # the versions this suite runs on are supported
    True
    """
    for module, floor in FLOOR.items():
        version = installed(module)
        if version is None and module == "tensorflow":
            continue  # another Keras backend (JAX)
        if version is None or _release(version) < _release(floor):
            found = "is not installed" if version is None else f"{version} is installed"
            return (f"keras-seeds needs {NAMES[module]} >= {floor}; {found}. "
                    f"Upgrade with: pip install -U '{module}>={floor}'")
    return None


def require_supported() -> None:
    """Raises :class:`UnsupportedVersion` (one line) below the floor."""
    reason = refusal()
    if reason is not None:
        raise UnsupportedVersion(reason)


def floor_pins() -> str:
    """The floor as pip pins (what ``tests/run_on_the_floor.sh`` installs).

    Example:

    >>> floor_pins()
    'keras==3.13.0 tensorflow==2.16.1'
    """
    return " ".join(f"{module}=={version}" for module, version in FLOOR.items())


def tested_range_text() -> str:
    """The tested range in words.

    Example:

    >>> tested_range_text()
    'Keras 3.13-3.15 and TensorFlow 2.16-2.21'
    """
    return " and ".join(f"{NAMES[module]} {low}-{high}"
                        for module, (low, high) in TESTED.items())


def tested_pins() -> str:
    """The tested range as pip requirements.

    Example:

    >>> tested_pins()
    "'keras>=3.13,<3.16' 'tensorflow>=2.16,<2.22'"
    """
    pins = []
    for module, (low, high) in TESTED.items():
        major, minor = _release(high)[:2]
        pins.append(f"'{module}>={low},<{major}.{minor + 1}'")
    return " ".join(pins)


def version_report() -> tuple[bool, str]:
    """Whether the installed Keras and TensorFlow lie in the tested range, and
    a sentence naming them."""
    found, outside = [], []
    for module, minors in TESTED.items():
        version = installed(module)
        if version is None:
            continue
        found.append(f"{NAMES[module]} {version}")
        if not within_range(version, minors):
            outside.append(f"{NAMES[module]} {version}")
    if not outside:
        return True, f"{', '.join(found)}: within the tested range ({tested_range_text()})"
    return False, (f"{', '.join(found)}: {' and '.join(outside)} outside the tested range "
                   f"({tested_range_text()}); it runs, but a difference in Keras' behaviour "
                   "would not have been caught")
