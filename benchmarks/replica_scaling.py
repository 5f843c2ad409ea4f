"""How the wall time of one fused fit grows with the number of replicas K.

In one process (after a warm-up fit), fits of a fresh ``SeededModel`` with K=1
and with each larger K alternate for ``--rounds`` rounds; each fit is timed
from constructing the model (K ``build_fn`` calls) to the end of ``fit``, as a
user pays it. Printed: the median time per K and the median over rounds of
each round's ratio K / K=1 (rounds alternate, so both sides of a ratio see the
same machine load).

Default: the digits MLP (Dense 64, Dropout 0.2), the 1,437-sample digits
training split, Adam, batch 32, 10 epochs, K = 1 and 32.

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

    def fit(replicas: int) -> float:
        start = time.perf_counter()
        model = ks.SeededModel(digits_mlp, replicas=replicas, seed=0)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0)
        return time.perf_counter() - start

    fit(1)  # warm-up: TensorFlow's own one-time start-up costs
    times = {k: [] for k in [1] + args.replicas}
    for _ in range(args.rounds):
        for k in times:
            times[k].append(fit(k))
    print(f"digits MLP, {len(x)} samples, batch 32, {args.epochs} epochs, Keras "
          f"{keras.__version__}, cpu count {os.cpu_count()}; {args.rounds} alternating rounds")
    print("   K | median s | median of the rounds' K / K=1")
    for k, values in times.items():
        ratios = np.array(values) / np.array(times[1])
        print(f"{k:4d} | {np.median(values):8.2f} | {np.median(ratios):6.2f}  "
              f"(rounds: {' '.join(f'{r:.2f}' for r in ratios)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
