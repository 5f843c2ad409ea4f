"""Fused seed replicas vs sequential fits: wall time and peak memory, as ratios,
on the TensorFlow and JAX backends side by side.

For the digits MLP (64-64 relu-Dropout 0.2-10, Adam, batch 32) and a small CNN
(Conv2D + BatchNormalization + Dropout on the 8x8 digits), this measures:

- ``SeededModel`` with K = 1, 8, 32 replicas, one fused ``fit``;
- K plain Keras ``fit`` calls one after the other (what users do today);
  "mean plain" is their time divided by K, one fit's time averaged over K runs;

each in a fresh process, so peak memory (max RSS) belongs to one configuration;
short configurations run ``--repeat`` times and the fastest run counts.
Times include building and tracing, as a user pays them. Ratios are taken
within this one run, on the same machine, so they hold on a noisy machine where
absolute times do not.

Usage::

    python benchmarks/replicas.py                 # both backends, K = 1, 8, 32, 128
    python benchmarks/replicas.py --backend jax --strategy unrolled
    python benchmarks/replicas.py --epochs 1 --replicas 1 2 --models mlp   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

WORKER = r"""
import json, resource, sys, time
import numpy as np
import keras, keras_seeds as ks
from keras_seeds.demo import digits_cnn, digits_mlp
from sklearn.datasets import load_digits

kind, mode, replicas, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
strategy = sys.argv[5]
batch = 32
if kind == "resnet9":  # CIFAR-shaped random data (GPU figures; N and BS from the environment)
    import os
    rng = np.random.default_rng(0)
    n, batch = int(os.environ.get("N", 10000)), int(os.environ.get("BS", 512))
    x = rng.normal(size=(n, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, n).astype("int32")
else:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
if kind == "cnn":
    x = x.reshape(-1, 8, 8, 1)


def resnet9():
    # The ResNet-9 of ../shared/reference/jax_vmap_reference.py.
    L = keras.layers
    def block(x, channels, pool=False):
        x = L.Conv2D(channels, 3, padding="same", use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        return L.MaxPooling2D()(x) if pool else x
    inputs = keras.Input((32, 32, 3))
    x = block(inputs, 64); x = block(x, 128, True); x = L.Add()([x, block(block(x, 128), 128)])
    x = block(x, 256, True); x = block(x, 512, True); x = L.Add()([x, block(block(x, 512), 512)])
    outputs = L.Dense(10, activation="softmax")(L.GlobalMaxPooling2D()(x))
    return keras.Model(inputs, outputs)


build = {"mlp": digits_mlp, "cnn": digits_cnn, "resnet9": resnet9}[kind]

def compile_(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

state_bytes, chosen = 0, None
start = time.perf_counter()
if mode == "fused":
    model = ks.SeededModel(build, replicas=replicas, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], strategy=strategy)
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    chosen = model.fusing["strategy"]
    state_bytes = sum(np.asarray(v).nbytes for v in model.weights + model.optimizer.variables)
else:
    for seed in range(replicas):
        keras.utils.set_random_seed(seed)
        model = build()
        compile_(model)
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
        state_bytes = sum(np.asarray(v).nbytes for v in model.weights + model.optimizer.variables)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "state_bytes": state_bytes, "strategy": chosen,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(backend: str, kind: str, mode: str, replicas: int, epochs: int, repeat: int = 1,
        strategy: str = "auto") -> dict:
    """The fastest of ``repeat`` fresh-process runs (the least disturbed by other load)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0", KERAS_BACKEND=backend)
    results = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", WORKER, kind, mode, str(replicas),
                              str(epochs), strategy], capture_output=True, text=True, env=env,
                             check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(results, key=lambda r: r["seconds"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", nargs="+", default=["tensorflow", "jax"],
                        choices=["tensorflow", "jax"])
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"],
                        choices=["mlp", "cnn", "resnet9"],
                        help="resnet9: CIFAR-shaped random data, for GPUs (N, BS in the "
                             "environment; default 10000 and 512)")
    parser.add_argument("--replicas", nargs="+", type=int, default=[1, 8, 32, 128])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--strategy", default="auto",
                        choices=["auto", "vectorized", "unrolled"])
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per short configuration; the fastest counts (the K "
                             "sequential fits run once: they average over K fits)")
    parser.add_argument("--sequential-max", type=int, default=32,
                        help="above this K, K sequential fits are estimated as K times one "
                             "plain fit (marked ~) instead of run")
    parser.add_argument("--json", help="also write the raw figures to this file")
    args = parser.parse_args(argv)

    started = time.time()
    results = {}
    backends = args.backend
    print(f"epochs={args.epochs}, batch 32, digits (1797 samples); cpu count {os.cpu_count()}; "
          f"strategy={args.strategy}; best of {args.repeat} for single and fused runs; "
          f"backends {', '.join(backends)}")
    for kind in args.models:
        results[kind] = {}
        one, fused_one = {}, {}
        for backend in backends:
            one[backend] = run(backend, kind, "sequential", 1, args.epochs, args.repeat)
            results[kind][backend] = {"plain_fit_1": one[backend]}
            print(f"\n[{kind}, {backend}] one plain Keras fit: {one[backend]['seconds']:.2f} s, "
                  f"max RSS {one[backend]['max_rss_mb']:.0f} MB, model+optimizer state "
                  f"{one[backend]['state_bytes'] / 1024:.1f} KiB")
        header = ["   K"]
        for backend in backends:
            short = "tf" if backend == "tensorflow" else backend
            header += [f"{short} fused s", f"{short} seq s", f"{short} seq/fused",
                       f"{short} fused/K=1", f"{short} RSS fused/seq", f"{short} strategy"]
        if len(backends) == 2:
            header.append(f"fused {backends[1]}/{backends[0]}")
        print(f"\n[{kind}] " + " | ".join(header))
        for k in args.replicas:
            row, fused_seconds = [f"{k:4d}"], []
            for backend in backends:
                fused = run(backend, kind, "fused", k, args.epochs, args.repeat, args.strategy)
                if k == 1:
                    sequential, estimated = one[backend], False
                elif k <= args.sequential_max:
                    sequential, estimated = run(backend, kind, "sequential", k, args.epochs), False
                else:
                    sequential = {"seconds": k * one[backend]["seconds"],
                                  "max_rss_mb": one[backend]["max_rss_mb"]}
                    estimated = True
                fused_one.setdefault(backend, fused if k == 1 else run(
                    backend, kind, "fused", 1, args.epochs, args.repeat, args.strategy))
                results[kind][backend][f"K={k}"] = {"fused": fused, "sequential": sequential,
                                                    "sequential_estimated": estimated}
                mark = "~" if estimated else " "
                row += [f"{fused['seconds']:8.2f}", f"{mark}{sequential['seconds']:7.1f}",
                        f"{sequential['seconds'] / fused['seconds']:8.2f}",
                        f"{fused['seconds'] / fused_one[backend]['seconds']:8.2f}",
                        f"{fused['max_rss_mb'] / sequential['max_rss_mb']:8.2f}",
                        f"{fused.get('strategy') or '-':>10}"]
                fused_seconds.append(fused["seconds"])
            if len(fused_seconds) == 2:
                row.append(f"{fused_seconds[1] / fused_seconds[0]:8.2f}")
            print(" | ".join(row), flush=True)
    print(f"\ntotal {time.time() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
