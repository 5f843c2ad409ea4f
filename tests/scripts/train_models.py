"""Trains five kinds of Keras model under SeedCallback; prints a JSON summary.

Usage: python train_models.py SEED MODE[,MODE...]
  MODE "seeded": models are built after SeedCallback(SEED) seeds everything.
  MODE "reinit": models are built from unseeded, OS-random state, then
                 SeedCallback(SEED, reinitialize=True) re-draws their weights.
The modes run one after another in this process, as in a user's script.
Prints {mode: {model name: {"built": sha256, "weights": sha256, "history": {...}}}}
as JSON.
"""

import json
import os
import random
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_seeds as ks  # noqa: E402
from keras_seeds.records.fingerprint import weights_fingerprint  # noqa: E402


class NoisyScale(keras.layers.Layer):
    """A custom layer with its own weight and its own SeedGenerator."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get("random_normal")
        self.seed_generator = keras.random.SeedGenerator()

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1],), name="kernel",
                                      initializer=self.kernel_initializer)

    def call(self, x, training=False):
        if training:
            x = x + 0.1 * keras.random.normal(keras.ops.shape(x), seed=self.seed_generator)
        return x * self.kernel


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(32, activation="relu")
        self.noisy = NoisyScale()
        self.drop = keras.layers.Dropout(0.3)
        self.out = keras.layers.Dense(10)

    def call(self, x, training=False):
        return self.out(self.drop(self.noisy(self.hidden(x), training=training),
                                  training=training))


def mlp():
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                             keras.layers.Dropout(0.2), keras.layers.Dense(10)])


def cnn():
    return keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, padding="same"),
        keras.layers.BatchNormalization(), keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(), keras.layers.Dropout(0.25), keras.layers.Flatten(),
        keras.layers.Dense(10)])


def text_rnn():
    tokens = keras.Input((16,), dtype="int32")
    h = keras.layers.Embedding(17, 8)(tokens)
    h = keras.layers.GRU(8, return_sequences=True, dropout=0.1)(h)
    h = keras.layers.LSTM(8)(h)
    return keras.Model(tokens, keras.layers.Dense(10)(h))


def two_input():
    left, right = keras.Input((32,), name="left"), keras.Input((32,), name="right")
    a = keras.layers.Dense(16, activation="relu")(left)
    b = keras.layers.GaussianNoise(0.1)(keras.layers.Dense(16, activation="relu")(right))
    h = keras.layers.Dropout(0.2)(keras.layers.Concatenate()([a, b]))
    return keras.Model([left, right], keras.layers.Dense(10)(h))


def subclassed():
    model = Subclassed()
    model(np.zeros((1, 64), "float32"))
    return model


def data():
    digits = load_digits()
    x = (digits.data[:384] / 16).astype("float32")
    y = digits.target[:384]
    tokens = digits.data[:384, ::4].astype("int32")
    return {
        "mlp": (x, y), "cnn": (x.reshape(-1, 8, 8, 1), y), "text_rnn": (tokens, y),
        "two_input": ((x[:, :32], x[:, 32:]), y), "subclassed": (x, y),
    }


BUILDERS = {"mlp": mlp, "cnn": cnn, "text_rnn": text_rnn, "two_input": two_input,
            "subclassed": subclassed}


def main(seed, modes, names):
    print(json.dumps({mode: train(seed, mode, names) for mode in modes}))


def train(seed, mode, names):
    results = {}
    arrays = data()
    for name in names:
        if mode == "reinit":
            random.seed(os.urandom(16))  # built from OS-random state
            model = BUILDERS[name]()
            callback = ks.SeedCallback(seed, reinitialize=True, manifest=None, verbose=0)
        else:
            callback = ks.SeedCallback(seed, manifest=None, verbose=0)
            model = BUILDERS[name]()
        built = weights_fingerprint(model)
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        x, y = arrays[name]
        history = model.fit(ks.seeded_dataset(x, y, batch_size=64), epochs=2,
                            verbose=0, callbacks=[callback], shuffle=False)
        results[name] = {"built": built, "weights": weights_fingerprint(model),
                         "history": {k: [float(v) for v in vs]
                                     for k, vs in history.history.items()}}
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3:] or list(BUILDERS))
