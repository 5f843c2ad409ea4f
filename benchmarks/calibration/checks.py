"""The protocol of a calibration check, and how one is judged.

A :class:`Check` is one figure the package reports with a level: the coverage
of an interval, the type-I error of a test at its alpha, the power a seed
count promises, the assurance that a planned interval is narrow enough. It
simulates ``reps`` studies of ``n`` seeds under a scenario
(:mod:`calibration.scenarios`) and counts how often the promise held.

A figure *keeps its level* when it is no worse than the stated level by more
than 3 Monte-Carlo standard errors (``sqrt(p (1 - p) / reps)`` at the stated
level): at least ``stated - 3 se`` for coverage, power and assurance, at most
``stated + 3 se`` for a type-I error. ``stated`` is what the package says at
that ``n``: an interval the package labels 87.5% is judged against 0.875.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from calibration.scenarios import SCENARIOS

KINDS = ("coverage", "type I error", "power", "assurance")


@dataclass(frozen=True)
class Check:
    """One reported figure under simulation.

    Attributes:
        name: what the package reports (``"summary()['mean_t_ci']"``).
        kind: one of ``KINDS``.
        stated: the level the package states with ``n`` seeds (a function of
            ``n``), or ``None`` where it reports nothing at that ``n``.
        run: ``run(scenario, n, reps, rng)``: how many of ``reps`` simulated
            studies kept the promise, or ``None`` where the check does not
            apply to that scenario or ``n``.
        scenarios: the scenarios it runs under.
    """

    name: str
    kind: str
    stated: Callable[[int], float | None]
    run: Callable[[str, int, int, np.random.Generator], int | None]
    scenarios: tuple = SCENARIOS


def monte_carlo_se(level: float, reps: int) -> float:
    """The Monte-Carlo standard error of a proportion ``level`` estimated from
    ``reps`` simulated studies."""
    return math.sqrt(level * (1 - level) / reps)


def keeps_level(kind: str, observed: float, stated: float, reps: int) -> bool:
    """Whether ``observed`` keeps the ``stated`` level within 3 Monte-Carlo
    standard errors (a type-I error may be lower, a coverage higher)."""
    slack = 3 * monte_carlo_se(stated, reps)
    if kind == "type I error":
        return observed <= stated + slack
    return observed >= stated - slack
