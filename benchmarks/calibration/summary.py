"""Calibration of the intervals ``SeedStudy.summary()`` reports: ``mean_t_ci``
(Student's t), ``mean_ci`` and ``iqm_ci`` (``scipy.stats.bootstrap``, BCa,
9999 resamples: the defaults).

Each is given only from ``INTERVAL_MIN_SEEDS[name]`` seeds, with the level
``interval_level(name)`` states (93% for the IQM's BCa interval at a nominal
95%: it covers 93-94% with 30 to 64 seeds),
(``keras_seeds.statistics.study``), and is withheld below: the stated level is
``None`` there and the cell shows ``-`` (200 seeds for the bootstrap interval
of the mean, beyond this table: under heavy tails it covers 88-93% up to 100
seeds; the t interval is the one to use). The t interval states two levels,
each checked where it is claimed: ``confidence_level`` for near-normal scores
(``normal``, ``logistic``), and ``summary()['mean_t_ci_heavy_tail_level']``
(:func:`t_interval_heavy_tail_level`, the package's own simulation) under
``t4`` and ``black_swan``. The truth: ``Draw.mean`` for the
mean; for the IQM, the population's 25%-trimmed mean: the mean for the
symmetric ``normal`` and ``t4``, the mixture's by quadrature for
``black_swan``, and ``Draw.median`` for ``logistic``, whose scores are
symmetric to within 0.03 of their std (mean and median differ by less), so
their trimmed mean lies between the two.

One summary per simulated study serves all three checks (drawn once per
scenario and number of seeds, with its own fixed seed).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from scipy import optimize, stats

from calibration import scenarios as sc
from calibration.checks import Check
from keras_seeds.statistics.study import (
    INTERVAL_MIN_SEEDS,
    SeedStudy,
    interval_level,
    t_interval_heavy_tail_level,
)

LEVEL = 0.95
NEAR_NORMAL, HEAVY_TAILED = ("normal", "logistic"), ("t4", "black_swan")


def black_swan_iqm() -> float:
    """The 25%-trimmed mean of the black-swan mixture: the mean of the scores
    between its quartiles, by the normal's partial expectations."""
    rate, depth = sc.SWAN_RATE, sc.SWAN_DEPTH * sc.STD

    def cdf(x):
        return ((1 - rate) * stats.norm.cdf(x, sc.MEAN, sc.STD)
                + rate * stats.norm.cdf(x, sc.MEAN - depth, sc.STD))

    low, high = (optimize.brentq(lambda x, q=q: cdf(x) - q, sc.MEAN - 20 * sc.STD,
                                 sc.MEAN + 20 * sc.STD) for q in (0.25, 0.75))

    def part(centre):  # E[X; low < X < high] for X ~ N(centre, STD)
        a, b = (low - centre) / sc.STD, (high - centre) / sc.STD
        return (centre * (stats.norm.cdf(b) - stats.norm.cdf(a))
                + sc.STD * (stats.norm.pdf(a) - stats.norm.pdf(b)))

    return ((1 - rate) * part(sc.MEAN) + rate * part(sc.MEAN - depth)) / 0.5


@functools.lru_cache(maxsize=4)
def _summaries(scenario: str, n: int, reps: int):
    """``(draw, [summary of each study], IQM truths)``."""
    name = int.from_bytes(scenario.encode()[:8].ljust(8, b"\0"), "little")
    study = sc.draw(scenario, n, reps, np.random.default_rng([name, n, reps]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summaries = [SeedStudy(scores).summary(LEVEL) for scores in study.scores]
    iqm = {"black_swan": np.full(reps, black_swan_iqm()),
           "logistic": study.median}.get(scenario, study.mean)
    return study, summaries, iqm


def _covered(name: str):
    def run(scenario: str, n: int, reps: int, rng) -> int:
        study, summaries, iqm = _summaries(scenario, n, reps)
        truths = iqm if name == "iqm_ci" else study.mean
        return sum(bool(s[name][0] <= truth <= s[name][1])
                   for s, truth in zip(summaries, truths))
    return run


def _stated(name: str):
    return lambda n: interval_level(name, LEVEL) if n >= INTERVAL_MIN_SEEDS[name] else None


CHECKS = [
    Check("summary()['mean_t_ci'] (near-normal: 95%)", "coverage", _stated("mean_t_ci"),
          _covered("mean_t_ci"), NEAR_NORMAL),
    Check("summary()['mean_t_ci'] (heavy tails: heavy_tail_level)", "coverage",
          lambda n: t_interval_heavy_tail_level(n, LEVEL), _covered("mean_t_ci"), HEAVY_TAILED),
    Check("summary()['mean_ci'] (bootstrap BCa)", "coverage", _stated("mean_ci"),
          _covered("mean_ci")),
    Check("summary()['iqm_ci'] (bootstrap BCa)", "coverage", _stated("iqm_ci"),
          _covered("iqm_ci")),
]
