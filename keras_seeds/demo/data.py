"""Bundled data and models for demos, examples and tests: scikit-learn's digits
(nothing is downloaded) and two small Keras models for them."""

from __future__ import annotations


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


def digits_data():
    """:func:`load_digits_split` with split seed 0: a data loader for the
    command line (``--data keras_seeds.demo:digits_data``).

    Example:

    >>> (x_train, y_train), (x_val, y_val) = digits_data()
    >>> x_val.shape
    (360, 64)
    """
    return load_digits_split(0)


def digits_xy():
    """All of scikit-learn's bundled digits, scaled to [0, 1], unsplit: ``(x, y)``
    for the library to split (``keras-seeds attribute --validation-split``).

    Example:

    >>> x, y = digits_xy()
    >>> x.shape, y.shape
    ((1797, 64), (1797,))
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16.0).astype("float32"), digits.target.astype("int32")


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
