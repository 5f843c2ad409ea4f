"""TensorBoard runs per seed: every replica of a ``SeededModel`` fit, or every
seed of a sweep, as its own run, beside a ``mean`` run and a ``band`` run.

The layout under ``log_dir``::

    seed_<seed>/   that seed's value of each metric, per epoch
    mean/          the mean over the seeds
    band/          per metric: mean, min, max, mean - std and mean + std, with a
                   custom-scalars layout of two margin charts (min..max, +-1 std)

Every run carries the same hparams (the configuration, not the seed), so
TensorBoard's HParams dashboard puts all seeds of a configuration together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import keras
import numpy as np

from keras_seeds.statistics.metric_names import is_mean_key, replica_key

MEAN_RUN, BAND_RUN = "mean", "band"
BAND_SERIES = ("mean", "min", "max", "std_lower", "std_upper")


def seed_run(seed: int) -> str:
    """The run directory name of ``seed`` under ``log_dir``."""
    return f"seed_{int(seed)}"


def band(values) -> dict[str, float] | None:
    """Mean, min, max and mean -+ one standard deviation of the finite
    ``values`` (one per seed), or ``None`` when none is finite.

    Example:

    >>> {k: round(v, 3) for k, v in band([1.0, 2.0, 3.0, float("nan")]).items()}
    {'mean': 2.0, 'min': 1.0, 'max': 3.0, 'std_lower': 1.0, 'std_upper': 3.0}
    """
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if finite.size == 0:
        return None
    mean, std = float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    return {"mean": mean, "min": float(finite.min()), "max": float(finite.max()),
            "std_lower": mean - std, "std_upper": mean + std}


def _hparam_value(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class SeedTensorBoard(keras.callbacks.Callback):
    """Writes each seed as its own TensorBoard run, plus ``mean`` and ``band``.

    As a callback of :meth:`SeededModel.fit <keras_seeds.SeededModel>`, it
    writes every replica's epoch logs to ``log_dir/seed_<seed>``, their means
    to ``log_dir/mean`` and their spread to ``log_dir/band``. Given to
    :func:`~keras_seeds.sweep` as ``track=``, it writes each finished seed's
    per-epoch history as its chunk ends, and the mean and band over all the
    configuration's finished seeds at the end.

    Args:
        log_dir: the folder to point ``tensorboard --logdir`` at.
        hparams: the configuration, logged the same in every run (``{name:
            value}``); added to the optimizer, learning rate and epochs.

    Example:

    >>> import tempfile, numpy as np, keras_seeds as ks
    >>> from keras_seeds.demo import digits_mlp
    >>> folder = tempfile.TemporaryDirectory()
    >>> model = ks.SeededModel(digits_mlp, seeds=[1, 2])
    >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> board = ks.SeedTensorBoard(Path(folder.name, "fit"))
    >>> try:
    ...     _ = model.fit(np.zeros((8, 64)), np.zeros(8), epochs=1, verbose=0,
    ...                   callbacks=[board])
    ... finally:
    ...     board.close()  # a fit that raises never reaches on_train_end, which closes
    >>> sorted(p.name for p in board.log_dir.iterdir())
    ['band', 'mean', 'seed_1', 'seed_2']

    Seeds trained one by one (store rows, :class:`keras_seeds.sweeps.store.SeedRun`),
    written as ``sweep(..., track=board)`` writes them:

    >>> from keras_seeds.sweeps.store import SeedRun
    >>> runs = [SeedRun(seed, "done", history={"val_accuracy": [0.5, 0.8 + seed / 100]})
    ...         for seed in (7, 8, 9)]
    >>> board = ks.SeedTensorBoard(Path(folder.name, "sweep"), hparams={"units": 64})
    >>> board.start_sweep({"config": "mlp", "epochs": 2})
    >>> try:
    ...     for chunk in (runs[:2], runs[2:]):  # as each chunk of seeds finishes
    ...         board.log_runs(chunk)
    ... except BaseException:
    ...     board.abort()  # stopped early: what was written stays, the files are closed
    ...     raise
    >>> board.end_sweep(ks.SeedStudy({run.seed: run.history["val_accuracy"][-1]
    ...                               for run in runs}), runs)  # the mean and band runs
    >>> sorted(p.name for p in board.log_dir.iterdir()), board.hparams
    (['band', 'mean', 'seed_7', 'seed_8', 'seed_9'], {'config': 'mlp', 'epochs': 2, 'units': 64})
    >>> folder.cleanup()
    """

    def __init__(self, log_dir, hparams: Mapping | None = None):
        super().__init__()
        self.log_dir = Path(log_dir)
        self.hparams = dict(hparams or {})
        self._writers: dict = {}
        self._seeds: list[int] = []
        self._layout_written = False

    # ------------------------------------------------------------ writing
    def _writer(self, run: str):
        import tensorflow as tf

        writer = self._writers.get(run)
        if writer is None:
            writer = self._writers[run] = tf.summary.create_file_writer(
                str(self.log_dir / run))
            with writer.as_default():
                self._write_hparams(run)
        return writer

    def _write_hparams(self, run: str) -> None:
        from tensorboard.plugins.hparams import api as hp

        hp.hparams({name: _hparam_value(value) for name, value in self.hparams.items()},
                   trial_id=run)

    def _scalars(self, run: str, values: Mapping[str, float], step: int) -> None:
        import tensorflow as tf

        with self._writer(run).as_default():
            for name, value in values.items():
                if value is not None and np.isfinite(value):
                    tf.summary.scalar(name, float(value), step=step)

    def _band(self, per_seed: Mapping[str, list], step: int) -> None:
        """Writes the mean and band runs' values at ``step`` from each metric's
        values over the seeds."""
        means, spread = {}, {}
        for name, values in per_seed.items():
            summary = band(values)
            if summary is None:
                continue
            means[name] = summary["mean"]
            spread.update({f"{name}/{series}": summary[series] for series in BAND_SERIES})
        self._scalars(MEAN_RUN, means, step)
        self._scalars(BAND_RUN, spread, step)

    def _layout(self, names) -> None:
        """The custom-scalars layout of the band: two margin charts per metric."""
        import tensorflow as tf
        from tensorboard.plugins.custom_scalar import layout_pb2
        from tensorboard.plugins.custom_scalar import summary as custom_scalar

        charts = []
        for name in sorted(names):
            charts.append(layout_pb2.Chart(
                title=f"{name}: mean, min..max over the seeds",
                margin=layout_pb2.MarginChartContent(series=[layout_pb2.MarginChartContent.Series(
                    value=f"{name}/mean", lower=f"{name}/min", upper=f"{name}/max")])))
            charts.append(layout_pb2.Chart(
                title=f"{name}: mean +- one standard deviation over the seeds",
                margin=layout_pb2.MarginChartContent(series=[layout_pb2.MarginChartContent.Series(
                    value=f"{name}/mean", lower=f"{name}/std_lower",
                    upper=f"{name}/std_upper")])))
        layout = layout_pb2.Layout(category=[layout_pb2.Category(title="seed band",
                                                                 chart=charts)])
        with self._writer(BAND_RUN).as_default():
            tf.summary.experimental.write_raw_pb(custom_scalar.pb(layout).SerializeToString(),
                                                step=0)

    def close(self) -> None:
        """Closes the event files still open (``on_train_end``, :meth:`end_sweep`
        and :meth:`abort` do it; see the class example for a fit that raises)."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    # ----------------------------------------------------------- callback
    def on_train_begin(self, logs=None):
        from keras_seeds.replicas.callbacks import fused_fit_params

        self.hparams = {**fused_fit_params(self, (
            "SeedTensorBoard writes the replicas of a keras_seeds.SeededModel (or the seeds "
            "of ks.sweep); for one model use keras.callbacks.TensorBoard.")), **self.hparams}
        self._seeds = list(self.model.replica_seeds)
        self._layout_written = False

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        names = [name for name in logs if is_mean_key(name)
                 and replica_key(name, 0) in logs]
        per_seed = {name: [float(logs[replica_key(name, k)]) for k in range(len(self._seeds))]
                    for name in names}
        for k, seed in enumerate(self._seeds):
            self._scalars(seed_run(seed), {name: values[k] for name, values in per_seed.items()},
                          epoch)
        self._band(per_seed, epoch)
        if not self._layout_written:
            self._layout(names)
            self._layout_written = True

    def on_train_end(self, logs=None):
        self.close()

    # -------------------------------------------------------------- sweep
    def start_sweep(self, hparams: Mapping) -> None:
        """Takes a sweep's configuration as hparams (the user's own ones win)."""
        self.hparams = {**hparams, **self.hparams}

    def log_runs(self, runs) -> None:
        """Writes each finished seed's per-epoch history (store rows)."""
        for run in runs:
            if run.status != "done" or not run.history:
                continue
            name = seed_run(run.seed)
            for epoch in range(max(len(values) for values in run.history.values())):
                self._scalars(name, {metric: values[epoch]
                                     for metric, values in run.history.items()
                                     if epoch < len(values)}, epoch)
            self._writers.pop(name).close()  # a thousand seeds: a thousand files, not open

    def abort(self) -> None:
        """A sweep stopped early: what was written stays, the files are closed."""
        self.close()

    def end_sweep(self, study, runs) -> None:
        """Writes the mean and band runs over the finished seeds' histories."""
        histories = [run.history for run in runs if run.status == "done" and run.history]
        if not histories:
            return
        names = sorted({name for history in histories for name in history})
        epochs = max(len(values) for history in histories for values in history.values())
        for epoch in range(epochs):
            self._band({name: [history[name][epoch] for history in histories
                               if epoch < len(history.get(name, []))] for name in names}, epoch)
        self._layout(names)
        self.close()
