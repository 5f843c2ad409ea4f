"""Deterministic kernels: TensorFlow op determinism, thread pools and XLA,
and XLA's deterministic GPU ops on the JAX backend.

Environment variables read or named here:

- ``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS``: TensorFlow reads
  them once, when its runtime starts; the only way to set thread pools after
  an op has run in this process is to restart it with them set.
- ``XLA_FLAGS``: JAX's XLA reads it once, when its first device starts.
  ``--xla_gpu_deterministic_ops=true`` makes GPU kernels (scatter, reductions
  with atomics, cuDNN algorithm choice) deterministic; XLA on CPU needs
  nothing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from keras_seeds._validation import check_int

JAX_DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"


def _backend() -> str:
    """The Keras backend, without importing Keras (which, on TensorFlow, would
    start the runtime whose thread pools :func:`set_threads` must set first):
    Keras' own rule, ``KERAS_BACKEND`` over ``~/.keras/keras.json``."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    try:
        return json.loads(config.read_text()).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def _xla_flags() -> list[str]:
    return os.environ.get("XLA_FLAGS", "").split()


def _enable_jax_determinism(threads) -> None:
    from keras_seeds._internal import keras as private

    if threads is not None:
        raise ValueError(
            f"`threads`: threads={threads} sizes TensorFlow's thread pools; the JAX backend "
            "has none to set (XLA on CPU is deterministic at any thread count). Pass "
            "threads=None.")
    if JAX_DETERMINISTIC_FLAG in _xla_flags():
        return
    if private.jax_devices_started() and private.jax_platform() != "cpu":
        raise RuntimeError(
            "Cannot make JAX's GPU kernels deterministic now: XLA already started on "
            f"{private.jax_platform()} without {JAX_DETERMINISTIC_FLAG} and reads XLA_FLAGS "
            "only then (importing Keras on the JAX backend starts it). Start Python with "
            f"XLA_FLAGS={JAX_DETERMINISTIC_FLAG} in the environment, or set "
            f"os.environ['XLA_FLAGS'] = '{JAX_DETERMINISTIC_FLAG}' before importing Keras "
            "or JAX.")
    os.environ["XLA_FLAGS"] = " ".join(_xla_flags() + [JAX_DETERMINISTIC_FLAG])


def _check_threads(threads) -> int | None:
    if threads is None:
        return None
    return check_int(threads, "threads", minimum=1, constraint="an int >= 1 or None")


def usable_cores() -> int:
    """The cores this process may run on: what TensorFlow's default thread pools
    (``0`` in :func:`thread_settings`) are sized by. Under ``taskset``, a Slurm
    or container CPU set it is fewer than the machine has, and a thread count
    can change how a reduction splits its sum.

    Example:

    >>> 1 <= usable_cores() <= os.cpu_count()
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_settings() -> dict[str, int]:
    """TensorFlow's intra- and inter-op thread pool sizes (0 means TF's default).

    Example:

    >>> sorted(thread_settings())
    ['inter_op', 'intra_op']
    """
    if _backend() == "jax":
        return {"intra_op": 0, "inter_op": 0}
    import tensorflow as tf

    return {
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def set_threads(threads: int) -> None:
    """Sets both TensorFlow thread pools to ``threads``.

    Raises:
        RuntimeError: the runtime already started with other pool sizes; the
            message says what to do instead.
    """
    import tensorflow as tf

    threads = _check_threads(threads)
    if thread_settings() == {"intra_op": threads, "inter_op": threads}:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as error:
        raise RuntimeError(
            f"Cannot set threads={threads}: TensorFlow's runtime already started "
            f"in this process with its thread pools fixed ({error}). Call "
            f"keras_seeds.enable_determinism(threads={threads}) (or create "
            f"SeedCallback(threads={threads})) before any TensorFlow op or Keras "
            f"model is created, or start Python with TF_NUM_INTRAOP_THREADS="
            f"{threads} and TF_NUM_INTEROP_THREADS={threads} in the environment."
        ) from None


def enable_determinism(threads: int | None = None) -> None:
    """Makes TensorFlow ops deterministic, optionally fixing the thread pools.

    Turns on ``tf.config.experimental.enable_op_determinism()`` and turns off
    XLA auto-clustering (XLA has non-deterministic kernels on GPU). Keras
    models compiled with ``jit_compile="auto"`` or ``True`` are switched to
    ``jit_compile=False`` by :class:`~keras_seeds.SeedCallback`.

    With op determinism on, random ops without a seed raise; call
    :func:`~keras_seeds.seed_everything` (or use ``SeedCallback``) first.

    Args:
        threads: if given, the size of both TensorFlow thread pools. Must be
            called before TensorFlow's runtime starts; otherwise a
            ``RuntimeError`` says how to set them.

    Example:

    >>> import keras_seeds as ks
    >>> ks.enable_determinism()
    >>> ks.determinism_enabled()
    True
    >>> ks.disable_determinism()
    """
    threads = _check_threads(threads)
    if _backend() == "jax":
        _enable_jax_determinism(threads)
        return
    import tensorflow as tf

    if threads is not None:
        set_threads(threads)
    tf.config.experimental.enable_op_determinism()
    tf.config.optimizer.set_jit(False)


def disable_determinism() -> None:
    """Turns TensorFlow op determinism off again (for notebooks and tests).

    TensorFlow has no public switch for this; the private one it uses is
    called (``keras_seeds._internal.keras`` fails loudly if a release drops it).

    Example:

    >>> import keras_seeds as ks
    >>> ks.disable_determinism()
    >>> ks.determinism_enabled()
    False
    """
    from keras_seeds._internal import keras as private

    if _backend() == "jax":
        os.environ["XLA_FLAGS"] = " ".join(
            f for f in _xla_flags() if f != JAX_DETERMINISTIC_FLAG)
        return
    private.disable_op_determinism()


def determinism_enabled() -> bool:
    """Whether TensorFlow op determinism is on.

    Example:

    >>> import keras_seeds as ks
    >>> isinstance(ks.determinism_enabled(), bool)
    True
    """
    from keras_seeds._internal import keras as private

    if _backend() == "jax":
        if private.jax_devices_started() and private.jax_platform() == "cpu":
            return True  # XLA on CPU has no non-deterministic kernels
        return JAX_DETERMINISTIC_FLAG in _xla_flags()
    return private.op_determinism_enabled()


def xla_enabled(model=None) -> bool:
    """Whether XLA would compile training: auto-clustering or the model's jit.

    Example:

    >>> xla_enabled()
    False
    """
    if _backend() == "jax":
        return True  # JAX compiles every step with XLA
    import tensorflow as tf

    if tf.config.optimizer.get_jit():
        return True
    return bool(model is not None and getattr(model, "compiled", False)
                and model.jit_compile)
