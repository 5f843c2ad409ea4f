"""One-seed runs and exports on the JAX backend, for tests/test_jax_backend.py.

Usage (with KERAS_BACKEND=jax):
  python jax_runs.py callback [export DIRECTORY | sources]
    callback: SeedCallback(7) on the digits MLP, 2 epochs; prints the weights' sha256,
              History and manifest facts;
    export:   then a fused K=3 ensemble exported to DIRECTORY/ensemble, with the inputs
              (x.npy) and its predictions saved beside it; and two replicas trained on
              their own rows (fit(replica_rows=)) against solo runs on those rows;
    sources:  then K=3 replicas on a PyDataset (each its own batch order) against
              their solo runs, and on a generator (shared) against the arrays
              unshuffled (tests/sources_data.py).
"""

import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_seeds as ks  # noqa: E402
from keras_seeds.demo import digits_mlp, load_digits_split  # noqa: E402


def callback_run(directory: Path) -> dict:
    callback = ks.SeedCallback(7, manifest=directory / "manifest.json", verbose=0)
    (x, y), _ = load_digits_split(0)
    model = digits_mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[callback])
    manifest = json.loads((directory / "manifest.json").read_text())
    try:
        ks.enable_determinism(threads=2)
        threads_error = None
    except ValueError as error:
        threads_error = str(error)
    return {"backend": keras.backend.backend(),
            "sha256": hashlib.sha256(b"".join(np.asarray(w).tobytes()
                                              for w in model.get_weights())).hexdigest(),
            "loss": history.history["loss"],
            "manifest_backend": manifest["versions"]["backend"],
            "manifest_jax": manifest["versions"]["jax"],
            "manifest_determinism": manifest["determinism"]["op_determinism"],
            "xla_flags": manifest["environment"]["XLA_FLAGS"],
            "threads_error": threads_error}


def export(directory: Path) -> dict:
    (x, y), (x_held, _) = load_digits_split(0)
    model = ks.SeededModel(digits_mlp, seeds=[1, 2, 3])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    ensemble = model.ensemble(uncertainty=False)
    ensemble.export(directory / "ensemble")
    np.save(directory / "x.npy", x_held[:20])
    np.save(directory / "expected.npy", np.asarray(ensemble.predict(x_held[:20], verbose=0)))
    np.save(directory / "model_predict.npy", model.predict(x_held[:20], verbose=0))
    return {"backend": keras.backend.backend(), "fusing": model.fusing}


def replica_rows() -> dict:
    """Two replicas on their own rows (``fit(replica_rows=)``), unrolled, against
    solo runs on those rows: the largest weight difference of each."""
    (x, y), _ = load_digits_split(0)
    x, y = x[:400], y[:400]
    rng = np.random.default_rng(0)
    rows = np.stack([rng.permutation(400)[:300] for _ in range(2)])
    fused = ks.SeededModel(digits_mlp, seeds=[5, 6])
    fused.compile(optimizer="adam", loss="sparse_categorical_crossentropy", strategy="unrolled")
    fused.fit(x, y, epochs=2, batch_size=32, verbose=0, replica_rows=rows)
    gaps = []
    for k, seed in enumerate([5, 6]):
        alone = ks.SeededModel(digits_mlp, seeds=[seed])
        alone.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      strategy="unrolled")
        alone.fit(x[rows[k]], y[rows[k]], epochs=2, batch_size=32, verbose=0)
        gaps.append(max(float(np.abs(a - b).max()) for a, b in zip(
            fused.get_replica_weights(k), alone.get_replica_weights(0))))
    return {"gaps": gaps}


def sources_run() -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sources_data import BATCH, SEEDS, Digits, fused, generator, images, replica_outputs

    from keras_seeds.statistics import replica_solo_gap

    (x, y), x_held = images()
    together = fused(SEEDS, Digits(x, y), epochs=2)
    solo = np.stack([replica_outputs(fused([seed], Digits(x, y), epochs=2), x_held)[0]
                     for seed in SEEDS])
    streamed = fused(SEEDS, generator(x, y, 2), epochs=2, steps_per_epoch=-(-len(x) // BATCH))
    unshuffled = fused(SEEDS, x, epochs=2, y=y, batch_size=BATCH, shuffle=False)
    return {
        "gap": replica_solo_gap(replica_outputs(together, x_held), solo).tolist(),
        "orders": [together._parts.feed.batches.orders(epoch).tolist() for epoch in (0, 1)],
        "generator_is_unshuffled_arrays": all(
            np.array_equal(a, b) for k in range(len(SEEDS)) for a, b in zip(
                streamed.get_replica_weights(k), unshuffled.get_replica_weights(k))),
        "records": [model.seed_record()["control"]["data_order"]
                    for model in (together, streamed)]}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as temporary:
        result = callback_run(Path(temporary))
    if sys.argv[2:3] == ["export"]:
        result["export"] = export(Path(sys.argv[3]))
        result["replica_rows"] = replica_rows()
    elif sys.argv[2:3] == ["sources"]:
        result["sources"] = sources_run()
    print(json.dumps(result))
