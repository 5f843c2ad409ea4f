"""Every random stream a training run carries, captured and put back exactly.

A run that is stopped and resumed continues bit for bit only if each stream
continues where it stopped: Python's ``random``, NumPy's global generator,
Keras' global seed and global ``SeedGenerator``, every ``SeedGenerator`` of
the model (Dropout, noise and augmentation layers: their states are not in the
model's saved weights, keras #19796), the pass counter of the array order
``SeedCallback`` gives Keras' ``fit``, and TensorFlow's global seed.
:func:`capture` reads them into a :class:`RunState` that survives a JSON round
trip; :func:`restore` writes them back. (TensorFlow's stateful random ops keep their state inside kernels; the
seeded code paths of keras-seeds use stateless ops only.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from keras_seeds.seeding.layer_randomness import seed_generators


@dataclass
class RunState:
    """The random streams of one run at one moment, as JSON-ready values."""

    python: list
    numpy: dict[str, Any]
    keras_global_seed: int | None
    keras_global_generator: list[int] | None
    generators: dict[str, list[int]]
    array_order: dict[str, Any] | None
    tensorflow_global_seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        # The fields hold JSON values already; dataclasses.asdict would deep-copy
        # the generator states, a third of a checkpoint's cost.
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunState:
        return cls(**values)


def _plain(value):
    """NumPy's generator state as JSON values (arrays as lists, scalars as numbers)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


def _generator_key(index: int, layer, kind: str) -> str:
    return f"{index}:{kind}:{layer.path}"


def capture(model=None) -> RunState:
    """The current state of every stream (``model``'s SeedGenerators included).

    Example:

    >>> import json, random, keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5, seed=1)])
    >>> state = capture(model)
    >>> first = random.random(), model.layers[0].seed_generator.next().numpy().tolist()
    >>> restore(RunState.from_dict(json.loads(json.dumps(state.to_dict()))), model)
    >>> (random.random(), model.layers[0].seed_generator.next().numpy().tolist()) == first
    True
    """
    import keras

    from keras_seeds._internal import keras as private
    from keras_seeds.data_order import keras_fit

    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    global_seed, global_generator = private.keras_global_seed_state()
    generators = {}
    if model is not None:
        for index, (kind, layer, generator) in enumerate(seed_generators(model)):
            generators[_generator_key(index, layer, kind)] = (
                generator.state.numpy().tolist())
    return RunState(
        python=[version, list(internal), gauss],
        numpy=_plain(numpy_state),
        keras_global_seed=global_seed,
        keras_global_generator=(None if global_generator is None
                                else global_generator.state.numpy().tolist()),
        generators=generators,
        array_order=keras_fit.state(),
        tensorflow_global_seed=(private.tensorflow_global_seed()
                                if keras.backend.backend() == "tensorflow" else None),
    )


def restore(state: RunState, model=None) -> None:
    """Puts every stream back where :func:`capture` read it. The model must have
    the SeedGenerators it had then (same layers, same order); otherwise a
    ``ValueError`` names the difference and nothing is changed."""
    import keras
    from keras import random as keras_random

    from keras_seeds._internal import keras as private
    from keras_seeds.data_order import keras_fit

    found = {} if model is None else {
        _generator_key(index, layer, kind): generator
        for index, (kind, layer, generator) in enumerate(seed_generators(model))}
    if model is not None and set(found) != set(state.generators):
        missing = sorted(set(state.generators) - set(found))
        extra = sorted(set(found) - set(state.generators))
        raise ValueError(
            "`model`: its SeedGenerators differ from the ones the run state was captured "
            f"from; missing: {missing or 'none'}, not in the state: {extra or 'none'}.")
    version, internal, gauss = state.python
    random.setstate((version, tuple(internal), gauss))
    numpy_state = dict(state.numpy)
    numpy_state["state"] = {**numpy_state["state"],
                            "key": np.array(numpy_state["state"]["key"], dtype=np.uint32)}
    np.random.set_state(numpy_state)
    generator = None
    if state.keras_global_generator is not None:
        generator = keras_random.SeedGenerator(seed=0, name="keras_seeds_restored_global")
        generator.state.assign(np.array(state.keras_global_generator, dtype="int64"))
    private.set_keras_global_seed(state.keras_global_seed, generator)
    for key, generator in found.items():
        generator.state.assign(np.array(state.generators[key],
                                        dtype=str(generator.state.dtype)))
    if state.array_order is not None:
        keras_fit.set_state(state.array_order)
    if (keras.backend.backend() == "tensorflow"
            and private.tensorflow_global_seed() != state.tensorflow_global_seed):
        # Only when it differs: setting it again would restart TensorFlow's
        # op-seed counter, which ops created later (a tf.data shuffle) draw from.
        import tensorflow as tf

        tf.random.set_seed(state.tensorflow_global_seed)
