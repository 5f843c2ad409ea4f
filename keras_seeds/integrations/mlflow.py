"""MLflow: one parent run per study, one child run per seed, in the user's
current tracking URI and experiment (``pip install 'keras-seeds[mlflow]'``).

The parent run holds the configuration as params, the summary statistics as
metrics (mean, standard deviation, confidence interval, ...), the black-swan
seeds and the study's report as artifacts. Each child run is one seed: the
seed and its sub-seeds as params, its per-epoch metrics with ``step`` = epoch,
its final scores, and its manifest as an artifact. A child costs four calls to
the tracking server (create, one batch of params and metrics, the manifest,
terminate), so a 1,000-seed sweep makes about 4,000, not one per value.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping

import keras
import numpy as np

from keras_seeds.integrations.tracker import summary_numbers
from keras_seeds.statistics.metric_names import is_mean_key, replica_key

_EXTRA = "pip install 'keras-seeds[mlflow]'"
_BATCH = 1000  # MLflow's limit of metrics in one log_batch call
PARENT_TAG = "keras_seeds.study"


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise ImportError(f"tracking in MLflow needs MLflow: {_EXTRA}.") from None
    return mlflow


def _param(value) -> str:
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)[:6000]
    return str(value)[:6000]


class _Runs:
    """A parent run and its children, written through one ``MlflowClient``."""

    def __init__(self, name: str, params: Mapping):
        mlflow = _mlflow()
        self.client = mlflow.MlflowClient()
        nested = mlflow.active_run() is not None
        parent = mlflow.start_run(run_name=name, nested=nested, tags={PARENT_TAG: name})
        self.parent = parent.info.run_id
        self.experiment = parent.info.experiment_id
        self._ended = False
        self.log(self.parent, params=params)

    def log(self, run_id: str, *, params: Mapping | None = None, metrics=(),
            tags: Mapping | None = None) -> None:
        """Params and tags in one call, metrics ``(key, value, step)`` in batches."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        params = [Param(str(k), _param(v)) for k, v in (params or {}).items()]
        tags = [RunTag(str(k), _param(v)) for k, v in (tags or {}).items()]
        metrics = [Metric(str(k), float(v), now, int(step)) for k, v, step in metrics
                   if v is not None and np.isfinite(v)]
        first = True
        while first or metrics:
            self.client.log_batch(run_id, metrics=metrics[:_BATCH],
                                  params=params if first else (), tags=tags if first else ())
            metrics, first = metrics[_BATCH:], False

    def child(self, seed: int, *, params: Mapping, metrics=(), manifest=None,
              status: str = "FINISHED") -> str:
        run = self.client.create_run(self.experiment, run_name=f"seed {seed}", tags={
            "mlflow.parentRunId": self.parent, "keras_seeds.seed": str(seed)})
        run_id = run.info.run_id
        self.log(run_id, params={"seed": seed, **params}, metrics=metrics)
        if manifest is not None:
            self.client.log_dict(run_id, manifest, "manifest.json")
        self.client.set_terminated(run_id, status)
        return run_id

    def finish(self, study, artifacts: Mapping | None = None) -> None:
        """The study's summary, black swans and report on the parent; ends it."""
        if study is not None and study.n:
            self.log(self.parent, metrics=[(f"summary_{k}", v, 0) for k, v in
                                           summary_numbers(study.summary()).items()],
                     params={"metric": study.metric, "seeds": study.n})
            self.client.log_dict(self.parent, {"metric": study.metric,
                                               "black_swans": _jsonable(study.outliers())},
                                 "black_swans.json")
            with tempfile.TemporaryDirectory() as folder:
                study.report(Path(folder) / "report.md")
                self.client.log_artifacts(self.parent, folder, "report")
        for name, content in (artifacts or {}).items():
            self.client.log_dict(self.parent, content, name)
        self.end()

    def end(self, status: str = "FINISHED") -> None:
        if not self._ended:
            self._ended = True
            mlflow = _mlflow()
            active = mlflow.active_run()
            if active is not None and active.info.run_id == self.parent:
                mlflow.end_run(status)
            else:
                self.client.set_terminated(self.parent, status)


def _jsonable(value):
    return json.loads(json.dumps(value, default=float))


def _history_metrics(history: Mapping[str, list]) -> list:
    return [(name, value, epoch) for name, values in history.items()
            for epoch, value in enumerate(values)]


class MLflowTracker:
    """Tracks a :func:`~keras_seeds.sweep` in MLflow (``track="mlflow"``).

    One parent run per sweep (named after the configuration) with the
    configuration as params, and one child run per seed as its chunk finishes;
    at the end the study's summary, black swans and report on the parent.
    """

    def __init__(self):
        _mlflow()  # the extra is missing: say so before anything trains
        self.runs: _Runs | None = None

    def start_sweep(self, hparams: Mapping) -> None:
        self.runs = _Runs(f"{hparams.get('config', 'sweep')}", hparams)

    def log_runs(self, runs) -> None:
        for run in runs:
            if run.status == "failed":
                continue
            metrics = _history_metrics(run.history or {})
            metrics += [(f"score_{name}", value, 0) for name, value in (run.metrics or {}).items()
                        if isinstance(value, (int, float))]
            if run.score is not None:
                metrics.append(("score", run.score, 0))
            sub_seeds = (run.sub_seeds or {}).get("subseeds", {})
            self.runs.child(run.seed, params={**sub_seeds, "status": run.status},
                            metrics=metrics, manifest=run.manifest,
                            status="FINISHED" if run.status == "done" else "KILLED")

    def end_sweep(self, study, runs) -> None:
        if self.runs is not None:
            self.runs.finish(study)

    def abort(self) -> None:
        """A sweep stopped early: its parent run ends as KILLED (a rerun opens a new one)."""
        if self.runs is not None:
            self.runs.end("KILLED")


class MLflowLogger(keras.callbacks.Callback):
    """Logs a :class:`~keras_seeds.SeededModel` fit to MLflow: one parent run,
    one child run per replica seed.

    The parent run holds the optimizer, learning rate, epochs and replica
    seeds as params, the mean over the replicas of each logged value per
    epoch, and at the end the study of the last epoch (``SeedStudy.from_history``):
    summary, black swans and report. Each child run holds its seed and
    sub-seeds as params, its own per-epoch values, and a manifest (its
    replica index, seeds, how randomness was controlled, the environment).
    Children are written at the end of training, in one batch each.

    Args:
        run_name: the parent run's name (default ``"SeededModel, K seeds"``).
        params: more params for the parent run.

    Example (a local tracking store):

    >>> import tempfile, mlflow, numpy as np, keras_seeds as ks
    >>> from keras_seeds.demo import digits_mlp
    >>> folder = tempfile.mkdtemp()
    >>> mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    >>> _ = mlflow.set_experiment(experiment_id=mlflow.create_experiment(
    ...     "doctest", artifact_location=f"file://{folder}/artifacts"))
    >>> model = ks.SeededModel(digits_mlp, seeds=[1, 2])
    >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> _ = model.fit(np.zeros((8, 64)), np.zeros(8), epochs=1, verbose=0,
    ...               callbacks=[ks.MLflowLogger()])
    >>> runs = mlflow.search_runs(output_format="list")
    >>> sorted(run.info.run_name for run in runs)
    ['SeededModel, 2 seeds', 'seed 1', 'seed 2']
    >>> mlflow.set_tracking_uri(None)
    """

    def __init__(self, run_name: str | None = None, params: Mapping | None = None):
        super().__init__()
        _mlflow()
        # Not `self.params`: Keras sets that to fit's own parameters.
        self.run_name, self.extra_params = run_name, dict(params or {})
        self.runs: _Runs | None = None
        self._history: dict = {}

    def on_train_begin(self, logs=None):
        from keras_seeds.replicas.callbacks import fused_fit_params

        params = fused_fit_params(self, (
            "MLflowLogger logs the replicas of a keras_seeds.SeededModel; for one model use "
            "mlflow.keras.autolog() with ks.SeedCallback (which logs its seed to the active "
            "run)."))
        seeds = list(self.model.replica_seeds)
        self.runs = _Runs(self.run_name or f"SeededModel, {len(seeds)} seeds",
                          {**params, "replica_seeds": seeds, **self.extra_params})
        self._history = {}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        means = [(name, float(value), epoch) for name, value in logs.items()
                 if is_mean_key(name) and isinstance(value, (int, float, np.floating))]
        self.runs.log(self.runs.parent, metrics=means)
        for name, value in logs.items():
            self._history.setdefault(name, []).append(float(value))

    def on_train_end(self, logs=None):
        from keras_seeds.records.manifest import environment_section
        from keras_seeds.statistics.study import SeedStudy

        model, runs = self.model, self.runs
        try:
            record, environment = model.seed_record(), environment_section()
            for k, seed in enumerate(model.replica_seeds):
                own = {name: self._history[replica_key(name, k)] for name in self._history
                       if is_mean_key(name) and replica_key(name, k) in self._history}
                manifest = {"replica": k, "seeds": record["sub_seeds"][k],
                            "replica_seeds": record["replica_seeds"],
                            "control": record["control"], "environment": environment}
                runs.child(seed, params=model.replica_sub_seeds(k).as_dict(),
                           metrics=_history_metrics(own), manifest=manifest)
            try:
                study = SeedStudy.from_history(self._history, seeds=list(model.replica_seeds))
            except ValueError:  # no per-replica values (no epoch finished)
                study = None
            runs.finish(study)
        except BaseException:
            runs.end("FAILED")
            raise


def log_to_active_run(seed: int, sub_seeds: Mapping, manifest: Mapping) -> bool:
    """Logs a run's seed, sub-seeds and manifest to MLflow's active run, if
    MLflow is imported and has one (``SeedCallback`` calls it); never imports
    MLflow itself. Returns whether it logged."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None or not hasattr(mlflow, "active_run") or mlflow.active_run() is None:
        return False
    mlflow.log_params({"keras_seeds.seed": seed,
                       **{f"keras_seeds.{name}": value for name, value in sub_seeds.items()}})
    mlflow.log_dict(dict(manifest), "keras_seeds_manifest.json")
    return True
