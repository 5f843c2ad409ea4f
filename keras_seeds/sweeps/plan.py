"""What a sweep will do, checked once before anything trains: the data's
splits, the compile and fit arguments, the sub-seeds pinned, an early discard,
the chunk size, and the configuration's definition (its key in the store)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from keras_seeds._validation import must_be
from keras_seeds.records.fingerprint import (
    architecture_fingerprint,
    fingerprint_data,
    json_fingerprint,
)
from keras_seeds.seeding.contract import SUBSEED_NAMES, check_seed

# Beyond this many fused replicas a seed costs no less on a CPU: the digits MLP
# sweep ran at 186 seeds/min in chunks of 32, 308 in chunks of 128, and chunks
# of 256 cost per seed what 128 do (docs/benchmarks.md); smaller chunks lose
# less to a kill and show progress more often.
_MOST_REPLICAS = 128
# A chunk's training state may take this share of the machine's memory.
_MEMORY_SHARE = 0.25


def splits_of(data) -> tuple:
    """``((x, y), (x_val, y_val))`` or with a third, test, split."""
    if callable(data):
        data = data()
    if (not isinstance(data, (tuple, list)) or len(data) not in (2, 3)
            or not all(isinstance(part, (tuple, list)) and len(part) == 2 for part in data)):
        raise TypeError("`data` must be ((x_train, y_train), (x_val, y_val)) (optionally a "
                        "third (x_test, y_test)), as keras.datasets loaders return it, or a "
                        f"function that returns that; received {type(data).__name__}.")
    return tuple(tuple(part) for part in data)


def whole_data(data) -> tuple:
    """``(x, y)``: data for the library to split (``validation_split``)."""
    import keras

    if callable(data):
        data = data()
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError("`data` must be (x, y), to be split per run by its split sub-seed "
                        "(`validation_split`), or a function that returns that; received "
                        f"{type(data).__name__}.")
    x, y = data
    y = np.asarray(y) if not isinstance(y, np.ndarray) else y
    sizes = {len(leaf) for leaf in keras.tree.flatten(x)} | {len(y)}
    if len(sizes) != 1:
        raise ValueError(f"`data`: x and y must hold the same number of examples; received "
                         f"{sorted(sizes)}.")
    return x, y


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2 ** 30


def replicas_per_chunk(member, batch_size: int, seeds: int) -> int:
    """How many replicas to fuse into one fit: at most 128 (beyond that a CPU
    gains nothing per seed), and few enough that the chunk's weights, optimizer slots,
    gradients and a batch of activations per replica fit in a quarter of the
    machine's memory. Depends only on the model and the machine, so a rerun cuts
    the seeds the same way."""
    weights = sum(int(np.prod(w.shape)) for w in member.weights)
    widest = max([int(np.prod(layer.output.shape[1:])) for layer in member.layers
                  if hasattr(layer, "output") and layer.output is not None] or [1])
    per_replica = 4 * (4 * weights + 3 * batch_size * widest * max(len(member.layers), 1))
    fits = int(_MEMORY_SHARE * _memory_bytes() // max(per_replica, 1))
    return max(1, min(_MOST_REPLICAS, fits, seeds))


def _described(value) -> Any:
    """A compile/fit argument as JSON that is the same in every process (a Keras
    object by its config, not by its address)."""
    import keras

    if isinstance(value, (list, tuple)):
        return [_described(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _described(v) for k, v in value.items()}
    if hasattr(value, "get_config"):
        return keras.saving.serialize_keras_object(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return getattr(value, "__qualname__", None) or repr(value)


DEFAULT_COMPILE = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
                   "metrics": ["accuracy"]}
_COMPILED = ("optimizer", "loss", "metrics", "loss_weights", "weighted_metrics")


def own_compile_kwargs(model) -> dict | None:
    """How ``model`` was compiled, as ``compile`` arguments (its optimizer, loss
    and metrics as Keras objects), or ``None`` when it is not compiled.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, "sigmoid")])
    >>> own_compile_kwargs(model) is None
    True
    >>> model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    >>> kwargs = own_compile_kwargs(model)
    >>> type(kwargs["optimizer"]).__name__, kwargs["loss"], kwargs["metrics"]
    ('SGD', 'binary_crossentropy', ['accuracy'])
    """
    import keras

    if not getattr(model, "compiled", False):
        return None
    config = model.get_compile_config() or {}
    return {name: keras.saving.deserialize_keras_object(value)
            if isinstance(value, dict) and "class_name" in value else value
            for name, value in config.items() if name in _COMPILED and value is not None}


def _comparable(model) -> dict:
    """A compiled model's compile settings as JSON, without the names Keras
    numbers per object (``adam_1``)."""
    config = {name: value for name, value in (model.get_compile_config() or {}).items()
              if name in _COMPILED}
    optimizer = config.get("optimizer")
    if isinstance(optimizer, dict):
        config["optimizer"] = {**optimizer, "config": {
            k: v for k, v in optimizer.get("config", {}).items() if k != "name"}}
    return _described(config)


def resolve_compile_kwargs(build_fn, compile_kwargs) -> dict:
    """How the seeds' models are compiled: ``compile_kwargs``; else the compile
    of the model ``build_fn`` returns, as Keras users expect of a compiled
    model; else Adam, sparse categorical cross-entropy and accuracy. Both given
    and different: refused."""
    import keras

    member = build_fn if isinstance(build_fn, keras.Model) else build_fn()
    own = own_compile_kwargs(member) if isinstance(member, keras.Model) else None
    if compile_kwargs is None:
        return own if own is not None else dict(DEFAULT_COMPILE)
    compile_kwargs = dict(compile_kwargs)
    if own is not None:
        given = keras.models.clone_model(member) if member is build_fn else build_fn()
        given.compile(**fresh_compile(compile_kwargs))
        if _comparable(given) != _comparable(member):
            described = {name: type(value).__name__ if name == "optimizer" else _described(value)
                         for name, value in own.items()}
            raise ValueError(
                f"`compile_kwargs`: build_fn returns a model compiled with {described}, and "
                f"compile_kwargs={compile_kwargs!r} differ from it. Pass "
                "compile_kwargs=None to train with the model's own compile, or return an "
                "uncompiled model.")
    return compile_kwargs


def fresh_compile(compile_kwargs: dict) -> dict:
    """The compile arguments with a new optimizer: an optimizer is built for one
    model's variables, and every chunk is a new model."""
    import keras

    optimizer = compile_kwargs.get("optimizer")
    if isinstance(optimizer, keras.optimizers.Optimizer):
        optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    return {**compile_kwargs, "optimizer": optimizer} if optimizer is not None else compile_kwargs


def numeric_values(per_replica: dict, ndim: int) -> dict:
    """The entries with one number per replica (``ndim`` 1; per epoch and
    replica, 2). A metric with a value per class (``F1Score(average=None)``)
    trains and logs as in Keras but is not kept in the store, whose scores and
    curves are numbers."""
    return {name: values for name, values in per_replica.items() if np.ndim(values) == ndim}


def config_definition(member, compile_kwargs, fit_kwargs, epochs, splits, metric) -> dict:
    return {
        # Layer classes, configs and weight shapes; not names (Keras numbers them).
        "architecture": architecture_fingerprint(member),
        "compile": _described(compile_kwargs),
        "fit": {"epochs": epochs, **_described(fit_kwargs)},
        "data": json_fingerprint([fingerprint_data(split) for split in splits]),
        "metric": metric,
    }


def check_pinned(pinned) -> dict[str, int]:
    """``pinned`` as ``{sub-seed name: seed}`` (``None`` is ``{}``).

    Example:

    >>> check_pinned({"data": 7}), check_pinned(None)
    ({'data': 7}, {})
    >>> check_pinned({"order": 7})
    Traceback (most recent call last):
    ...
    ValueError: `pinned` must be a dict {sub-seed name: seed} with names among init, data, noise, augment, split; received pinned={'order': 7}.
    """
    if pinned is None:
        return {}
    if not isinstance(pinned, dict) or not set(pinned) <= set(SUBSEED_NAMES):
        raise must_be("pinned", "a dict {sub-seed name: seed} with names among "
                      + ", ".join(SUBSEED_NAMES), pinned)
    return {name: check_seed(value, f"pinned[{name!r}]") for name, value in pinned.items()}


def check_discard(discard, epochs: int):
    """``discard`` as ``(after_epochs, fraction)``, or ``None``."""
    if discard is None:
        return None
    expected = (f"None or (after_epochs, fraction) with 1 <= after_epochs < epochs ({epochs}) "
                "and 0 < fraction < 1")
    if not isinstance(discard, (tuple, list)) or len(discard) != 2:
        raise must_be("discard", expected, discard)
    after, fraction = discard
    if (isinstance(after, bool) or not isinstance(after, (int, np.integer))
            or not 1 <= after < epochs or isinstance(fraction, bool)
            or not isinstance(fraction, (int, float, np.floating)) or not 0 < fraction < 1):
        raise must_be("discard", expected, discard)
    return int(after), float(fraction)


