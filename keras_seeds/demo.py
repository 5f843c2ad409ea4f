"""The reproducible-training demo: a seeded digits MLP (``keras-seeds demo``)."""

from __future__ import annotations

import numpy as np


def load_digits_split(seed: int):
    """scikit-learn's bundled digits, scaled to [0, 1], split 80/20 by ``seed``.

    Example:

    >>> (x_train, y_train), (x_val, y_val) = load_digits_split(0)
    >>> x_train.shape, x_val.shape
    ((1437, 64), (360, 64))
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y)
    return (x_train, y_train), (x_val, y_val)


def load_digits_splits(seed: int):
    """scikit-learn's bundled digits, scaled to [0, 1], split 60/20/20 into
    train, validation and test by ``seed`` (stratified).

    Example:

    >>> train, val, test = load_digits_splits(0)
    >>> train[0].shape, val[0].shape, test[0].shape
    ((1077, 64), (360, 64), (360, 64))
    """
    from sklearn.model_selection import train_test_split

    (x_train, y_train), (x_rest, y_rest) = load_digits_split(seed)
    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=0.25, random_state=seed, stratify=y_train)
    return (x_train, y_train), (x_val, y_val), (x_rest, y_rest)


def digits_mlp():
    """The digits MLP used across keras-seeds: 64-64(relu)-Dropout(0.2)-10."""
    import keras

    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])


def digits_cnn():
    """A small CNN for the 8x8 digits: Conv2D + BatchNormalization + Dropout.

    Takes images shaped ``(8, 8, 1)`` (``x.reshape(-1, 8, 8, 1)``). The
    convolution has no bias: BatchNormalization cancels it, so its true
    gradient is zero and Adam would turn the rounding noise in its computed
    gradient into full-size steps (a weight that follows rounding, not the seed).
    """
    import keras

    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Dropout(0.2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])


def run_demo(seed=None, epochs: int = 5, manifest="auto", verbose: int = 0) -> dict:
    """Trains the digits MLP under ``SeedCallback`` and returns what it got.

    Returns a dict with the master seed, final validation accuracy, the SHA-256
    of the final weights (equal across runs of the same seed) and the manifest
    path.
    """
    import keras

    from keras_seeds.callback import SeedCallback
    from keras_seeds.fingerprint import weights_fingerprint
    from keras_seeds.shuffling import seeded_dataset

    callback = SeedCallback(seed, manifest=manifest)
    (x_train, y_train), (x_val, y_val) = load_digits_split(callback.seeds.split)
    model = digits_mlp()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        seeded_dataset(x_train, y_train, batch_size=32, seed=callback.seeds),
        validation_data=(x_val, y_val), epochs=epochs, verbose=verbose,
        callbacks=[callback], shuffle=False)
    return {
        "seed": callback.seed,
        "val_accuracy": float(np.round(history.history["val_accuracy"][-1], 4)),
        "weights_sha256": weights_fingerprint(model),
        "manifest": str(callback.manifest_path) if callback.manifest_path else None,
    }


def run_study(seed=None, replicas: int = 8, epochs: int = 20, out="keras-seeds-study",
              report_format: str = "md", verbose: int = 0):
    """Trains ``replicas`` seeds of the digits MLP in one fused fit and studies them.

    The data are split 60/20/20 by the master seed's ``split`` sub-seed; each
    replica is scored on the validation and the test split, and the ensemble on
    the validation split. Writes ``<out>/study.json`` and ``<out>/report.<format>``.

    Returns:
        ``(study, seed, paths)``.
    """
    import os

    import keras

    from keras_seeds.seeded_model import SeededModel
    from keras_seeds.seeds import Seeds, draw_seed

    seed = draw_seed() if seed is None else seed
    train, val, test = load_digits_splits(Seeds(seed).split)
    model = SeededModel(digits_mlp, replicas=replicas, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(*train, batch_size=32, epochs=epochs, validation_data=val,
                        verbose=verbose)
    study = model.study(*val, test_data=test, history=history,
                        name=f"digits MLP, validation split, seed {seed}")
    os.makedirs(out, exist_ok=True)
    paths = {"study": os.path.join(out, "study.json"),
             "report": os.path.join(out, f"report.{report_format}")}
    study.save(paths["study"])
    study.report(paths["report"])
    return study, seed, paths
