"""What ``keras_seeds.BackupAndRestore`` costs per epoch of training.

Two measures, in one process, for ``--rounds`` rounds:

- *in-fit share*: in a fit with the callback, the time spent inside its hooks
  (checkpoint writes included) over the epoch's wall time, the median over the
  epochs after the first; both sides come from the same epoch, so the
  machine's load, which moves epoch times by +-30% here, cancels. This is the
  figure the target is checked against. (The first checkpoint of a fit also
  traces the function that reads the variables, once: about 30 ms.)
- *A/B*: fits without and with the callback alternate; the median over rounds
  of (with - without) / without of the median epoch time. Shown beside it: on
  this shared machine its rounds scatter far more than the effect.

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

    class TimedBackup(ks.BackupAndRestore):
        """BackupAndRestore that adds up the time spent in its hooks, per epoch."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.spent = [0.0]
            for name in ("on_epoch_begin", "on_train_batch_begin", "on_train_batch_end",
                         "on_epoch_end"):
                setattr(self, name, self._timed(getattr(self, name), name == "on_epoch_end"))

        def _timed(self, hook, ends_epoch):
            def timed(*args, **kwargs):
                start = time.perf_counter()
                hook(*args, **kwargs)
                self.spent[-1] += time.perf_counter() - start
                if ends_epoch:
                    self.spent.append(0.0)
            return timed

    shares: dict = {}

    def fit(replicas: int | None, save_freq, case=None) -> float:
        """Median wall time of the epochs after the first."""
        timer = EpochTimes()
        callbacks = [ks.SeedCallback(0, manifest=None, verbose=0)]
        with tempfile.TemporaryDirectory() as backup:
            backup_callback = None
            if save_freq is not None:
                backup_callback = TimedBackup(backup, save_freq=save_freq)
                callbacks.append(backup_callback)
            if replicas is None:
                model = digits_mlp()
            else:
                model = ks.SeededModel(digits_mlp, replicas=replicas, seed=0)
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0,
                      callbacks=callbacks + [timer])
        ks.disable_determinism()
        epochs = np.diff(timer.ends)
        if backup_callback is not None:
            # An epoch's checkpoint is written in the next epoch's first hook.
            spent = np.array(backup_callback.spent[1:len(epochs) + 1])
            shares.setdefault(case, []).append(float(np.median(spent / epochs)))
        return float(np.median(epochs))

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
            times[case][1].append(fit(replicas, save_freq, case))
    print(f"{len(x)} samples, batch 32, {args.epochs} epochs, Keras {keras.__version__}, "
          f"cpu count {os.cpu_count()}; {args.rounds} alternating rounds; per epoch, epochs "
          "after the first")
    print(f"{'case':24} | {'save_freq':9} | in-fit share (rounds)            | A/B: "
          "without | with   | overhead (rounds)")
    for case, (without, with_backup) in times.items():
        name, _, save_freq = case
        overhead = (np.array(with_backup) - np.array(without)) / np.array(without)
        print(f"{name:24} | {save_freq!s:9} | {np.median(shares[case]):5.1%} "
              f"({' '.join(f'{s:.1%}' for s in shares[case])}) | "
              f"{np.median(without) * 1e3:4.0f} ms | {np.median(with_backup) * 1e3:4.0f} ms | "
              f"{np.median(overhead):+6.1%} ({' '.join(f'{o:+.0%}' for o in overhead)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
