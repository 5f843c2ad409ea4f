"""Does the test-set noise analysis see the distribution from 300 examples?

    python benchmarks/test_set_noise.py [SEEDS] [EPOCHS]

A classifier on sklearn's make_classification data (20 features, 2 classes,
5% flipped labels), 2,000 training examples, a 300-example validation set and
a 100,000-example held-out set standing in for the distribution; SEEDS (64)
seeds trained as fused replicas for EPOCHS (30) epochs. From the 300
validation examples alone, SeedStudy.noise() estimates the std between seeds
on the distribution with its 95% CI (Bonett's interval of the variance, less
the finite set's part: ``distribution_std_ci``) and the shares of the
observed variance; the script prints them next to what the
100,000 examples measure: the std of the seeds' accuracies there (and that
set's own distribution-wise estimate, which removes its small finite-set
part), and the std between seeds on the 300 examples, which is mostly the
finite set. Fixed seeds: the same figures on every run on one machine.
"""

import json
import sys

import numpy as np
from sklearn.datasets import make_classification

import keras_seeds as ks


def build():
    import keras

    return keras.Sequential([keras.Input((20,)), keras.layers.Dense(64, activation="relu"),
                             keras.layers.Dense(64, activation="relu"),
                             keras.layers.Dense(2, activation="softmax")])


def main(seeds: int = 64, epochs: int = 30) -> dict:
    x, y = make_classification(n_samples=102_300, n_features=20, n_informative=10,
                               n_redundant=4, flip_y=0.05, class_sep=0.8, random_state=0)
    x, y = x.astype("float32"), y.astype("int32")
    train, val, held_out = slice(0, 2000), slice(2000, 2300), slice(2300, None)
    model = ks.SeededModel(build, replicas=seeds, seed=2026)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[train], y[train], epochs=epochs, batch_size=64, verbose=0)
    study = model.study(x[val], y[val], metric="accuracy",
                        test_data=(x[held_out], y[held_out]))
    validation, distribution = study.noise(), study.noise(split="test")
    low, high = validation.distribution_std_ci
    held_out_std = float(np.std(study.test_scores, ddof=1))
    result = {
        "seeds": seeds, "epochs": epochs,
        "validation_examples": validation.examples,
        "held_out_examples": distribution.examples,
        "std_on_300": validation.observed_std,
        "independent_errors_std_on_300": validation.independent_errors_std,
        "distribution_std_from_300": validation.distribution_std,
        "distribution_std_ci_from_300": [low, high],
        "finite_set_share_on_300": validation.finite_set_share,
        "std_on_100000": held_out_std,
        "distribution_std_from_100000": distribution.distribution_std,
        "agrees": low <= held_out_std <= high,
        "std_on_300_over_std_on_100000": validation.observed_std / held_out_std,
        "sentence": validation.sentence(),
    }
    return result


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    result = main(*arguments)
    for name, value in result.items():
        print(f"{name:36} {value}")
    print(json.dumps(result))
