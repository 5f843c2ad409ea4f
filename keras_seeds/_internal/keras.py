"""Every private Keras and TensorFlow name keras-seeds relies on, in one place.

Where public API can do a job, the package uses it; what is left is here, each
name looked up when this module is imported. If a Keras or TensorFlow release
renames one, ``import`` fails at once with :class:`MissingPrivateName`, naming
it and the versions keras-seeds is tested with, instead of training going
silently wrong (per-replica clipping turning back into one norm for all, say).
``tests/internal/test_keras_private.py`` pins each one to the versions CI runs (the
CI versions and, through ``tests/run_on_the_floor.sh``, the declared floor).

Imported only by modules that use Keras anyway (with the TensorFlow backend,
importing Keras starts TensorFlow).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from typing import Any

import keras

from keras_seeds import _versions

# Below the declared floor, one line saying so instead of a missing name.
_versions.require_supported()
TESTED_WITH = _versions.tested_range_text()


class MissingPrivateName(ImportError):
    """A private Keras/TensorFlow name keras-seeds needs is gone."""


def _missing(what: str) -> MissingPrivateName:
    return MissingPrivateName(
        f"keras-seeds needs {what}, which this Keras {keras.__version__} "
        f"(backend {keras.backend.backend()}) does not have; keras-seeds is tested with "
        f"{TESTED_WITH}. Install those versions, or report this at the keras-seeds issues.")


def _lookup(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise _missing(f"`{module}.{name}`") from None


def _require(owner: Any, attribute: str, what: str) -> None:
    if not hasattr(owner, attribute):
        raise _missing(f"`{what}.{attribute}`")


# ------------------------------------------------------------------- Keras
_global_state = _lookup("keras.src.backend.common", "global_state")
_GLOBAL_RANDOM_SEED = _lookup("keras.src.utils.rng_utils", "GLOBAL_RANDOM_SEED")
_GLOBAL_SEED_GENERATOR = _lookup("keras.src.random.seed_generator", "GLOBAL_SEED_GENERATOR")
DataLayer = _lookup("keras.src.layers.preprocessing.data_layer", "DataLayer")
get_input_signature = _lookup("keras.src.export.export_utils", "get_input_signature")
make_tf_tensor_spec = _lookup("keras.src.export.export_utils", "make_tf_tensor_spec")

_require(keras.layers.Layer, "_flatten_layers", "keras.layers.Layer")
_require(keras.Model, "_symbolic_build", "keras.Model")


def _check_instance_attributes() -> None:
    """Attributes Keras sets in ``__init__``/``compile``, checked on tiny objects
    with explicit names (no auto-name counter moves) and the caller's random
    streams put back (building a layer draws its seed from Python's ``random``)."""
    import random

    saved = random.getstate()
    try:
        dropout = keras.layers.Dropout(0.5, name="keras_seeds_check_dropout")
        for attribute in ("_seed_generators", "_trainable_variables",
                          "_non_trainable_variables"):
            _require(dropout, attribute, "keras.layers.Layer()")
        model = keras.Sequential([keras.Input((1,), name="keras_seeds_check_input"),
                                  keras.layers.Identity(name="keras_seeds_check_identity")],
                                 name="keras_seeds_check_model")
        model.compile(loss="mse")
        for attribute in ("_loss_tracker", "_losses_override", "_initial_epoch"):
            _require(model, attribute, "keras.Model()")
        _require(keras.metrics.MeanAbsoluteError(name="keras_seeds_check_mae"), "_direction",
                 "keras.metrics.Metric()")
    finally:
        random.setstate(saved)


_check_instance_attributes()


def keras_global_seed_state() -> list:
    """Keras' global seed and global SeedGenerator (what :func:`set_keras_global_seed`
    changes), to put back later."""
    return [_global_state.get_global_attribute(key)
            for key in (_GLOBAL_RANDOM_SEED, _GLOBAL_SEED_GENERATOR)]


def set_keras_global_seed(seed: int | None, generator=None) -> None:
    """Sets what ``keras.utils.set_random_seed`` sets for layers built later:
    the global seed, and the global SeedGenerator (``None``: made anew from
    the seed on first use)."""
    _global_state.set_global_attribute(_GLOBAL_RANDOM_SEED, seed)
    _global_state.set_global_attribute(_GLOBAL_SEED_GENERATOR, generator)


def restore_keras_global_seed(state: list) -> None:
    set_keras_global_seed(*state)


_UNINITIALIZED = "uninitialized_variables"


def uninitialized_variables() -> list:
    """The variables Keras will create on leaving its next stateless scope."""
    return list(_global_state.get_global_attribute(_UNINITIALIZED) or [])


@contextlib.contextmanager
def deferred_variables():
    """Variables created inside are left to their initializers (Keras'
    ``StatelessScope`` without initialization): no backend variable is made,
    reading one gives its initializer's value and writes stay in the scope.
    On exit they are dropped from Keras' list of variables to initialize, so
    nothing creates them later (inside a traced step, say)."""
    before = uninitialized_variables()
    try:
        with keras.StatelessScope(initialize_variables=False) as scope:
            yield scope
    finally:
        _global_state.set_global_attribute(_UNINITIALIZED, before)


def flatten_layers(model) -> list:
    """All layers of ``model``, itself and nested ones, in Keras' own order."""
    return list(model._flatten_layers(include_self=True, recursive=True))


def seed_generators_of(layer) -> list:
    """The SeedGenerators a layer owns (Dropout's, RandomFlip's, ...)."""
    return list(layer._seed_generators)


def own_variables(layer) -> list:
    """The variables a layer created itself (not its sublayers')."""
    return list(layer._trainable_variables) + list(layer._non_trainable_variables)


def symbolic_build(model, data_batch) -> None:
    """Builds ``model``'s compiled loss and metrics for data like ``data_batch``,
    as ``fit`` does before its first step."""
    model._symbolic_build(data_batch=data_batch)


def start_fit_at_epoch(model, epoch: int | None) -> None:
    """Makes the ``fit`` whose ``on_train_begin`` is running start at ``epoch``
    (``None``: at its ``initial_epoch``). Keras' fit reads this right after
    ``on_train_begin``; Keras' own ``BackupAndRestore`` resumes the same way."""
    model._initial_epoch = epoch


def loss_tracker(model):
    """The ``Mean`` metric in which ``fit`` tracks a compiled model's loss."""
    return model._loss_tracker


@contextlib.contextmanager
def losses_from_call(model, losses: list):
    """Makes ``model.losses`` (read by ``compute_loss``) the ``add_loss`` terms of
    a ``stateless_call``, as Keras' own stateless trainers do."""
    if not losses:
        yield
        return
    model._losses_override = list(losses)
    try:
        yield
    finally:
        model._losses_override = []


def metric_direction(metric) -> str | None:
    """``"up"`` or ``"down"`` as Keras' built-in metrics declare it, else ``None``."""
    return getattr(metric, "_direction", None)


# ------------------------------------------ Keras' fit, seen from a callback
def fit_frame_arguments(model) -> dict | None:
    """The arguments of the outermost ``model.fit`` call running on this
    thread, read from its frame (Keras hands callbacks no data; ``fit``'s
    parameter names are public API), or ``None`` outside ``fit``."""
    found = None
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
            found = frame.f_locals
        frame = frame.f_back
    return None if found is None else dict(found)


# The undocumented attributes of Keras' stock callbacks that decide what they
# do next (their on_train_begin resets them), by class.
STOCK_CALLBACK_STATE = (
    (keras.callbacks.EarlyStopping, ("wait", "stopped_epoch", "best", "best_weights",
                                     "best_epoch")),
    (keras.callbacks.ReduceLROnPlateau, ("wait", "cooldown_counter", "best")),
    (keras.callbacks.ModelCheckpoint, ("best",)),
)


def skip_batches(model, count: int) -> None:
    """Makes the next ``fit`` steps draw ``count`` batches from the data without
    training on them (the batches of the epoch a checkpoint had done), by
    standing in for ``model.train_function`` until they are drawn: Keras has
    no public way to start an epoch at a batch."""
    original = model.train_function
    per_call = int(getattr(model, "steps_per_execution", 1) or 1)
    remaining = count

    def skip_then_train(iterator):
        nonlocal remaining
        if remaining <= 0:
            return original(iterator)
        for _ in range(min(per_call, remaining)):
            next(iterator)
        remaining -= per_call
        if remaining <= 0:
            model.train_function = original
        return model.get_metrics_result()

    model.train_function = skip_then_train


# -------------------------------------------------------------- TensorFlow
def _tensorflow_names() -> dict:
    if keras.backend.backend() != "tensorflow":
        return {}
    return {
        "tf_config": _lookup("tensorflow.python.framework", "config"),
        "eager_context": _lookup("tensorflow.python.eager", "context"),
        "pfor": _lookup("tensorflow.python.ops.parallel_for", "pfor"),
        "array_ops": _lookup("tensorflow.python.ops", "array_ops"),
    }


_TF = _tensorflow_names()
if _TF:
    _require(_TF["tf_config"], "disable_op_determinism", "tensorflow.python.framework.config")
    _require(_TF["tf_config"], "is_op_determinism_enabled",
             "tensorflow.python.framework.config")
    _require(_TF["eager_context"], "global_seed", "tensorflow.python.eager.context")
    _require(_TF["eager_context"].context(), "clear_kernel_cache",
             "tensorflow.python.eager.context.context()")
    _require(_TF["pfor"], "RegisterPFor", "tensorflow.python.ops.parallel_for.pfor")
    _require(_TF["pfor"], "_pfor_converter_registry", "tensorflow.python.ops.parallel_for.pfor")


def disable_op_determinism() -> None:
    """The only off switch of ``tf.config.experimental.enable_op_determinism``."""
    _TF["tf_config"].disable_op_determinism()


def op_determinism_enabled() -> bool:
    return bool(_TF["tf_config"].is_op_determinism_enabled())


def tensorflow_global_seed() -> int | None:
    """The seed ``tf.random.set_seed`` set, or ``None``."""
    return _TF["eager_context"].global_seed()


def release_eager_kernels() -> None:
    """Drops TensorFlow's cache of eager kernels. It keeps one per op and
    attributes ever run eagerly, and grows by about 40 MB with each fused
    chunk of a sweep (its variables' shapes and initializers); the kernels are
    made again when needed. ``keras.backend.clear_session`` does this too, but
    also resets the user's global Keras state (dtype policy, names)."""
    if _TF:
        _TF["eager_context"].context().clear_kernel_cache()


def register_bitcast_vectorization() -> None:
    """Teaches ``tf.vectorized_map`` to vectorize ``Bitcast``, which it otherwise
    runs as a K-step loop inside every Dropout (Keras' stateless dropout bitcasts
    its seed). A bitcast acts on each element, so the stacked input is simply
    bitcast whole: exact, and one op instead of K."""
    pfor, array_ops = _TF["pfor"], _TF["array_ops"]
    if "Bitcast" in pfor._pfor_converter_registry:
        return

    @pfor.RegisterPFor("Bitcast")
    def _convert_bitcast(pfor_input):
        stacked = pfor_input.stacked_input(0)
        return pfor.wrap(array_ops.bitcast(stacked, pfor_input.get_attr("type")), True)


# ---------------------------------------------------------------------- JAX
def jax_devices_started() -> bool:
    """Whether JAX's XLA devices have started (after which XLA_FLAGS is read no
    more). JAX has no public way to ask without starting them."""
    import jax._src.xla_bridge as xla_bridge

    started = getattr(xla_bridge, "backends_are_initialized", None)
    if started is None:
        raise _missing("`jax._src.xla_bridge.backends_are_initialized`")
    return bool(started())


def jax_platform() -> str:
    """The platform of JAX's default device: ``cpu``, ``gpu`` (``cuda``) or ``tpu``."""
    import jax

    return jax.devices()[0].platform


# ------------------------------------------------ Keras' shuffle of arrays
def install_array_shuffle(shuffle, on_new_pipeline) -> str | None:
    """Routes the epoch permutation of Keras' own ``fit(x, y, shuffle=True)``
    on arrays (``ArrayDataAdapter``, TensorFlow backend) through
    ``shuffle(indices, keras_shuffle)``, which returns the pass's indices and
    may call ``keras_shuffle(indices)`` for Keras' own permutation; and calls
    ``on_new_pipeline()`` each time Keras builds such a pipeline (at the start
    of a ``fit``, before any callback hook).

    Keras builds that permutation into the epoch's ``tf.data`` pipeline
    before any callback runs; ``shuffle`` runs each time a pipeline iterator
    draws an epoch's order (so its TensorFlow variables, set by a callback,
    are read then). Keras 3.15 draws it with ``tf.random.shuffle`` inside
    ``ArrayDataAdapter.get_tf_dataset``; Keras 3.16 (keras-team/keras#23046)
    with ``ArrayDataAdapter._tf_shuffle``. Returns which of the two was
    routed, or ``None`` (with nothing changed) where neither applies: another
    backend, or a Keras whose adapter is neither.
    """
    if keras.backend.backend() != "tensorflow":
        return None
    try:
        module = importlib.import_module("keras.src.trainers.data_adapters.array_data_adapter")
        adapter = module.ArrayDataAdapter
    except (ImportError, AttributeError):
        return None
    installed = getattr(adapter, "_keras_seeds_shuffle", None)
    if installed is not None:
        installed[:] = [shuffle, installed[1], on_new_pipeline]
        return installed[1]
    if hasattr(adapter, "_tf_shuffle"):
        how = "ArrayDataAdapter._tf_shuffle"
        _route_tf_shuffle_method(adapter)
    elif _draws_with_tf_random_shuffle(adapter):
        how = "tf.random.shuffle in ArrayDataAdapter.get_tf_dataset"
        _route_get_tf_dataset(adapter)
    else:
        return None
    adapter._keras_seeds_shuffle = [shuffle, how, on_new_pipeline]
    return how


def _draws_with_tf_random_shuffle(adapter) -> bool:
    import inspect

    try:
        source = inspect.getsource(adapter.get_tf_dataset)
    except (OSError, TypeError):
        return False
    return "indices = tf.random.shuffle(indices)" in source


def _route_tf_shuffle_method(adapter) -> None:
    keras_method, keras_get_tf_dataset = adapter._tf_shuffle, adapter.get_tf_dataset

    def _tf_shuffle(self, tensors):
        if self._shuffle is not True:
            return keras_method(self, tensors)
        return adapter._keras_seeds_shuffle[0](tensors, lambda t: keras_method(self, t))

    def get_tf_dataset(self):
        if self._shuffle is True:
            adapter._keras_seeds_shuffle[2]()
        return keras_get_tf_dataset(self)

    adapter._tf_shuffle = _tf_shuffle
    adapter.get_tf_dataset = get_tf_dataset


def _route_get_tf_dataset(adapter) -> None:
    """Keras 3.15 calls ``tf.random.shuffle(indices)`` while ``get_tf_dataset``
    traces the pipeline's permutation function: for that call only (this
    thread, no explicit seed), the routed shuffle stands in for it."""
    import threading

    import tensorflow as tf

    keras_method = adapter.get_tf_dataset

    def get_tf_dataset(self):
        if self._shuffle is not True:
            return keras_method(self)
        adapter._keras_seeds_shuffle[2]()
        keras_shuffle, thread = tf.random.shuffle, threading.get_ident()

        def shuffle(value, seed=None, name=None):
            if threading.get_ident() != thread or seed is not None:
                return keras_shuffle(value, seed, name)
            return adapter._keras_seeds_shuffle[0](value, keras_shuffle)

        tf.random.shuffle = shuffle
        try:
            return keras_method(self)
        finally:
            tf.random.shuffle = keras_shuffle

    adapter.get_tf_dataset = get_tf_dataset
