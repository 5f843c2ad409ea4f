"""A user's module for ``keras-seeds study MODULE:BUILD_FN --data MODULE:LOAD_FN``
(``tests/test_cli.py``). Keras is imported inside the functions, so that bad
command lines fail before TensorFlow starts."""

import os
import sqlite3
import sys


def load():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    return (x[:256], y[:256]), (x[256:384], y[256:384])


def build():
    import keras

    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dropout(0.2),
                             keras.layers.Dense(10, activation="softmax")])


def build_paused():
    """``build``, but once the store holds the first chunk's rows, prints PAUSED
    and waits to be killed."""
    path = os.environ["SWEEP_STORE"]
    if os.path.exists(path):
        with sqlite3.connect(path) as connection:
            tables = connection.execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
            rows = connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] if tables else 0
        if rows >= 4:
            print("PAUSED", flush=True)
            sys.stdin.readline()
            raise SystemExit("not killed")
    return build()


def not_a_model():
    return [1, 2, 3]
