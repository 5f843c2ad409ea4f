"""Models in the style of the keras-io examples, on bundled data, for the
replica tests. Each builder takes an optional ``probe = (steps, batch_size)``:
then it logs, inside the training step, the batches it receives and its random
draws (see ``probes.py``), and is otherwise the same model.

- ``conv1d_classifier``: keras-io "Timeseries classification from scratch"
  (Conv1D + BatchNormalization + ReLU three times, global pooling), on the
  digits read as 64-step series. Its convolutions keep their default bias
  before BatchNormalization.
- ``wide_and_deep``: keras-io's structured-data style: named inputs, numeric
  features through ``Normalization``, string and integer categories through
  ``StringLookup``/``IntegerLookup`` into one-hot (wide) and ``Embedding``
  (deep) branches, Dropout; on scikit-learn's wine with string features.
- ``LossVAE``: keras-io's VAE with its losses moved from ``train_step`` into
  ``compute_loss``; ``KerasIoVAE`` is the original, with its own ``train_step``.
"""

import keras
import numpy as np
from keras import layers, ops

from probes import InputRecorder, MaskRecordingDropout, _StepLog

# ----------------------------------------------------------------- Conv1D


def digits_series():
    """The digits as 64-step univariate series: ``(x, y), (x_held, y_held)``."""
    from keras_seeds.demo import load_digits_split

    (x, y), (x_held, y_held) = load_digits_split(0)
    return (x.reshape(-1, 64, 1), y), (x_held.reshape(-1, 64, 1), y_held)


def conv1d_classifier(probe=None):
    inputs = keras.Input((64, 1))
    h = InputRecorder(*probe, name="batches")(inputs) if probe else inputs
    for _ in range(3):
        h = layers.Conv1D(16, 3, padding="same")(h)
        h = layers.BatchNormalization()(h)
        h = layers.ReLU()(h)
    h = layers.GlobalAveragePooling1D()(h)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(h))


# ----------------------------------------------------------- wide and deep
NUMERIC = ("alcohol", "color_intensity", "proline")
CATEGORIES = {"acidity": ["low", "medium", "high"], "hue": ["pale", "amber", "ruby", "deep"]}


def wine_features():
    """scikit-learn's wine as a table with string and integer categories:
    ``(features, y), (held-out features, y)``; strings are NumPy object arrays."""
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order].astype("int32")

    def bucket(column, labels):
        edges = np.quantile(column, np.linspace(0, 1, len(labels) + 1)[1:-1])
        return np.array(labels, dtype=object)[np.digitize(column, edges)].reshape(-1, 1)

    features = {"alcohol": x[:, 0:1], "color_intensity": x[:, 9:10], "proline": x[:, 12:13],
                "acidity": bucket(x[:, 1], CATEGORIES["acidity"]),
                "hue": bucket(x[:, 10], CATEGORIES["hue"]),
                "ash_band": np.digitize(x[:, 2], np.quantile(x[:, 2], [0.33, 0.66]))
                .reshape(-1, 1).astype("int64")}
    features = {k: v.astype("float32") if v.dtype.kind == "f" else v
                for k, v in features.items()}
    split = 140
    return (({k: v[:split] for k, v in features.items()}, y[:split]),
            ({k: v[split:] for k, v in features.items()}, y[split:]))


def wide_and_deep(probe=None):
    (train, _), _ = wine_features()
    inputs = {name: keras.Input((1,), name=name) for name in NUMERIC}
    inputs.update({name: keras.Input((1,), name=name, dtype="string") for name in CATEGORIES})
    inputs["ash_band"] = keras.Input((1,), name="ash_band", dtype="int64")
    deep = []
    for name in NUMERIC:
        normalize = layers.Normalization()
        normalize.adapt(train[name])
        feature = inputs[name]
        if probe and name == "alcohol":
            feature = InputRecorder(*probe, name="batches")(feature)
        deep.append(normalize(feature))
    wide = []
    for name, vocabulary in CATEGORIES.items():
        index = layers.StringLookup(vocabulary=vocabulary)(inputs[name])
        wide.append(layers.CategoryEncoding(len(vocabulary) + 1, output_mode="one_hot")(index))
        deep.append(layers.Flatten()(layers.Embedding(len(vocabulary) + 1, 4)(index)))
    band = layers.IntegerLookup(vocabulary=[0, 1, 2])(inputs["ash_band"])
    wide.append(layers.CategoryEncoding(4, output_mode="one_hot")(band))
    deep = layers.Dense(16, activation="relu")(layers.concatenate(deep))
    deep = (MaskRecordingDropout(0.2, *probe, name="dropout_masks") if probe
            else layers.Dropout(0.2))(deep)
    merged = layers.concatenate([layers.concatenate(wide), deep])
    return keras.Model(inputs, layers.Dense(3, activation="softmax")(merged))


# --------------------------------------------------------------------- VAE
LATENT = 2


def sample(inputs, seed_generator):
    """keras-io's sampling: z = z_mean + exp(z_log_var / 2) * epsilon, epsilon ~ N(0, 1)."""
    z_mean, z_log_var = inputs
    epsilon = keras.random.normal(shape=ops.shape(z_mean), seed=seed_generator)
    return z_mean + ops.exp(0.5 * z_log_var) * epsilon, epsilon


class Sampling(layers.Layer):
    """keras-io's Sampling layer (its call takes no ``training``)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        return sample(inputs, self.seed_generator)[0]


class RecordingSampling(_StepLog):
    """Sampling that logs its epsilon draws in training."""

    def __init__(self, steps, batch_size, **kwargs):
        super().__init__(steps, batch_size, **kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def build(self, input_shape):
        self.build_log((LATENT,), "float32")

    def call(self, inputs, training=False):
        z, epsilon = sample(inputs, self.seed_generator)
        if training:
            self.write(epsilon)
        return z


def encoder_decoder(probe=None):
    encoder_inputs = keras.Input(shape=(8, 8, 1))
    h = InputRecorder(*probe, name="batches")(encoder_inputs) if probe else encoder_inputs
    h = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(h)
    h = layers.Dense(16, activation="relu")(layers.Flatten()(h))
    z_mean = layers.Dense(LATENT, name="z_mean")(h)
    z_log_var = layers.Dense(LATENT, name="z_log_var")(h)
    sampling = RecordingSampling(*probe, name="epsilon") if probe else Sampling()
    z = sampling([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
    latent_inputs = keras.Input(shape=(LATENT,))
    h = layers.Reshape((4, 4, 8))(layers.Dense(4 * 4 * 8, activation="relu")(latent_inputs))
    h = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(h)
    outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(h)
    return encoder, keras.Model(latent_inputs, outputs, name="decoder")


def vae_losses(x, reconstruction, z_mean, z_log_var):
    reconstruction_loss = ops.mean(ops.sum(
        keras.losses.binary_crossentropy(x, reconstruction), axis=(1, 2)))
    kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
    kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
    return reconstruction_loss + kl_loss, reconstruction_loss, kl_loss


class _VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def track(self, losses):
        for tracker, value in zip(self.metrics, losses):
            tracker.update_state(value)


class KerasIoVAE(_VAE):
    """keras-io's VAE: its own ``train_step`` with a GradientTape."""

    def train_step(self, data):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            losses = vae_losses(data, self.decoder(z), z_mean, z_log_var)
        grads = tape.gradient(losses[0], self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.track(losses)
        return {m.name: m.result() for m in self.metrics}


class LossVAE(_VAE):
    """The same VAE with its losses in ``compute_loss``: what SeededModel trains."""

    def call(self, inputs):
        z_mean, z_log_var, z = self.encoder(inputs)
        return self.decoder(z), z_mean, z_log_var

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        losses = vae_losses(x, *y_pred)
        self.track(losses)
        return losses[0]


def loss_vae(probe=None):
    return LossVAE(*encoder_decoder(probe))


def digits_images():
    """The digits as 8x8 images, no labels: ``(x,), (x_held,)``."""
    from keras_seeds.demo import load_digits_split

    (x, _), (x_held, _) = load_digits_split(0)
    return (x.reshape(-1, 8, 8, 1),), (x_held.reshape(-1, 8, 8, 1),)
