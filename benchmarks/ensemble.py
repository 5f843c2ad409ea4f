"""A K-replica SeedEnsemble against one member: serving latency, throughput and size.

Trains a ``SeededModel`` of the digits MLP (64-64 relu-Dropout 0.2-10) briefly,
takes ``model.ensemble()`` (the fused form) and replica 0 as the lone member,
and measures, as ratios ensemble / member:

- Keras: ``predict_on_batch`` latency at batch 1 and throughput at batch 256;
- SavedModel (``export``, without XLA by default), loaded in a fresh process
  that imports only TensorFlow: ``serve`` latency at batch 1 and throughput at
  batch 256, against the member as ``keras.Model.export`` writes it; and the
  XLA opt-in (``export(jit_compile=True)``) against the member compiled with
  XLA too;
- SavedModel size on disk, whole and variables only, against K x the member's.

Ensemble and member calls are interleaved in rounds and each figure is the
median over rounds, so both see the same machine load.

Usage::

    python benchmarks/ensemble.py               # K=8
    python benchmarks/ensemble.py --replicas 8 32 --rounds 5
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SERVE_WORKER = r"""
import json, sys, time
import numpy as np
import tensorflow as tf

paths, rounds, calls = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
models = {name: tf.saved_model.load(path) for name, path in paths.items()}
rng = np.random.default_rng(0)
inputs = {1: tf.constant(rng.random((1, 64), dtype=np.float32)),
          256: tf.constant(rng.random((256, 64), dtype=np.float32))}
print(json.dumps(__timings__(lambda name, x: models[name].serve(x), list(models), inputs,
                             rounds, calls)))
assert "keras_seeds" not in sys.modules
"""


def timings(call, names: list, inputs: dict, rounds: int, calls: int) -> dict:
    """Median seconds per call, per (model, batch size), over interleaved rounds."""
    for name in names:
        for x in inputs.values():
            for _ in range(20):
                call(name, x)  # warm up: tracing, allocations
    samples = {f"{name}@{batch}": [] for name in names for batch in inputs}
    for _ in range(rounds):
        for batch, x in inputs.items():
            n = calls if batch == 1 else max(calls // 20, 10)
            for name in names:
                start = time.perf_counter()
                for _ in range(n):
                    call(name, x)
                samples[f"{name}@{batch}"].append((time.perf_counter() - start) / n)
    return {key: float(np.median(values)) for key, values in samples.items()}


def size(path: Path, only: str | None = None) -> int:
    root = path / only if only else path
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", nargs="+", type=int, default=[8])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=300, help="batch-1 calls per round")
    parser.add_argument("--json", help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import keras
    import tensorflow as tf
    from sklearn.datasets import load_digits

    import keras_seeds as ks
    from keras_seeds.demo import digits_mlp

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    print(f"digits MLP, cpu count {os.cpu_count()}, TensorFlow {tf.__version__}, "
          f"Keras {keras.__version__}; medians of {args.rounds} interleaved rounds")
    results = {}
    for k in args.replicas:
        model = ks.SeededModel(digits_mlp, replicas=k, seed=0)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)
        ensemble, member = model.ensemble(), model.replica(0)
        with tempfile.TemporaryDirectory() as tmp:
            paths = {name: Path(tmp) / name for name in ("ensemble", "member", "ensemble_xla",
                                                         "member_xla")}
            ensemble.export(paths["ensemble"])  # the default: no XLA, serves everywhere
            ensemble.export(paths["ensemble_xla"], jit_compile=True)  # the opt-in
            member.export(paths["member"], verbose=False)  # Keras' export, as users do
            member_xla = keras.export.ExportArchive()  # the member compiled the same way
            member_xla.track(member)
            member_xla.add_endpoint("serve", tf.function(
                lambda batch: member(batch, training=False),
                input_signature=[tf.TensorSpec((None, 64), tf.float32)], jit_compile=True))
            member_xla.write_out(paths["member_xla"], verbose=False)

            keras_inputs = {1: x[:1], 256: x[:256]}
            keras_models = {"ensemble": ensemble, "member": member}
            in_keras = timings(lambda name, batch: keras_models[name].predict_on_batch(batch),
                               list(keras_models), keras_inputs, args.rounds, args.calls)
            # The worker gets the same timing function, as source, and nothing else.
            worker = ("import numpy as np, time\n" + inspect.getsource(timings)
                      + SERVE_WORKER.replace("__timings__", "timings"))
            out = subprocess.run(
                [sys.executable, "-c", worker, json.dumps({k: str(v) for k, v in paths.items()}),
                 str(args.rounds), str(args.calls)],
                capture_output=True, text=True, check=True)
            served = json.loads(out.stdout.strip().splitlines()[-1])
            sizes = {name: (size(path), size(path, "variables")) for name, path in paths.items()}

        results[k] = {"keras": in_keras, "savedmodel": served, "bytes": sizes}
        print(f"\nK={k} ensemble vs one member")
        print("                         | member        | ensemble      | ensemble/member")
        for label, figures, member_name, ensemble_name in (
                ("Keras", in_keras, "member", "ensemble"),
                ("SavedModel", served, "member", "ensemble"),
                ("XLA, both", served, "member_xla", "ensemble_xla")):
            m1, e1 = figures[f"{member_name}@1"], figures[f"{ensemble_name}@1"]
            m256, e256 = figures[f"{member_name}@256"], figures[f"{ensemble_name}@256"]
            print(f"{label:13s} batch 1   | {m1 * 1e6:9.0f} us  | {e1 * 1e6:9.0f} us  | "
                  f"{e1 / m1:6.2f}x latency")
            print(f"{label:13s} batch 256 | {256 / m256:9.0f} /s  | {256 / e256:9.0f} /s  | "
                  f"{(256 / e256) / (256 / m256):6.2f}x throughput")
        (m_all, m_vars), (e_all, e_vars) = sizes["member"], sizes["ensemble"]
        sizes_note = "(the member as Keras exports it)"
        print(f"SavedModel size: ensemble {e_all / 1024:.1f} KiB, member {m_all / 1024:.1f} KiB; "
              f"ensemble / (K x member) = {e_all / (k * m_all):.3f} whole, "
              f"{e_vars / (k * m_vars):.3f} variables only {sizes_note}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
