"""The demo jobs behind ``keras-seeds demo`` and ``keras-seeds study``."""

from __future__ import annotations

import numpy as np

from keras_seeds.demo.data import digits_mlp, load_digits_split, load_digits_splits


def run_demo(seed=None, epochs: int = 5, manifest="auto", verbose: int = 0) -> dict:
    """Trains the digits MLP under ``SeedCallback`` and returns what it got.

    Returns a dict with the master seed, final validation accuracy, the SHA-256
    of the final weights (equal across runs of the same seed) and the manifest
    path.
    """
    import keras

    from keras_seeds.data_order.seeded_dataset import seeded_dataset
    from keras_seeds.records.fingerprint import weights_fingerprint
    from keras_seeds.run.seed_callback import SeedCallback

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
    the validation split. Writes ``<out>/study.json``, ``<out>/report.<format>``,
    ``<out>/manifest.json`` (seeds, training, environment) and the ensemble's
    SavedModel ``<out>/ensemble``.

    Returns:
        ``(study, seed, paths)``.
    """

    import keras

    from keras_seeds.replicas.model import SeededModel
    from keras_seeds.seeding.contract import Seeds, draw_seed
    from keras_seeds.sweeps.report import write_study_folder

    seed = draw_seed() if seed is None else seed
    train, val, test = load_digits_splits(Seeds(seed).split)
    model = SeededModel(digits_mlp, replicas=replicas, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(*train, batch_size=32, epochs=epochs, validation_data=val,
                        verbose=verbose)
    study = model.study(*val, test_data=test, history=history,
                        name=f"digits MLP, validation split, seed {seed}")
    paths = write_study_folder(study, out, model.ensemble(name="seed_ensemble"), {
        "kind": "keras-seeds study", "seed": seed,
        "model": "digits MLP (keras_seeds.demo.digits_mlp)",
        "training": {"epochs": epochs, "batch_size": 32, "optimizer": "adam",
                     "learning_rate": 1e-3, "data": "scikit-learn digits, 60/20/20 by the "
                     "split sub-seed"},
        "replicas": model.seed_record()}, report_format=report_format)
    return study, seed, paths
