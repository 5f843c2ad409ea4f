"""Probe layers that record, inside the training step, what a replica sees.

Each probe keeps a log in non-trainable variables, so a SeededModel stacks it
per replica and carries it through the vectorized step like BatchNormalization
statistics. Writing a log row is a select (``where``), never arithmetic, so a
fused replica's log and its solo run's log are comparable bit for bit.

- :class:`InputRecorder`: an identity layer that logs every training batch it
  receives (the batch order, and the data each replica trains on);
- :class:`MaskRecordingDropout`: a Dropout that logs its keep mask (the random
  draws of the replica's noise stream).
"""

import keras
from keras import ops
from keras.src import backend


class _StepLog(keras.layers.Layer):
    """A layer with a log of ``steps`` rows of ``(batch_size, *features)``,
    written one row per training call."""

    def __init__(self, steps, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.steps, self.batch_size = steps, batch_size

    def build_log(self, feature_shape, dtype):
        self.step = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                    trainable=False, name="step")
        self.log = self.add_weight(shape=(self.steps, self.batch_size) + tuple(feature_shape),
                                   dtype=dtype, initializer="zeros", trainable=False,
                                   name="log")

    def write(self, row):
        """Writes ``row`` (a batch, padded with zeros to ``batch_size``) at the
        current step and moves to the next."""
        rank = len(self.log.shape)
        padding = [[0, self.batch_size - ops.shape(row)[0]]] + [[0, 0]] * (rank - 2)
        row = ops.pad(ops.cast(row, self.log.dtype), padding)
        # `.value`: JAX no longer converts a Keras variable passed to an op.
        here = ops.reshape(ops.equal(ops.arange(self.steps, dtype="int32"), self.step.value),
                           (self.steps,) + (1,) * (rank - 1))
        self.log.assign(ops.where(here, row[None], self.log.value))
        self.step.assign(self.step.value + 1)

    def get_config(self):
        return {**super().get_config(), "steps": self.steps, "batch_size": self.batch_size}


class InputRecorder(_StepLog):
    """Passes its input through; in training, logs each batch."""

    def build(self, input_shape):
        self.build_log(input_shape[1:], self.compute_dtype)

    def call(self, inputs, training=False):
        if training:
            self.write(inputs)
        return inputs


class MaskRecordingDropout(_StepLog):
    """Dropout at ``rate`` whose keep mask comes from its own SeedGenerator, as
    Keras' Dropout draws it, and is logged in training (1 kept, 0 dropped)."""

    def __init__(self, rate, steps, batch_size, **kwargs):
        super().__init__(steps, batch_size, **kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator()

    def build(self, input_shape):
        self.build_log(input_shape[1:], self.compute_dtype)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        scaled_mask = backend.random.dropout(ops.ones_like(inputs), self.rate,
                                             seed=self.seed_generator)
        self.write(ops.not_equal(scaled_mask, 0))
        return inputs * scaled_mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


def probed_digits_mlp(steps, batch_size):
    """``demo.digits_mlp`` with its batches and its Dropout masks logged."""
    return keras.Sequential([
        keras.Input((64,)),
        InputRecorder(steps, batch_size, name="batches"),
        keras.layers.Dense(64, activation="relu"),
        MaskRecordingDropout(0.2, steps, batch_size, name="dropout_masks"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def probed_digits_cnn(steps, batch_size, augmentation=None):
    """``demo.digits_cnn`` with its batches and its Dropout masks logged; with
    ``augmentation`` (layers), those layers come first and their output is
    logged too."""
    augmented = [] if augmentation is None else [
        *augmentation, InputRecorder(steps, batch_size, name="augmented")]
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        InputRecorder(steps, batch_size, name="batches"),
        *augmented,
        keras.layers.Conv2D(16, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(),
        MaskRecordingDropout(0.2, steps, batch_size, name="dropout_masks"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])


def logs_of(model, replica):
    """``{probe layer name: (steps, batch_size, ...) log}`` of one replica of a
    SeededModel (read from ``model.replica(replica)``, a standalone copy; probes
    in nested models included)."""
    def probes(layer):
        if isinstance(layer, _StepLog):
            yield layer
        for inner in getattr(layer, "layers", ()):
            yield from probes(inner)

    return {probe.name: keras.ops.convert_to_numpy(probe.log)
            for probe in probes(model.replica(replica))}
