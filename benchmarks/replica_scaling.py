"""How the wall time of one fused fit grows with the number of replicas K.

In one process (after a warm-up fit), fits of a fresh ``SeededModel`` with K=1
and with each larger K alternate for ``--rounds`` rounds; each fit is timed
from constructing the model (K ``build_fn`` calls) to the end of ``fit``, as a
user pays it. Printed: the median time per K and the median over rounds of
each round's ratio K / K=1 (rounds alternate, so both sides of a ratio see the
same machine load).

Default: the digits MLP (Dense 64, Dropout 0.2), the 1,437-sample digits
training split, Adam, batch 32, 10 epochs, K = 1 and 32.

Also printed: where each K's time goes, as medians over rounds: building the
model (its K members), compiling, the first epoch (which traces the step), the
later epochs, and the end of ``fit`` after the last epoch.

Usage::

    python benchmarks/replica_scaling.py
    python benchmarks/replica_scaling.py --replicas 8 32 --rounds 7 --epochs 10
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", nargs="+", type=int, default=[32])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import keras
    import numpy as np

    import keras_seeds as ks
    from keras_seeds.demo import digits_mlp, load_digits_split

    (x, y), _ = load_digits_split(0)

    class EpochEnds(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times = [time.perf_counter()]

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter())

    def fit(replicas: int) -> dict:
        start = time.perf_counter()
        model = ks.SeededModel(digits_mlp, replicas=replicas, seed=0)
        built = time.perf_counter()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        epochs = EpochEnds()
        model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0, callbacks=[epochs])
        end = time.perf_counter()
        ends = epochs.times
        return {"total": end - start, "build": built - start, "compile + start": ends[0] - built,
                "first epoch": ends[1] - ends[0], "later epochs": ends[-1] - ends[1],
                "end of fit": end - ends[-1]}

    fit(1)  # warm-up: TensorFlow's own one-time start-up costs
    phases = {k: [] for k in [1] + args.replicas}
    for _ in range(args.rounds):
        for k in phases:
            phases[k].append(fit(k))
    times = {k: [p["total"] for p in values] for k, values in phases.items()}
    print(f"digits MLP, {len(x)} samples, batch 32, {args.epochs} epochs, Keras "
          f"{keras.__version__}, cpu count {os.cpu_count()}; {args.rounds} alternating rounds")
    print("   K | median s | median of the rounds' K / K=1")
    for k, values in times.items():
        ratios = np.array(values) / np.array(times[1])
        print(f"{k:4d} | {np.median(values):8.2f} | {np.median(ratios):6.2f}  "
              f"(rounds: {' '.join(f'{r:.2f}' for r in ratios)})")
    names = [name for name in phases[1][0] if name != "total"]
    print("   K | " + " | ".join(f"{name:>15}" for name in names) + "   (median s)")
    for k, values in phases.items():
        print(f"{k:4d} | " + " | ".join(
            f"{np.median([p[name] for p in values]):15.3f}" for name in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
