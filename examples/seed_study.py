"""Does Dropout help the digits MLP, or is it seed luck? Eight seeds of each setup,
one fused fit each, and a verdict that accounts for seed noise.

    python examples/seed_study.py [OUT_DIR]     # writes with/without studies and a report
"""

import sys
from pathlib import Path

import keras

import keras_seeds as ks
from keras_seeds.demo import load_digits_splits

out = Path(sys.argv[1] if len(sys.argv) > 1 else "seed_study_example")
out.mkdir(parents=True, exist_ok=True)
train, val, test = load_digits_splits(0)


def mlp(dropout):
    def build():
        return keras.Sequential([
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(10, activation="softmax"),
        ])
    return build


studies = {}
for name, dropout in (("dropout", 0.3), ("no_dropout", 0.0)):
    # The same 8 seeds for both setups: replica i starts from the same weights.
    model = ks.SeededModel(mlp(dropout), replicas=8, seed=2026)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(*train, batch_size=32, epochs=10, validation_data=val, verbose=0)
    studies[name] = model.study(*val, test_data=test, history=history, name=name)
    studies[name].save(out / f"{name}.json")
    summary = studies[name].summary()
    print(f"{name:>10}: mean {summary['mean']:.4f}, std {summary['std']:.4f}, "
          f"range {summary['min']:.4f}-{summary['max']:.4f}, "
          f"best of 8 expected {studies[name].expected_max(8):.4f}")

comparison = ks.compare(studies["dropout"], studies["no_dropout"])
print("verdict:", comparison)
studies["dropout"].report(out / "dropout_report.md")
print("report:", out / "dropout_report.md")
