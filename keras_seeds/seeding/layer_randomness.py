"""Where a built model keeps its randomness, and how to re-seed it.

Keras fixes two kinds of randomness when layers are constructed, before any
callback runs: weight initialisers (their seeds are drawn from Python's
``random``) and each layer's ``SeedGenerator`` (Dropout, GaussianNoise,
RandomFlip, ...). This module finds both in any model, nested models and
custom layers included, and re-seeds them from keras-seeds sub-seeds.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from keras_seeds.seeding.contract import derive_seed

# SeedGenerator -> the seed keras-seeds gave it (for audit()).
_reseeded: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

# Initializer attribute names whose variable name differs from the prefix.
_INITIALIZER_ATTRS = {"recurrent_kernel": "recurrent_initializer"}


def layers_of(model) -> list:
    """All layers of ``model``, itself and nested ones, in a stable order."""
    from keras_seeds._internal import keras as private

    return private.flatten_layers(model)


def is_augmentation(layer) -> bool:
    """Whether ``layer`` is a random augmentation layer (RandomFlip, ...)."""
    from keras_seeds._internal import keras as private

    return isinstance(layer, private.DataLayer) or type(layer).__name__.startswith("Random")


def seed_generators(model) -> Iterator[tuple[str, object, object]]:
    """Yields ``(kind, layer, generator)`` for every SeedGenerator in ``model``.

    ``kind`` is ``"augment"`` for augmentation layers, else ``"noise"``.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.5)])
    >>> [(kind, layer.name.split("_")[0]) for kind, layer, _ in seed_generators(model)]
    [('noise', 'dropout')]
    """
    from keras_seeds._internal import keras as private

    seen = set()
    for layer in layers_of(model):
        for generator in private.seed_generators_of(layer):
            if id(generator) in seen:
                continue
            seen.add(id(generator))
            yield ("augment" if is_augmentation(layer) else "noise"), layer, generator


def _seed_state(seed: int, dtype) -> np.ndarray:
    dtype = np.dtype(str(dtype))
    if dtype.kind == "i":
        seed %= 2 ** (8 * dtype.itemsize - 1)
    return np.array([seed, 0], dtype=dtype)


def reseed_generators(model, noise_seed: int, augment_seed: int) -> int:
    """Re-seeds every SeedGenerator in ``model``; returns how many.

    The k-th noise generator (in layer order) gets
    ``derive_seed(noise_seed, k)``, the k-th augmentation generator
    ``derive_seed(augment_seed, k)``: adding an augmentation layer leaves the
    Dropout streams unchanged, and the reverse.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.5)])
    >>> reseed_generators(model, noise_seed=1, augment_seed=2)
    1
    """
    counters = {"noise": 0, "augment": 0}
    bases = {"noise": noise_seed, "augment": augment_seed}
    for kind, _, generator in seed_generators(model):
        seed = derive_seed(bases[kind], counters[kind])
        counters[kind] += 1
        state = _seed_state(seed, generator.state.dtype)
        generator.state.assign(state)
        _reseeded[generator] = int(state[0])
    return sum(counters.values())


def generator_controlled(generator) -> bool:
    """Whether a SeedGenerator's stream is fixed by a seed, not by luck.

    True when keras-seeds re-seeded it, or when it was built with an explicit
    ``seed=`` argument.
    """
    given = _reseeded.get(generator)
    if given is not None:
        return int(np.asarray(generator.state.value)[0]) == given
    return generator.get_config().get("seed") is not None


def _seeded(initializer, seed: int):
    config = initializer.get_config()
    if "seed" not in config:
        return initializer
    return initializer.from_config({**config, "seed": seed})


def _initializer_for(layer, variable, seed: int):
    """The layer's initializer for ``variable``, re-seeded with ``seed``; ``None``
    for non-trainable state that no initializer made (statistics from
    ``adapt()``, lookup tables, counters)."""
    from keras import initializers

    name = variable.name
    attr = _INITIALIZER_ATTRS.get(name, f"{name}_initializer")
    initializer = getattr(layer, attr, None)
    if initializer is None:
        initializer = getattr(layer, f"_{attr}", None)
    if initializer is None:
        if not variable.trainable:
            return None
        raise ValueError(
            f"reinitialize=True cannot re-draw variable {variable.path!r} of "
            f"layer {layer.name!r} ({type(layer).__name__}): the layer has no "
            f"`{attr}` attribute to take its initializer from. Build the model "
            f"after keras_seeds.seed_everything(seed) instead (and keep "
            f"reinitialize=False), or store the initializer as `{attr}`."
        )
    initializer = _seeded(initializers.get(initializer), seed)
    if name == "bias" and getattr(layer, "unit_forget_bias", False):
        return _lstm_forget_bias(layer.units, initializer)
    return initializer


def _lstm_forget_bias(units: int, bias_initializer):
    # LSTMCell builds this bias as [b, ones, b, b]: the forget gate starts at 1.
    from keras import initializers, ops

    def initializer(shape, dtype=None):
        return ops.concatenate([
            bias_initializer((units,), dtype=dtype),
            initializers.get("ones")((units,), dtype=dtype),
            bias_initializer((units * 2,), dtype=dtype),
        ])

    return initializer


@dataclass
class Reinitialization:
    """What :func:`reinitialize_weights` did: the paths of the weights it
    re-drew, and of the state it kept because no initializer made it."""

    seed: int
    redrawn: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the manifest and the audit."""
        text = f"{len(self.redrawn)} weights re-drawn from the init sub-seed {self.seed}"
        if self.kept:
            text += (f"; kept as they were (state no initializer made: adapt() statistics, "
                     f"lookup tables, counters): {', '.join(self.kept)}")
        return text


def reinitialize_weights(model, init_seed: int) -> Reinitialization:
    """Re-draws every weight of ``model`` from its initializer.

    The i-th weight (in ``model.weights`` order) is drawn with seed
    ``derive_seed(init_seed, i)``, so the result depends only on the seed and
    the architecture. Non-trainable state that no initializer made
    (a ``Normalization`` layer's ``adapt()`` statistics, lookup tables,
    counters) is data, not initialisation: it is kept, and listed. Overwrites
    trained or pretrained weights: keras-seeds only calls it when asked
    (``SeedCallback(reinitialize=True)``).

    Example:

    >>> import keras, numpy as np
    >>> norm = keras.layers.Normalization()
    >>> norm.adapt(np.array([[1.0], [3.0]]))
    >>> model = keras.Sequential([keras.Input((1,)), norm, keras.layers.Dense(2)])
    >>> done = reinitialize_weights(model, init_seed=0)
    >>> len(done.redrawn), [path.split("/")[-1] for path in done.kept]
    (2, ['mean', 'variance', 'count'])
    >>> norm.mean.numpy().ravel().tolist()
    [2.0]
    """
    from keras_seeds._internal import keras as private

    index = {id(v): i for i, v in enumerate(model.weights)}
    done = Reinitialization(int(init_seed))
    for layer in layers_of(model):
        for variable in private.own_variables(layer):
            if id(variable) not in index:
                continue
            initializer = _initializer_for(
                layer, variable, derive_seed(init_seed, index.pop(id(variable))))
            if initializer is None:
                done.kept.append(variable.path)
                continue
            variable.assign(initializer(variable.shape, dtype=variable.dtype))
            done.redrawn.append(variable.path)
    return done
