"""Plain Keras ``fit(x, y, shuffle=True)`` on arrays under ``SeedCallback``:
the order of every epoch's examples, as the model saw them.

Usage: ``python fit_order.py SEED:VARIANT [SEED:VARIANT ...]``; runs the
fits one after another in this process, as a user's script would, and prints one JSON line mapping each ``SEED:VARIANT`` to the
orders (the row indices of the examples, per epoch) and, computed
independently with TensorFlow's stateless shuffle, the orders the data seed
should give.

Variants:
  plain           Sequential digits MLP, validation_split, sample_weight
  initial_epoch   the same, fit(initial_epoch=2, epochs=4)
  dict            two named inputs given as a dict, class_weight
  keras316        Keras 3.16's array adapter (keras-team/keras#23046)
                  emulated: the permutation comes from ``_tf_shuffle``,
                  keyed by the epoch alone
  keras316_plain  the same, without SeedCallback: keras.utils.set_random_seed
  unreachable     an array adapter keras-seeds does not recognise
  interrupted     a SeedCallback fit that an exception ends in its first
                  epoch, then a plain fit with keras.utils.set_random_seed
                  (recorded: the plain fit)
keras316 and unreachable patch Keras' array adapter under keras-seeds: each
comes last in its process.
"""

import json
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np
import tensorflow as tf
from keras.src.trainers.data_adapters import array_data_adapter

import keras_seeds as ks
from keras_seeds.demo import load_digits_split
from keras_seeds.records import model_notes

from probes import InputRecorder


def main(seed: int, variant: str) -> dict:
    adapter = array_data_adapter.ArrayDataAdapter
    if variant != "keras316_plain":
        return _run(adapter, seed, variant)
    # It makes no SeedCallback, so nothing of keras-seeds is installed on top of
    # its patch: put Keras' adapter back for the next fit in this process.
    kept = {name: vars(adapter)[name] for name in ("_epoch", "_tf_shuffle", "get_tf_dataset")
            if name in vars(adapter)}
    try:
        return _run(adapter, seed, variant)
    finally:
        for name in ("_epoch", "_tf_shuffle", "get_tf_dataset"):
            if name in kept:
                setattr(adapter, name, kept[name])
            elif name in vars(adapter):
                delattr(adapter, name)


def _run(adapter, seed: int, variant: str) -> dict:

    if variant.startswith("keras316"):
        keras_get_tf_dataset = adapter.get_tf_dataset

        def _tf_shuffle(self, tensors):  # Keras 3.16's ArrayDataAdapter._tf_shuffle
            return tf.random.experimental.stateless_shuffle(
                tensors, seed=tf.cast(tf.stack([tf.convert_to_tensor(self._epoch), 0]), tf.int32))

        def get_tf_dataset(self):  # 3.15's pipeline, its permutation drawn as 3.16 draws it
            keras_shuffle = tf.random.shuffle
            tf.random.shuffle = lambda value, seed=None, name=None: self._tf_shuffle(value)
            try:
                return keras_get_tf_dataset(self)
            finally:
                tf.random.shuffle = keras_shuffle

        adapter._epoch = 0
        adapter._tf_shuffle = _tf_shuffle
        adapter.get_tf_dataset = get_tf_dataset
    elif variant == "unreachable":
        keras_get_tf_dataset = adapter.get_tf_dataset
        adapter.get_tf_dataset = lambda self: keras_get_tf_dataset(self)

    (x, y), _ = load_digits_split(0)
    x, y = x[:200], y[:200]
    n, batch_size, epochs, initial_epoch = len(x), 32, 3, 0
    if variant == "initial_epoch":
        epochs, initial_epoch = 4, 2
    train_n = n if variant == "dict" else int(n * 0.75)
    steps = (epochs - initial_epoch) * -(-train_n // batch_size)
    index = np.arange(n, dtype="float32")[:, None]


    def recorded_model(features):
        inputs = keras.Input((features,), name="pixels")
        hidden = InputRecorder(steps, batch_size, name="batches")(inputs)
        hidden = keras.layers.Dense(16, activation="relu")(hidden)
        hidden = keras.layers.Dropout(0.2)(hidden)
        return inputs, keras.layers.Dense(10, activation="softmax")(hidden)


    callbacks = []
    if variant == "interrupted":
        class Interrupt(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                raise KeyboardInterrupt

        inputs, output = recorded_model(65)
        interrupted = keras.Model(inputs, output)
        interrupted.compile("adam", "sparse_categorical_crossentropy")
        try:
            interrupted.fit(np.hstack([index, x]), y, epochs=2, verbose=0, callbacks=[
                ks.SeedCallback(seed + 1, manifest=None, verbose=0), Interrupt()])
        except KeyboardInterrupt:
            pass
    if variant in ("keras316_plain", "interrupted"):
        keras.utils.set_random_seed(seed)
    else:
        callbacks = [ks.SeedCallback(seed, manifest=None, verbose=0)]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if variant == "dict":
            pixels, output = recorded_model(65)
            row = keras.Input((1,), name="row")
            model = keras.Model({"pixels": pixels, "row": row},
                                keras.layers.Dense(10, activation="softmax")(
                                    keras.layers.Concatenate()([output, row])))
            model.compile("adam", "sparse_categorical_crossentropy")
            model.fit({"pixels": np.hstack([index, x]), "row": index}, y, batch_size=batch_size,
                      epochs=epochs, verbose=0, class_weight={c: 1.0 + c / 10 for c in range(10)},
                      callbacks=callbacks)
        else:
            inputs, output = recorded_model(65)
            model = keras.Model(inputs, output)
            model.compile("adam", "sparse_categorical_crossentropy")
            model.fit(np.hstack([index, x]), y, sample_weight=np.linspace(0.5, 1.5, n),
                      validation_split=0.25, batch_size=batch_size, epochs=epochs,
                      initial_epoch=initial_epoch, verbose=0, callbacks=callbacks)

    log = model.get_layer("batches").log.numpy()[:, :, 0].astype(int).ravel()
    per_epoch = -(-train_n // batch_size) * batch_size
    orders = []
    for epoch in range(epochs - initial_epoch):
        rows = log[epoch * per_epoch:(epoch + 1) * per_epoch]
        last = train_n - (-(-train_n // batch_size) - 1) * batch_size  # the partial batch
        orders.append(np.concatenate([rows[:per_epoch - batch_size],
                                      rows[per_epoch - batch_size:][:last]]).tolist())
    data_seed = ks.Seeds(seed).data
    expected = [tf.random.experimental.stateless_shuffle(
        tf.range(train_n, dtype=tf.int64), seed=[data_seed, epoch]).numpy().tolist()
        for epoch in range(initial_epoch, epochs)]
    return {
        "orders": orders, "expected": expected,
        "data_order": model_notes.read(model, "data_order"),
        "warnings": [str(w.message) for w in caught if "order" in str(w.message)],
    }


if __name__ == "__main__":
    print(json.dumps({spec: main(int(spec.split(":")[0]), spec.split(":")[1])
                      for spec in sys.argv[1:]}))
