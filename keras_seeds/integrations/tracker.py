"""The public protocol a sweep reports to, and the one rule that turns
``sweep(track=...)`` into trackers.

A tracker is any object with the four methods of :class:`Tracker`; a sweep
calls them from the process that writes the store, in this order:
``start_sweep`` once, ``log_runs`` after each chunk of seeds is stored, then
``end_sweep`` with the study, or ``abort`` when the sweep stops early (an
error, Ctrl-C). A third party's tracker is a small class; keras-seeds ships
three: ``"mlflow"`` (:mod:`keras_seeds.integrations.mlflow`), ``"wandb"``
(:mod:`keras_seeds.integrations.wandb`) and :class:`~keras_seeds.SeedTensorBoard`.

Example, a tracker that keeps each seed's score in a dict:

>>> class Scores:
...     def start_sweep(self, hparams):
...         self.config, self.scores = hparams["config"], {}
...     def log_runs(self, runs):
...         self.scores.update({run.seed: run.score for run in runs if run.status == "done"})
...     def end_sweep(self, study, runs):
...         self.mean = study.mean
...     def abort(self):
...         pass
>>> isinstance(Scores(), Tracker)
True
>>> tracker = Scores()
>>> as_trackers(tracker) == [tracker]
True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from keras_seeds._validation import must_be

if TYPE_CHECKING:
    from keras_seeds.statistics.study import SeedStudy
    from keras_seeds.sweeps.store import SeedRun

# ``track="name"``: the module and class of the tracker it stands for
NAMED = {"mlflow": ("keras_seeds.integrations.mlflow", "MLflowTracker"),
         "wandb": ("keras_seeds.integrations.wandb", "WandbTracker")}


@runtime_checkable
class Tracker(Protocol):
    """What a sweep reports to (``ks.sweep(..., track=tracker)``).

    ``runs`` are store rows (:class:`keras_seeds.sweeps.store.SeedRun`): each
    has ``seed``, ``status`` (``"done"``, ``"diverged"``, ``"discarded"`` or
    ``"failed"``), ``score``, ``metrics`` (final values), ``history``
    (``{metric: per-epoch values}``), ``sub_seeds``, ``seconds`` and
    ``manifest``. A rerun of a sweep passes only the seeds it trains.

    Example, the calls a sweep makes, in order:

    >>> from keras_seeds.sweeps.store import SeedRun
    >>> class Printed:
    ...     def start_sweep(self, hparams): print("start", hparams["config"])
    ...     def log_runs(self, runs): print("stored", [run.seed for run in runs])
    ...     def end_sweep(self, study, runs): print("end", len(runs), "runs")
    ...     def abort(self): print("stopped early")
    >>> tracker = Printed()
    >>> isinstance(tracker, Tracker)
    True
    >>> tracker.start_sweep({"config": "mlp", "epochs": 2})
    start mlp
    >>> tracker.log_runs([SeedRun(3, "done", score=0.9), SeedRun(4, "failed", error="OOM")])
    stored [3, 4]
    >>> tracker.end_sweep(None, [SeedRun(3, "done", score=0.9)])
    end 1 runs
    >>> tracker.abort()  # instead of end_sweep, when the sweep stops early
    stopped early
    """

    def start_sweep(self, hparams: Mapping) -> None:
        """The sweep's configuration: ``config`` (its name in the store),
        ``epochs``, the optimizer and loss, scalar ``fit`` arguments."""

    def log_runs(self, runs: Sequence["SeedRun"]) -> None:
        """Seeds just stored (one fused chunk)."""

    def end_sweep(self, study: "SeedStudy", runs: Sequence["SeedRun"]) -> None:
        """The sweep finished: its study and every stored run of its seeds."""

    def abort(self) -> None:
        """The sweep stopped early: close what was opened."""


def summary_numbers(summary: Mapping) -> dict[str, float]:
    """A study's ``summary()`` as the numbers a tracker logs: intervals as
    ``<name>_low`` and ``<name>_high``; withheld (NaN) values and words left out.

    Example:

    >>> summary_numbers({"n": 4, "mean": 0.5, "mean_t_ci": (0.4, 0.6), "method": "BCa",
    ...                  "mean_ci": (float("nan"), float("nan"))})
    {'n': 4.0, 'mean': 0.5, 'mean_t_ci_low': 0.4, 'mean_t_ci_high': 0.6}
    """
    found = {}
    for name, value in summary.items():
        if isinstance(value, tuple) and len(value) == 2:
            found[f"{name}_low"], found[f"{name}_high"] = float(value[0]), float(value[1])
        elif isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            found[name] = float(value)
    return {name: value for name, value in found.items() if math.isfinite(value)}


def as_trackers(track) -> list:
    """``track`` as a list of trackers: ``None``, a name in :data:`NAMED`, an
    object that implements :class:`Tracker`, or a list of those."""
    import importlib

    items = [] if track is None else list(track) if isinstance(track, (list, tuple)) \
        else [track]
    trackers = []
    for item in items:
        if isinstance(item, str) and item in NAMED:
            module, name = NAMED[item]
            item = getattr(importlib.import_module(module), name)()
        elif not isinstance(item, Tracker) or isinstance(item, type):
            raise must_be("track", f"None, {' or '.join(map(repr, NAMED))}, an object with "
                          "start_sweep, log_runs, end_sweep and abort (keras_seeds.Tracker, "
                          "e.g. keras_seeds.SeedTensorBoard) or a list of them", item, TypeError)
        trackers.append(item)
    return trackers
