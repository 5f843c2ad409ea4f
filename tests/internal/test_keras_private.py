"""The private Keras/TensorFlow names keras-seeds needs, pinned to the versions
CI runs, and the loud failure when one is gone."""

import os

import keras
import numpy as np
import tensorflow as tf

from keras_seeds import _versions
from keras_seeds._internal import keras as private

from conftest import run_python

# The versions CI's main run installs (.ci/run: pip install -e ".[test]").
CI_VERSIONS = {"keras": "3.15.1", "tensorflow": "2.21.0"}


def expected_versions() -> dict[str, str]:
    """The versions this run is supposed to have: the declared floor when
    tests/run_on_the_floor.sh runs it (it sets KERAS_SEEDS_EXPECTED_VERSIONS
    to the floor's pins), else CI's."""
    pins = os.environ.get("KERAS_SEEDS_EXPECTED_VERSIONS")
    if pins:
        return dict(pin.split("==") for pin in pins.split())
    return CI_VERSIONS


def test_the_run_has_the_versions_the_private_names_were_checked_against():
    # When CI moves to another Keras or TensorFlow, re-check every name in
    # keras_seeds/_internal/keras.py against it and run benchmarks/version_matrix.py,
    # then update these, keras_seeds/_versions.py and docs/versions.md.
    assert {"keras": keras.__version__, "tensorflow": tf.__version__} == expected_versions()
    assert private.TESTED_WITH == "Keras 3.13-3.15 and TensorFlow 2.16-2.21"
    for module, version in expected_versions().items():
        assert _versions.within_range(version, _versions.TESTED[module])


def test_each_private_name_does_what_keras_seeds_relies_on():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2),
                              keras.layers.Dropout(0.5)])
    assert [type(layer).__name__ for layer in private.flatten_layers(model)] == [
        "Sequential", "InputLayer", "Dense", "Dropout"]
    assert len(private.seed_generators_of(model.layers[1])) == 1
    assert [v.name for v in private.own_variables(model.layers[0])] == ["kernel", "bias"]
    assert private.metric_direction(keras.metrics.Accuracy()) == "up"
    assert private.metric_direction(keras.metrics.MeanSquaredError()) == "down"
    assert isinstance(keras.layers.RandomFlip(), private.DataLayer)

    model.compile(loss="mse", metrics=["mae"])
    private.symbolic_build(model, (np.zeros((2, 3), "float32"), np.zeros((2, 2), "float32"),
                                   None))
    assert private.loss_tracker(model).name == "loss"
    assert [m.name for m in model.metrics[1].metrics] == ["mae"]
    with private.losses_from_call(model, [tf.constant(2.0)]):
        assert float(model.losses[0]) == 2.0
    assert model.losses == []

    saved = private.keras_global_seed_state()
    private.set_keras_global_seed(7)
    assert private.keras_global_seed_state()[0] == 7
    private.restore_keras_global_seed(saved)
    assert private.keras_global_seed_state() == saved

    tf.random.set_seed(5)
    assert private.tensorflow_global_seed() == 5
    tf.config.experimental.enable_op_determinism()
    assert private.op_determinism_enabled()
    private.disable_op_determinism()
    assert not private.op_determinism_enabled()

    from keras_seeds.data_order import keras_fit

    assert keras_fit.install() == "tf.random.shuffle in ArrayDataAdapter.get_tf_dataset"

    before = tf.constant([1.0]) + 1.0
    private.release_eager_kernels()  # kernels are made again when needed
    assert float((tf.constant([1.0]) + 1.0)[0]) == float(before[0]) == 2.0

    private.register_bitcast_vectorization()
    seeds = tf.constant([[1, 2], [3, 4]], tf.int64)
    bitcast = tf.vectorized_map(lambda s: tf.bitcast(s, tf.int32), seeds)
    np.testing.assert_array_equal(bitcast, tf.bitcast(seeds, tf.int32))

    with private.deferred_variables():
        dense = keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(4))
        dense.build((None, 2))
        # Keras lists the deferred kernel under the name we clear (not a backend variable).
        assert any(v is dense.kernel for v in private.uninitialized_variables())
        kernel = dense.kernel.numpy()
    assert private.uninitialized_variables() == []
    np.testing.assert_array_equal(kernel, keras.initializers.GlorotUniform(4)((2, 3)))


def test_a_missing_private_name_fails_at_import_naming_it_and_the_tested_versions():
    code = """
import keras.src.export.export_utils as export_utils
del export_utils.make_tf_tensor_spec
try:
    import keras_seeds._internal.keras
except ImportError as error:
    print(type(error).__name__, "|", error)
"""
    out = run_python("-c", code).stdout
    assert out.startswith("MissingPrivateName | keras-seeds needs "
                          "`keras.src.export.export_utils.make_tf_tensor_spec`"), out
    assert "tested with Keras 3.13-3.15 and TensorFlow 2.16-2.21" in out


def test_fit_starts_at_the_epoch_set_in_on_train_begin():
    class StartAtTwo(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            private.start_fit_at_epoch(self.model, 2)

        def on_epoch_begin(self, epoch, logs=None):
            private.start_fit_at_epoch(self.model, None)

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    x, y = np.zeros((4, 3)), np.zeros((4, 1))
    assert model.fit(x, y, epochs=4, verbose=0, callbacks=[StartAtTwo()]).epoch == [2, 3]
    assert model.fit(x, y, epochs=2, verbose=0).epoch == [0, 1]


def test_the_private_jax_name_answers_whether_xla_started():
    # jax._src.xla_bridge.backends_are_initialized: False until JAX starts its
    # devices, True after (enable_determinism needs to know whether XLA_FLAGS is
    # still read; importing Keras on JAX starts them). In a process of its own.
    import jax

    assert jax.__version__.startswith("0.10."), jax.__version__
    code = ("import jax._src.xla_bridge as bridge, jax.numpy as jnp\n"
            "before = bridge.backends_are_initialized()\n"
            "jnp.zeros(1).block_until_ready()\n"
            "from keras_seeds._internal import keras as p\n"
            "print(before, p.jax_devices_started(), p.jax_platform())\n")
    result = run_python("-c", code, env={"KERAS_BACKEND": "jax"})
    assert result.stdout.split() == ["False", "True", "cpu"]


def test_fit_arguments_skipped_batches_and_stock_callback_state():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.arange(24, dtype="float32").reshape(8, 3), np.ones((8, 1), "float32")
    seen = {"batches": []}

    class Look(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["arguments"] = private.fit_frame_arguments(self.model)

        def on_epoch_begin(self, epoch, logs=None):
            private.skip_batches(self.model, 2)  # of 4 batches, 2 are drawn untrained

        def on_train_batch_begin(self, batch, logs=None):
            seen["batches"].append(batch)

    before = model.get_weights()
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, callbacks=[Look()])
    assert seen["arguments"]["x"] is x and seen["arguments"]["batch_size"] == 2
    assert private.fit_frame_arguments(model) is None  # outside fit
    assert seen["batches"] == [0, 1, 2, 3]
    # Trained on the last two batches only: the same as a fit on them.
    skipped = model.get_weights()
    model.set_weights(before)
    model.fit(x[4:], y[4:], batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert [w.tobytes() for w in model.get_weights()] == [w.tobytes() for w in skipped]

    # The counters BackupAndRestore saves exist once on_train_begin has run.
    stock = {keras.callbacks.EarlyStopping: keras.callbacks.EarlyStopping(),
             keras.callbacks.ReduceLROnPlateau: keras.callbacks.ReduceLROnPlateau(),
             keras.callbacks.ModelCheckpoint: keras.callbacks.ModelCheckpoint("m.keras")}
    assert [kind for kind, _ in private.STOCK_CALLBACK_STATE] == list(stock)
    for kind, attributes in private.STOCK_CALLBACK_STATE:
        callback = stock[kind]
        callback.set_model(model)
        callback.on_train_begin()
        assert all(hasattr(callback, name) for name in attributes), kind
