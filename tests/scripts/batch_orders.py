"""Records the order in which fit() sees training examples, epoch by epoch.

Usage: python batch_orders.py SEED:SOURCE[:INITIAL_EPOCH] [...]
  SOURCE: "arrays" (seeded_dataset over arrays), "tfdata" (seeded_dataset over
  a tf.data.Dataset), "plain" (Keras' own fit(x, y, shuffle=True)), or
  "keras" (the same with keras.utils.set_random_seed instead of SeedCallback).
The fits run one after another in this process. Prints one JSON object: for
each argument, a list with, for each epoch, the example ids in the order seen.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_seeds as ks  # noqa: E402


class Recorder(keras.Model):
    """A linear model that records the example ids of every training batch."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.seen = []

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        x, _ = data
        self.seen.append(x[:, 0].numpy().astype(int).tolist())
        return super().train_step(data)


def main(seed, source, initial_epoch=0, epochs=4):
    if source == "keras":
        keras.utils.set_random_seed(seed)
        callbacks = []
    else:
        callbacks = [ks.SeedCallback(seed, manifest=None, verbose=0)]
    x = np.stack([np.arange(20), np.ones(20)], axis=1).astype("float32")
    y = np.zeros((20, 1), "float32")
    model = Recorder()
    model.compile("sgd", "mse", run_eagerly=True)
    if source == "arrays":
        data, kwargs = ks.seeded_dataset(x, y, batch_size=5), {}
    elif source == "tfdata":
        data = ks.seeded_dataset(tf.data.Dataset.from_tensor_slices((x, y)), batch_size=5)
        kwargs = {}
    else:
        data, kwargs = x, {"y": y, "batch_size": 5, "shuffle": True}
    model.fit(data, epochs=epochs, initial_epoch=initial_epoch, verbose=0,
              callbacks=callbacks, **kwargs)
    return [sum(model.seen[i:i + 4], []) for i in range(0, len(model.seen), 4)]


def run(spec: str) -> list:
    seed, source, *initial_epoch = spec.split(":")
    return main(int(seed), source, *(int(epoch) for epoch in initial_epoch))


if __name__ == "__main__":
    print(json.dumps({spec: run(spec) for spec in sys.argv[1:]}))
