"""The progress bar of a sweep: seeds done, seeds per minute, time left, and the
best and worst score so far; drawn by ``rich`` (a Keras dependency) on stderr.

Example:

>>> from keras_seeds.sweeps.store import SeedRun
>>> with SweepProgress(4, higher_is_better=True, metric="accuracy", enabled=False) as bar:
...     bar.add([SeedRun(0, "done", score=0.91), SeedRun(1, "done", score=0.88)])
>>> bar.completed, bar.best, bar.worst
(2, 0.91, 0.88)
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from keras_seeds.statistics.report import number


class SweepProgress:
    """Counts a sweep's seeds as their chunks finish and draws the bar.

    Args:
        total: seeds in the sweep.
        higher_is_better: the score's direction, for "best" and "worst".
        metric: the score's name, shown beside best and worst.
        enabled: draw the bar (``False``: count only, print nothing).
        console: where to draw (default: a ``rich`` console on stderr).
    """

    def __init__(self, total: int, higher_is_better: bool, metric: str, *,
                 enabled: bool = True, console: Console | None = None):
        self.total, self.higher_is_better, self.metric = total, higher_is_better, metric
        self.completed, self.best, self.worst = 0, None, None
        self._fresh, self._start = 0, time.perf_counter()
        self._bar = Progress(
            TextColumn("seeds"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[scores]}"),
            console=console or Console(stderr=True), disable=not enabled,
            transient=False)
        self._task = None

    def __enter__(self) -> "SweepProgress":
        self._bar.__enter__()
        self._task = self._bar.add_task("sweep", total=self.total, rate="", scores="")
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)

    def add(self, runs, fresh: bool = True) -> None:
        """Counts ``runs`` (store rows) as done; ``fresh=False`` for rows a
        previous run of the sweep left, which do not count towards the rate."""
        scores = [run.score for run in runs if run.status == "done" and run.score is not None]
        for score in scores:
            better = (lambda a, b: a > b) if self.higher_is_better else (lambda a, b: a < b)
            self.best = score if self.best is None or better(score, self.best) else self.best
            self.worst = score if self.worst is None or better(self.worst, score) else self.worst
        self.completed += len(runs)
        self._fresh += len(runs) if fresh else 0
        minutes = (time.perf_counter() - self._start) / 60
        rate = f"{self._fresh / minutes:.0f} seeds/min" if self._fresh and minutes > 0 else ""
        shown = ("" if self.best is None else
                 f"{self.metric} best {number(self.best)} worst {number(self.worst)}")
        if fresh:
            self._bar.update(self._task, advance=len(runs), rate=rate, scores=shown)
        else:  # no progress sample: the ETA follows the seeds trained now
            self._bar.reset(self._task, total=self.total, completed=self.completed,
                            rate=rate, scores=shown)
