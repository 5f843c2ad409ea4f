"""A seed sweep end to end: the digits MLP over 1,000 seeds x 10 epochs.

Each part runs in a fresh process, so that each peak RSS is its own:

- *sweep N*: ``keras_seeds.sweep`` of the digits MLP (Dense 64, Dropout 0.2;
  1,437 training and 360 validation samples, batch 32, Adam, 10 epochs,
  validation every epoch) over seeds ``0..N-1`` into a new seed store, from
  the call to the returned study: building, training, evaluating, the
  ensemble's predictions and score, and the store's writes. Timed for N = 64
  and N = ``--seeds`` (1,000).
- *plain*: ``--plain`` sequential plain Keras fits of the same model with the
  same data and validation, each seeded with ``keras.utils.set_random_seed``,
  extrapolated to N seeds.

Printed: wall time and seeds per minute of each sweep, the extrapolation to
10,000 seeds, the speed-up over sequential plain fits, the peak RSS of the
N-seed sweep over the 64-seed one, and the highest RSS in each quarter of the
N-seed sweep's time (flat when memory does not climb chunk after chunk).

Usage::

    python benchmarks/sweep.py
    python benchmarks/sweep.py --seeds 1000 --plain 8 --replicas-per-job 128
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def _sweep(seeds: int, epochs: int, replicas_per_job) -> dict:
    import keras_seeds as ks
    from keras_seeds.demo import digits_mlp, load_digits_split

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        study = ks.sweep(digits_mlp, lambda: load_digits_split(0), seeds=range(seeds),
                         epochs=epochs, store=os.path.join(folder, "seeds.db"),
                         replicas_per_job=replicas_per_job, progress=False,
                         fit_kwargs={"batch_size": 32})
        seconds = time.perf_counter() - start
        size = os.path.getsize(os.path.join(folder, "seeds.db"))
    return {"seconds": seconds, "n": study.n, "mean": float(study.scores.mean()),
            "ensemble": study.ensemble_score, "store_bytes": size}


def _plain(fits: int, epochs: int) -> dict:
    import keras

    from keras_seeds.demo import digits_mlp, load_digits_split

    (x, y), validation = load_digits_split(0)
    times = []
    for seed in range(fits):
        start = time.perf_counter()
        keras.utils.set_random_seed(seed)
        model = digits_mlp()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, y, validation_data=validation, batch_size=32, epochs=epochs, verbose=0)
        model.evaluate(*validation, verbose=0)
        times.append(time.perf_counter() - start)
    return {"seconds": sum(times), "per_fit": sorted(times)[len(times) // 2]}


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _child(args) -> int:
    import resource
    import threading

    samples, done = [], threading.Event()

    def sample():  # the RSS once a second: does it climb chunk after chunk?
        while not done.wait(1.0):
            samples.append(_rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if args.part == "plain":
        result = _plain(args.plain, args.epochs)
    else:
        per_job = "auto" if args.replicas_per_job == "auto" else int(args.replicas_per_job)
        result = _sweep(int(args.part), args.epochs, per_job)
    done.set()
    sampler.join()
    # ru_maxrss is in KiB on Linux.
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["rss_by_quarter"] = [max(samples[int(len(samples) * q / 4):
                                            max(int(len(samples) * (q + 1) / 4), 1)] or [0])
                                for q in range(4)]
    print(json.dumps(result))
    return 0


def _run(part: str, args) -> dict:
    command = [sys.executable, __file__, "--part", part, "--epochs", str(args.epochs),
               "--plain", str(args.plain), "--replicas-per-job", str(args.replicas_per_job)]
    output = subprocess.run(command, check=True, capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--plain", type=int, default=8, help="sequential plain fits timed")
    parser.add_argument("--replicas-per-job", default="auto")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        return _child(args)

    import keras

    small, large, plain = _run("64", args), _run(str(args.seeds), args), _run("plain", args)
    sequential = plain["per_fit"] * args.seeds
    print(f"digits MLP, {args.epochs} epochs, batch 32, replicas_per_job="
          f"{args.replicas_per_job}, Keras {keras.__version__}, cpu count {os.cpu_count()}")
    print("        part | wall s | seeds/min | peak RSS MiB | notes")
    for name, n, result in (("sweep 64", 64, small), (f"sweep {args.seeds}", args.seeds, large)):
        print(f"{name:>12} | {result['seconds']:6.1f} | {60 * n / result['seconds']:9.0f} | "
              f"{result['peak_rss_mib']:12.0f} | mean accuracy {result['mean']:.4f}, ensemble "
              f"{result['ensemble']:.4f}, store {result['store_bytes'] / 2 ** 20:.1f} MiB")
    print(f"{'plain fits':>12} | {plain['seconds']:6.1f} | {60 / plain['per_fit']:9.0f} | "
          f"{plain['peak_rss_mib']:12.0f} | {args.plain} fits, median {plain['per_fit']:.2f} s")
    rate = args.seeds / large["seconds"]
    print(f"{args.seeds} seeds: {large['seconds'] / 60:.2f} min (target <= 3 min); "
          f"{args.seeds} sequential plain fits, extrapolated: {sequential / 60:.1f} min, "
          f"{sequential / large['seconds']:.1f}x the sweep")
    print(f"10,000 seeds, extrapolated: sweep {10000 / rate / 60:.1f} min, sequential plain fits "
          f"{plain['per_fit'] * 10000 / 3600:.1f} h")
    print(f"peak RSS, {args.seeds}-seed sweep / 64-seed sweep: "
          f"{large['peak_rss_mib'] / small['peak_rss_mib']:.2f} (target <= 1.5); highest RSS "
          f"in each quarter of the {args.seeds}-seed sweep: "
          f"{', '.join(f'{v:.0f}' for v in large['rss_by_quarter'])} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
