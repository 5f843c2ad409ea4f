"""A repeatable Keras run in one line: model.fit(x, y, callbacks=[SeedCallback()]) on digits.

    python examples/reproducible_fit.py 42      # run it twice: same hash both times
"""

import sys

import keras
from sklearn.datasets import load_digits

import keras_seeds as ks
from keras_seeds.records.fingerprint import weights_fingerprint

seed = int(sys.argv[1]) if len(sys.argv) > 1 else None
callback = ks.SeedCallback(seed, manifest=None)  # seeds everything: build the model after

digits = load_digits()
x, y = (digits.data / 16).astype("float32"), digits.target
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[callback])

print(ks.audit(model))
print("seed", callback.seed, "accuracy", round(history.history["accuracy"][-1], 4))
print("weights", weights_fingerprint(model))
