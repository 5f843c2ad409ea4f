"""Fingerprints: short hashes that tell whether two runs saw the same things.

Arrays are hashed by dtype, shape and bytes (SHA-256); a ``tf.data`` pipeline
cannot be hashed without reading it, so only its element spec and size are
recorded, and the fingerprint says so.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from keras_seeds.data_order.seeded_dataset import pipeline_info
from keras_seeds.seeding import layer_randomness as generators


def array_fingerprint(array) -> dict[str, Any]:
    """SHA-256 of an array's dtype, shape and contents.

    Example:

    >>> fp = array_fingerprint(np.arange(3))
    >>> fp["shape"], fp["sha256"] == array_fingerprint(np.arange(3))["sha256"]
    ([3], True)
    """
    array = np.ascontiguousarray(np.asarray(array))
    digest = hashlib.sha256()
    digest.update(f"{array.dtype.str}|{array.shape}|".encode())
    if array.dtype.hasobject:
        digest.update(repr(array.tolist()).encode())
    else:
        digest.update(array.tobytes())
    return {"kind": "array", "dtype": array.dtype.str, "shape": list(array.shape),
            "sha256": digest.hexdigest()}


def fingerprint_data(data) -> dict[str, Any]:
    """Fingerprint of training data: arrays (nested), a seeded or a foreign dataset.

    Example:

    >>> fingerprint_data(None)
    {'kind': 'none'}
    >>> fingerprint_data({"a": np.zeros(2)})["kind"]
    'dict'
    """
    import tensorflow as tf

    if data is None:
        return {"kind": "none"}
    if isinstance(data, tf.data.Dataset):
        info = pipeline_info(data)
        if info is not None:
            return {"kind": "keras_seeds.seeded_dataset", "source": info.source,
                    "batch_size": info.batch_size,
                    "shuffle": info.shuffle, "contents": fingerprint_data(info.contents)}
        return {
            "kind": "tf.data",
            "element_spec": str(data.element_spec),
            "cardinality": int(data.cardinality()),
            "sha256": None,
            "note": "tf.data contents are not fingerprinted (reading them would "
                    "consume the pipeline); arrays or seeded_dataset(arrays) are.",
        }
    if isinstance(data, dict):
        return {"kind": "dict", "items": {str(k): fingerprint_data(v)
                                          for k, v in sorted(data.items())}}
    if isinstance(data, (list, tuple)):
        return {"kind": type(data).__name__,
                "items": [fingerprint_data(v) for v in data]}
    if hasattr(data, "__array__") or np.isscalar(data):
        return array_fingerprint(data)
    return {"kind": type(data).__name__, "sha256": None,
            "note": f"{type(data).__name__} inputs are not fingerprinted."}


def json_fingerprint(value) -> str:
    """SHA-256 of a JSON-serialisable value with sorted keys.

    Example:

    >>> json_fingerprint({"b": 1, "a": 2}) == json_fingerprint({"a": 2, "b": 1})
    True
    """
    text = json.dumps(value, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def weights_fingerprint(model) -> str:
    """SHA-256 over all of a model's weights, in order (bit-exact).

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> len(weights_fingerprint(model))
    64
    """
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def _without_names(config):
    """A layer config without the names Keras numbers, at every depth (nested
    models hold their layers' configs)."""
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, (list, tuple)):
        return [_without_names(v) for v in config]
    return config


def layer_descriptions(model) -> list[dict]:
    """Each layer of ``model`` (its own layers, nested ones included): class,
    config without Keras' numbered names, weight shapes and dtypes."""
    layers = []
    for layer in generators.layers_of(model)[1:]:
        try:
            config = _without_names(layer.get_config())
        except Exception:  # custom layers without get_config
            config = None
        layers.append({"class": type(layer).__name__, "config": config,
                       "weights": [[list(w.shape), str(w.dtype)] for w in layer.weights]})
    return layers


def architecture_fingerprint(model) -> str:
    """SHA-256 of the model's layers (class, config, weight shapes), without the
    names Keras numbers: the same model built twice has the same fingerprint."""
    return json_fingerprint(layer_descriptions(model))
