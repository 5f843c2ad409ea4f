"""What ``keras_seeds.BackupAndRestore`` costs per epoch of training.

In one process, fits with and without the callback alternate for ``--rounds``
rounds; a callback records the wall time of every epoch after the first
(each includes the checkpoints written in it). Printed per case: the median
epoch time without and with the callback, and the median over rounds of the
overhead, (with - without) / without (rounds alternate, so both sides of a
ratio see the same machine load).

Cases: the digits MLP (Dense 64, Dropout 0.2; 1,437 samples, batch 32, so 45
batches an epoch) as a plain Keras model under SeedCallback with
``save_freq="epoch"`` and ``save_freq=50``, and as a SeededModel with K=1
and K=32 replicas with ``save_freq=50``.

Usage::

    python benchmarks/backup.py
    python benchmarks/backup.py --rounds 7 --epochs 10
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import keras
    import numpy as np

    import keras_seeds as ks
    from keras_seeds.demo import digits_mlp, load_digits_split

    (x, y), _ = load_digits_split(0)

    class EpochTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.perf_counter())

    def fit(replicas: int | None, save_freq) -> float:
        """Median wall time of the epochs after the first."""
        timer = EpochTimes()
        callbacks = [ks.SeedCallback(0, manifest=None, verbose=0)]
        with tempfile.TemporaryDirectory() as backup:
            if save_freq is not None:
                callbacks.append(ks.BackupAndRestore(backup, save_freq=save_freq))
            if replicas is None:
                model = digits_mlp()
            else:
                model = ks.SeededModel(digits_mlp, replicas=replicas, seed=0)
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0,
                      callbacks=callbacks + [timer])
        ks.disable_determinism()
        return float(np.median(np.diff(timer.ends)))

    cases = [("digits MLP, Keras model", None, "epoch"),
             ("digits MLP, Keras model", None, 50),
             ("SeededModel K=1", 1, 50),
             ("SeededModel K=32", 32, 50)]
    fit(None, None)  # warm-up: TensorFlow's own one-time start-up costs
    times = {case: ([], []) for case in cases}
    for _ in range(args.rounds):
        for case in cases:
            _, replicas, save_freq = case
            times[case][0].append(fit(replicas, None))
            times[case][1].append(fit(replicas, save_freq))
    print(f"{len(x)} samples, batch 32, {args.epochs} epochs, Keras {keras.__version__}, "
          f"cpu count {os.cpu_count()}; {args.rounds} alternating rounds; per epoch, epochs "
          "after the first")
    print(f"{'case':26} | {'save_freq':9} | without | with    | overhead (rounds)")
    for case, (without, with_backup) in times.items():
        name, _, save_freq = case
        overhead = (np.array(with_backup) - np.array(without)) / np.array(without)
        print(f"{name:26} | {save_freq!s:9} | {np.median(without) * 1e3:5.0f} ms | "
              f"{np.median(with_backup) * 1e3:5.0f} ms | {np.median(overhead):+6.1%}  "
              f"({' '.join(f'{o:+.1%}' for o in overhead)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
