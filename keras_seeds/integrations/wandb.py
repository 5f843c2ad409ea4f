"""Weights & Biases: one W&B run per seed, grouped by the sweep's configuration,
and a ``summary`` run in the group with the study's statistics
(``pip install 'keras-seeds[wandb]'``).

Each seed's run (``seed_<seed>``) holds the configuration, the seed and its
sub-seeds as config, its per-epoch values with ``step`` = epoch, and its final
scores in its summary. The ``summary`` run opens with the sweep and holds the
configuration; when the sweep ends, the study's summary statistics (``mean``,
``std``, ``n``, ``mean_t_ci_low`` / ``_high``, ...) and black-swan seeds; when
the sweep stops early, it finishes as failed. Runs are opened with
``reinit="create_new"``: a run the user has open stays open, and stays
``wandb.run``.
"""

from __future__ import annotations

import contextlib
from typing import Mapping

from keras_seeds.integrations.tracker import summary_numbers

_EXTRA = "pip install 'keras-seeds[wandb]'"


def _wandb():
    try:
        import wandb
    except ImportError:
        raise ImportError(f"tracking in Weights & Biases needs wandb: {_EXTRA}.") from None
    return wandb


@contextlib.contextmanager
def _failing(run):
    """``run``, finished as failed (exit code 1) if the block raises, Ctrl-C included."""
    try:
        yield run
    except BaseException:
        run.finish(exit_code=1)
        raise


def _quiet(settings):
    """``settings`` (``wandb.Settings``, a dict or ``None``) for a seed's run, opened
    after the seed trained: no console capture, and no banner for each of hundreds."""
    wandb = _wandb()
    if not isinstance(settings, wandb.Settings):
        settings = wandb.Settings(**(settings or {}))
    return settings.model_copy(update={"silent": True, "console": "off"})


class WandbTracker:
    """Tracks a :func:`~keras_seeds.sweep` in Weights & Biases (``track="wandb"``).

    Args:
        project, entity, mode, dir: as in ``wandb.init``; ``None`` leaves each
            to W&B (``WANDB_PROJECT``, ``WANDB_ENTITY``, ``WANDB_MODE``,
            ``WANDB_DIR``, then its defaults).
        **init_kwargs: more ``wandb.init`` arguments for every run (``tags``,
            ``notes``, ``settings``, ...). A seed's run is opened after the
            seed trained: it captures no console output and prints nothing.

    Example (offline: W&B writes the runs under ``dir`` and contacts no server):

    >>> import pathlib, tempfile, wandb, keras_seeds as ks
    >>> from keras_seeds.sweeps.store import SeedRun
    >>> folder = tempfile.mkdtemp()
    >>> tracker = WandbTracker(project="doctest", mode="offline", dir=folder)
    >>> tracker.start_sweep({"config": "mlp", "epochs": 2})
    >>> runs = [SeedRun(seed, "done", score=score, history={"loss": [0.9, 0.5]})
    ...         for seed, score in {1: 0.80, 2: 0.90, 3: 0.85}.items()]
    >>> tracker.log_runs(runs)
    >>> tracker.end_sweep(ks.SeedStudy({run.seed: run.score for run in runs}), runs)
    >>> len(list(pathlib.Path(folder, "wandb").glob("offline-run-*")))  # 3 seeds, 1 summary
    4
    >>> stopped = WandbTracker(project="doctest", mode="offline", dir=folder)
    >>> stopped.start_sweep({"config": "mlp", "epochs": 2})
    >>> stopped.abort()  # stopped early: its summary run finishes as failed
    >>> wandb.teardown()  # stops W&B's background service now, not at exit
    """

    def __init__(self, project: str | None = None, *, entity: str | None = None,
                 mode: str | None = None, dir=None, **init_kwargs):
        _wandb()  # the extra is missing: say so before anything trains
        self.init_kwargs = dict(project=project, entity=entity, mode=mode, dir=dir,
                                **init_kwargs)
        self.hparams: dict = {}
        self.summary_run = None  # open from start_sweep to end_sweep or abort

    def _init(self, name: str, config: Mapping, quiet: bool = False):
        wandb, kwargs = _wandb(), dict(self.init_kwargs)
        if quiet:
            kwargs["settings"] = _quiet(kwargs.get("settings"))
        return wandb.init(name=name, group=str(self.hparams.get("config", "sweep")),
                          job_type="seed" if quiet else "summary", config=dict(config),
                          reinit="create_new", **kwargs)

    def start_sweep(self, hparams: Mapping) -> None:
        self.hparams = dict(hparams)
        self.summary_run = self._init("summary", self.hparams)

    def log_runs(self, runs) -> None:
        for run in runs:
            if run.status == "failed":
                continue
            sub_seeds = (run.sub_seeds or {}).get("subseeds", {})
            config = {**self.hparams, "seed": run.seed, **sub_seeds, "status": run.status}
            with _failing(self._init(f"seed_{run.seed}", config, quiet=True)) as logged:
                history = run.history or {}
                for epoch in range(max(map(len, history.values()), default=0)):
                    logged.log({name: values[epoch] for name, values in history.items()
                                if epoch < len(values)}, step=epoch)
                final = {f"score_{name}": value for name, value in (run.metrics or {}).items()
                         if isinstance(value, (int, float))}
                if run.score is not None:
                    final["score"] = run.score
                logged.summary.update(final)
                logged.finish(exit_code=0 if run.status == "done" else 1)

    def end_sweep(self, study, runs) -> None:
        run, self.summary_run = self.summary_run, None
        if run is None:
            return
        with _failing(run):
            if study is not None and study.n:
                run.summary.update({**summary_numbers(study.summary()), "metric": study.metric,
                                    "black_swans": [o["seed"] for o in study.outliers()]})
            run.finish()

    def abort(self) -> None:
        """A sweep stopped early: its ``summary`` run finishes as failed (exit code 1);
        the seeds stored so far keep their runs."""
        run, self.summary_run = self.summary_run, None
        if run is not None:
            run.finish(exit_code=1)
