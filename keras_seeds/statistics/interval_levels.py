"""From how many seeds each interval of a study is given, and the level it has.

:meth:`SeedStudy.summary <keras_seeds.SeedStudy.summary>` and
:meth:`~keras_seeds.SeedStudy.test_agreement` give an interval only from the
number of seeds at which it keeps its level in simulation
(``INTERVAL_MIN_SEEDS``, ``SPEARMAN_CI_MIN_SEEDS``;
``benchmarks/calibration/summary.py`` and ``noise.py``), and state the level
each has: :func:`interval_level`, and under heavy tails
:func:`t_interval_heavy_tail_level`. :func:`spearman_interval` is the
interval of the validation-test rank correlation.

Imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import stats

from keras_seeds._validation import check_choice, check_int
from keras_seeds.statistics.functions import check_confidence_level

# From how many seeds each interval keeps its level in simulation
# (benchmarks/calibration/summary.py and noise.py); below, it is withheld.
SPEARMAN_CI_MIN_SEEDS = 10
INTERVAL_MIN_SEEDS = {"mean_t_ci": 2, "mean_ci": 200, "iqm_ci": 30}
# How many times as often as its nominal rate each interval misses, where it
# is given (benchmarks/calibration/summary.py): the BCa interval of the IQM
# covers 93-94% at a nominal 95% with 30 to 64 seeds, and is labelled with
# the level it has.
INTERVAL_MISS_RATIO = {"mean_t_ci": 1.0, "mean_ci": 1.0, "iqm_ci": 1.4}
# The heavy-tailed scores t_interval_heavy_tail_level simulates (as in
# benchmarks/calibration/scenarios.py): t(4), and normal scores with each seed
# a black swan 5 stds below the others with probability 1/16.
HEAVY_TAIL_STUDIES = 10_000
_SWAN_RATE, _SWAN_DEPTH = 1 / 16, 5.0
# How summary() names each interval when it withholds it.
INTERVAL_NAMES = {"mean_t_ci": "the t interval of the mean",
                  "mean_ci": "a bootstrap interval of the mean",
                  "iqm_ci": "a bootstrap interval of the IQM"}


def interval_level(name: str, confidence_level: float = 0.95) -> float:
    """The level ``summary()[name]`` has where it is given: ``1 - r (1 -
    confidence_level)`` with ``r = INTERVAL_MISS_RATIO[name]`` (measured at
    95%), rounded down to a percent.

    Example:

    >>> interval_level("mean_t_ci"), interval_level("iqm_ci")
    (0.95, 0.93)
    """
    check_choice(name, "name", tuple(INTERVAL_MISS_RATIO))
    level = 1 - INTERVAL_MISS_RATIO[name] * (1 - check_confidence_level(confidence_level))
    return math.floor(level * 100 + 1e-9) / 100


def t_interval_heavy_tail_level(n: int, confidence_level: float = 0.95) -> float:
    """The coverage Student's t interval of the mean of ``n`` scores keeps
    under heavy tails: the lower of two simulated scenarios, t(4) scores and
    normal scores with each seed a black swan 5 stds below the others with
    probability 1/16, rounded down to a percent and never above
    ``confidence_level``. ``HEAVY_TAIL_STUDIES`` (10,000) simulated studies
    per scenario, seeded: the same answer on every call
    (``benchmarks/study_calibration.py --parts summary`` checks it on studies
    of its own).

    Example (skewed black swans pull the mean below where most seeds sit):

    >>> t_interval_heavy_tail_level(5), t_interval_heavy_tail_level(20)
    (0.93, 0.91)
    """
    n = check_int(n, "n", minimum=2)
    return _t_interval_heavy_tail_level(n, check_confidence_level(confidence_level))


@functools.lru_cache(maxsize=256)
def _t_interval_heavy_tail_level(n: int, confidence_level: float) -> float:
    rng = np.random.default_rng([n, round(confidence_level * 1e9)])
    quantile = float(stats.t.ppf((1 + confidence_level) / 2, n - 1))
    level = confidence_level
    for scenario in ("t4", "black_swan"):
        covered = 0
        for start in range(0, HEAVY_TAIL_STUDIES, 1000):  # chunks bound the memory
            if scenario == "t4":
                scores, truth = rng.standard_t(4, (1000, n)) / math.sqrt(2.0), 0.0
            else:
                swans = rng.random((1000, n)) < _SWAN_RATE
                scores = rng.normal(size=(1000, n)) - _SWAN_DEPTH * swans
                truth = -_SWAN_RATE * _SWAN_DEPTH
            half = quantile * scores.std(axis=1, ddof=1) / math.sqrt(n)
            covered += int((np.abs(scores.mean(axis=1) - truth) <= half).sum())
        level = min(level, covered / HEAVY_TAIL_STUDIES)
    # Rounded down (with a hair of float slack): a level is never overstated.
    return math.floor(level * 100 + 1e-9) / 100


def spearman_interval(rho: float, n: int, confidence_level: float = 0.95) -> tuple[float, float]:
    """The confidence interval of Spearman's rho from ``n`` pairs: Fisher's z
    with Bonett and Wright's (2000) variance ``(1 + rho**2 / 2) / (n - 3)``
    (a rho of exactly +-1 is taken as +-(1 - 1e-12), whose z is finite).

    Example (by hand: ``tanh(atanh(0.5) +- 1.96 * sqrt(1.125 / 17))``):

    >>> low, high = spearman_interval(0.5, 20)
    >>> round(low, 3), round(high, 3)
    (0.045, 0.783)
    """
    if n < 4:
        raise ValueError(f"`n` must be at least 4 for an interval of Spearman's rho; "
                         f"received n={n}.")
    if not math.isfinite(rho):
        return math.nan, math.nan
    z = float(stats.norm.ppf((1 + confidence_level) / 2))
    centre = math.atanh(min(max(rho, -1 + 1e-12), 1 - 1e-12))
    half = z * math.sqrt((1 + rho ** 2 / 2) / (n - 3))
    return math.tanh(centre - half), math.tanh(centre + half)
