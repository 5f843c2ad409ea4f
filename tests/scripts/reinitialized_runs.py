"""A model built from unseeded randomness, then trained with
``SeedCallback(7, reinitialize=True)``: prints the trained weights' hash and
what the audit says of the initialisation, as one JSON line.

Usage: ``python reinitialized_runs.py MODEL[:keep] [...]``; MODEL is ``unbuilt``
(a Sequential without ``keras.Input``), ``normalization`` (an adapted
``Normalization`` layer first) or ``lstm`` (``SpatialDropout1D`` and
``LSTM(dropout=..., recurrent_dropout=...)``, keras-io's text classifiers);
``:keep`` trains with ``reinitialize=False``. The runs go one after another in
this process (each draws its unseeded randomness afresh); the output is one
JSON object keyed by the arguments.
"""

import hashlib
import json
import os
import random
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_seeds as ks  # noqa: E402


def main(variant: str, reinitialize: bool) -> dict:
    # Layers draw their initializer seeds from these: different in every process.
    random.seed(os.urandom(8))
    np.random.seed(int.from_bytes(os.urandom(4), "little"))

    data = np.random.default_rng(0)
    if variant == "unbuilt":
        model = keras.Sequential([keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dropout(0.3), keras.layers.Dense(1)])
        x = data.normal(size=(64, 5)).astype("float32")
        y = data.normal(size=(64, 1)).astype("float32")
    elif variant == "normalization":
        x = data.normal(3, 2, size=(64, 5)).astype("float32")
        y = data.normal(size=(64, 1)).astype("float32")
        normalization = keras.layers.Normalization()
        normalization.adapt(x)
        model = keras.Sequential([keras.Input((5,)), normalization, keras.layers.Dense(8),
                                  keras.layers.Dense(1)])
    else:
        x = data.integers(0, 50, size=(64, 12))
        y = data.integers(0, 2, size=(64, 1)).astype("float32")
        model = keras.Sequential([
            keras.Input((12,)), keras.layers.Embedding(50, 8), keras.layers.SpatialDropout1D(0.2),
            keras.layers.LSTM(8, dropout=0.2, recurrent_dropout=0.2),
            keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "mse")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[
        ks.SeedCallback(7, reinitialize=reinitialize, manifest=None, verbose=0)])
    weights = b"".join(np.asarray(w).tobytes() for w in model.get_weights())
    initialisation = ks.audit(model).find("Weight initialisation")[0]
    return {
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "status": initialisation.status, "detail": initialisation.detail,
        "normalization_mean": (model.layers[0].mean.numpy().ravel().tolist()
                               if variant == "normalization" else None),
        "data_mean": x.mean(axis=0).tolist(),
    }


if __name__ == "__main__":
    print(json.dumps({spec: main(spec.split(":")[0], not spec.endswith(":keep"))
                      for spec in sys.argv[1:]}))
