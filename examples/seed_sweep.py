"""Many seeds of a model, in fused chunks, into a resumable SQLite store; on this
process or on a local Dask cluster.

    python examples/seed_sweep.py [STORE]            # seeds.db by default
    python examples/seed_sweep.py STORE --dask       # the same sweep on 2 Dask workers
    python examples/seed_sweep.py STORE --dask tcp://HOST:8786   # on your Dask cluster

Run it again with the same store and nothing is trained twice: only the seeds missing
from the store are (kill it halfway and the rerun finishes the job). The same seeds
give the same rows on either engine (same hardware and library versions).
"""

import os
import sys

import keras
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import keras_seeds as ks


def load_data():
    """Breast-cancer data (scikit-learn's bundled copy), standardised: train, validation."""
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0,
                                                      stratify=y)
    scale = StandardScaler().fit(x_train)
    return ((scale.transform(x_train).astype("float32"), y_train),
            (scale.transform(x_val).astype("float32"), y_val))


def build_model():
    return keras.Sequential([
        keras.Input((30,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(2, activation="softmax"),
    ])


def main(store: str, dask) -> None:
    """``dask``: False (this process), True (a local cluster of 2 workers) or the
    address of a running Dask scheduler."""
    before = ks.SeedStudy.from_store(store).n if os.path.exists(store) else 0
    arguments = dict(seeds=range(48), epochs=5, replicas_per_job=16, store=store,
                     config="baseline", fit_kwargs={"batch_size": 32})
    if isinstance(dask, str):
        from distributed import Client

        with Client(dask) as client:
            study = ks.sweep(build_model, load_data, engine=client, **arguments)
    elif dask:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            study = ks.sweep(build_model, load_data, engine=client, **arguments)
    else:
        study = ks.sweep(build_model, load_data, **arguments)
    summary = study.summary()
    print(f"{study.n} seeds in {store} ({before} were there before this run)")
    print(f"val accuracy: mean {summary['mean']:.4f}, 95% CI {summary['mean_ci'][0]:.4f} to "
          f"{summary['mean_ci'][1]:.4f}, seeds {summary['min']:.4f} to {summary['max']:.4f}")
    print("black swans:", [outlier["seed"] for outlier in study.outliers()])


def parse(arguments: list) -> tuple:
    """The command line as ``main``'s arguments: ``(store, dask)``."""
    arguments = list(arguments)
    dask = "--dask" in arguments
    if dask:
        at = arguments.index("--dask")
        if at + 1 < len(arguments) and "://" in arguments[at + 1]:
            dask = arguments.pop(at + 1)   # a scheduler's address
        arguments.remove("--dask")
    return (arguments[0] if arguments else "seeds.db"), dask


if __name__ == "__main__":
    main(*parse(sys.argv[1:]))
