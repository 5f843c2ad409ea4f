"""Sources of the digits for SeededModel.fit beyond arrays (a PyDataset, a
generator), shared by tests/replicas/test_sources.py and the JAX run of
tests/scripts/jax_runs.py."""

import keras
import numpy as np

import keras_seeds as ks

from replica_runs import digits

SEEDS = [11, 22, 33]
BATCH = 32


def images():
    """The digits as uint8 pixels (0-16), as images from disk would come."""
    (x, y), (x_held, _) = digits("mlp")
    return (np.round(x * 16).astype("uint8")[:200], y[:200]), (
        np.round(x_held * 16).astype("uint8"))


def scaled_mlp():
    # keras-io's image models rescale inside the model: uint8 in, floats after.
    return keras.Sequential([keras.Input((64,)), keras.layers.Rescaling(1 / 16),
                             keras.layers.Dense(32, activation="relu"),
                             keras.layers.Dropout(0.2),
                             keras.layers.Dense(10, activation="softmax")])


class Digits(keras.utils.PyDataset):
    """keras-io's PyDataset shape: batch ``i`` is rows ``i*bs`` to ``(i+1)*bs``
    (the last shorter); records which batches were read."""

    def __init__(self, x, y, batch_size=BATCH, shrink_after_epoch=False):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.reads, self.epochs_ended = [], 0
        self.shrink_after_epoch = shrink_after_epoch

    def __len__(self):
        rows = len(self.x) - (BATCH if self.shrink_after_epoch and self.epochs_ended else 0)
        return -(-rows // self.batch_size)

    def __getitem__(self, index):
        self.reads.append(index)
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epochs_ended += 1


def fused(seeds, x, epochs=2, **fit_kwargs):
    model = ks.SeededModel(scaled_mlp, seeds=seeds)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, epochs=epochs, verbose=0, **fit_kwargs)
    return model


def replica_outputs(model, x_held):
    return np.stack([model.replica(k).predict(x_held, verbose=0)
                     for k in range(model.replicas)])


def batches(x, y):
    for start in range(0, len(x), BATCH):
        yield x[start:start + BATCH], y[start:start + BATCH]


def generator(x, y, epochs):
    for _ in range(epochs):
        yield from batches(x, y)
