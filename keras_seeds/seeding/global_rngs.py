"""Seeding every process-wide random generator from one master seed.

Which sub-seed feeds which generator, and why:

- Python's ``random`` and Keras' global ``SeedGenerator`` get the ``init``
  sub-seed: Keras initialisers and layer ``SeedGenerator``s draw their seeds
  from Python's ``random`` when a layer is constructed, so these generators are
  what a model's weights are made of.
- NumPy's global generator and TensorFlow's global seed get the ``data``
  sub-seed: they order data in user pipelines (``np.random.shuffle``,
  ``tf.data.Dataset.shuffle`` without a seed).
- ``PYTHONHASHSEED`` is set to the master seed in ``os.environ`` so child
  processes (data loaders, workers) hash strings the same way. The running
  interpreter's hash seed was fixed when it started: nothing in Keras or
  keras-seeds depends on it, so it is said where a user looks for what is not
  controlled (``audit()``, the manifest), not warned on every run.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import threading

import numpy as np

from keras_seeds.seeding.contract import Seeds

# What PYTHONHASHSEED was when this interpreter (well, this package) started:
# the running interpreter's hash seed cannot change after start-up.
_STARTUP_HASHSEED = os.environ.get("PYTHONHASHSEED")

_active: Seeds | None = None


def hash_seed_fixed() -> bool:
    """Whether this interpreter's str/bytes hashing is the same in every run.

    True when Python started with ``PYTHONHASHSEED`` set to a number (or
    with hash randomisation off).
    """
    if not sys.flags.hash_randomization:
        return True
    return _STARTUP_HASHSEED not in (None, "", "random")


def active_seeds() -> Seeds | None:
    """The :class:`~keras_seeds.Seeds` of the last :func:`seed_everything` call.

    ``None`` if nothing in this process has been seeded by keras-seeds.

    Example:

    >>> import keras_seeds as ks
    >>> _ = ks.seed_everything(3)
    >>> ks.active_seeds().master
    3
    """
    return _active


def seed_everything(seed: "int | Seeds | None" = None, *, verbose: bool = True) -> int:
    """Seeds Python, NumPy, TensorFlow and Keras from one master seed.

    Call it before building the model: Keras fixes weight initialisers and
    Dropout seeds when layers are constructed.

    Args:
        seed: master seed, an int in ``[0, 2**32 - 1]``, or a
            :class:`~keras_seeds.Seeds` with pinned sub-seeds. ``None`` draws a
            fresh master seed from OS entropy, prints it once and records it
            (see :func:`active_seeds`), so the run stays repeatable.
        verbose: print the master seed when it was drawn at random.

    Returns:
        The master seed.

    Example:

    >>> import random, keras_seeds as ks
    >>> ks.seed_everything(42)
    42
    >>> a = random.random()
    >>> _ = ks.seed_everything(42)
    >>> a == random.random()
    True
    """
    global _active
    seeds = Seeds.coerce(seed)

    import keras
    import tensorflow as tf

    # keras.utils.set_random_seed seeds python, numpy and TF and resets Keras'
    # global SeedGenerator (which is re-drawn lazily from Python's random).
    keras.utils.set_random_seed(seeds.init)
    np.random.seed(seeds.data)
    tf.random.set_seed(seeds.data)
    random.seed(seeds.init)

    os.environ["PYTHONHASHSEED"] = str(seeds.master)
    if seeds.drawn and verbose and (_active is None or _active.master != seeds.master):
        print(f"keras-seeds: drew master seed {seeds.master} from OS entropy; "
              f"pass seed={seeds.master} to repeat this run.")
    _active = seeds
    return seeds.master


# The functions of Python's ``random`` module that draw from or reset its
# shared generator.
_RANDOM_FUNCTIONS = ("seed", "getstate", "setstate", "random", "uniform", "triangular",
                     "randint", "randrange", "choice", "choices", "sample", "shuffle",
                     "getrandbits", "randbytes", "gauss", "normalvariate", "lognormvariate",
                     "expovariate", "vonmisesvariate", "gammavariate", "betavariate",
                     "paretovariate", "weibullvariate", "binomialvariate")
_this_thread = threading.local()
_dispatch_lock = threading.Lock()
_shared: dict = {}  # name -> the random module's own function, once dispatch is on


def _per_thread(name: str):
    shared = _shared[name]

    def draw(*args, **kwargs):
        generator = getattr(_this_thread, "generator", None)
        return shared(*args, **kwargs) if generator is None else \
            getattr(generator, name)(*args, **kwargs)

    draw.__name__, draw.__doc__, draw.__wrapped__ = name, shared.__doc__, shared
    return draw


def _dispatch_random_per_thread() -> None:
    """Makes ``random.<function>`` draw from the calling thread's own generator
    while it builds under :func:`seeded_construction`, and from the shared one
    otherwise (once per process). Other threads of the process (a Dask
    worker's event loop, a notebook's) may draw from the shared generator at
    any moment: seeding it would let them shift a model's weights."""
    with _dispatch_lock:
        if _shared:
            return
        for name in _RANDOM_FUNCTIONS:
            if hasattr(random, name):
                _shared[name] = getattr(random, name)
        for name in _shared:
            setattr(random, name, _per_thread(name))


@contextlib.contextmanager
def seeded_construction(init_seed: int):
    """Builds what is constructed inside under ``init_seed``, then restores state.

    Seeds what Keras draws from when layers are created (Python's ``random``,
    NumPy's global generator, Keras' global ``SeedGenerator``) and puts the
    previous states back on exit, so building seed replicas does not disturb
    the caller's random streams. Python's ``random`` is seeded for this thread
    alone (a generator of its own, the same draws as ``random.seed(init_seed)``
    gives): what other threads draw meanwhile changes nothing here.

    Example:

    >>> import keras
    >>> def kernel(seed):
    ...     with seeded_construction(seed):
    ...         layer = keras.layers.Dense(2)
    ...         layer.build((None, 3))
    ...     return layer.kernel.numpy()
    >>> bool((kernel(1) == kernel(1)).all()), bool((kernel(1) == kernel(2)).all())
    (True, False)
    """
    from keras_seeds._internal import keras as private

    _dispatch_random_per_thread()
    saved_keras = private.keras_global_seed_state()
    saved_numpy = np.random.get_state()
    saved_generator = getattr(_this_thread, "generator", None)
    try:
        _this_thread.generator = random.Random(init_seed)
        np.random.seed(init_seed)
        private.set_keras_global_seed(init_seed)
        yield
    finally:
        _this_thread.generator = saved_generator
        np.random.set_state(saved_numpy)
        private.restore_keras_global_seed(saved_keras)
