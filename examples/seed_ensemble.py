"""Train 8 seeds of the digits MLP in one fit, then ship their average as one SavedModel.

    python examples/seed_ensemble.py [output directory]

Prints the ensemble's accuracy against its members', the examples the seeds disagree on
most, and then serves the exported SavedModel with TensorFlow alone (a fresh process
that does not import keras_seeds).
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

import keras_seeds as ks
from keras_seeds.demo import digits_mlp, load_digits_split

out_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
(x_train, y_train), (x_val, y_val) = load_digits_split(0)

model = ks.SeededModel(digits_mlp, replicas=8, seed=42)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=0)

ensemble = model.ensemble()                         # fused: one graph for the 8 replicas
members = model.evaluate_replicas(x_val, y_val)["accuracy"]
spread = ensemble.uncertainty(x_val)
accuracy = float(np.mean(spread["prediction"].argmax(axis=1) == y_val))
print(f"members' accuracy: mean {np.mean(members):.4f}, best {max(members):.4f}; "
      f"ensemble {accuracy:.4f}")
doubtful = np.argsort(-spread["disagreement"], kind="stable")[:3]
print("most disputed validation examples:",
      [(int(i), round(float(spread["disagreement"][i]), 3)) for i in doubtful])

path = os.path.join(out_dir, "digits_ensemble")
ensemble.export(path)
np.save(os.path.join(out_dir, "x.npy"), x_val[:5])
serve = f"""
import sys, numpy as np, tensorflow as tf
served = tf.saved_model.load({path!r})
x = np.load({os.path.join(out_dir, "x.npy")!r})
print("served classes:", served.serve(x).numpy().argmax(axis=1).tolist(),
      "keras_seeds loaded:", "keras_seeds" in sys.modules)
"""
print(subprocess.run([sys.executable, "-c", serve], capture_output=True, text=True,
                     check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout.strip())
print("in Keras:     ", ensemble.predict(x_val[:5], verbose=0).argmax(axis=1).tolist())
