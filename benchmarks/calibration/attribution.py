"""Calibration of attribution's intervals (``keras_seeds.statistics.attribution``):
each group's ``variance_ci`` (:func:`variance_interval`) and each source's
``share_ci`` (:func:`share_interval`).

The package states two levels for them, and each is checked where it is
claimed:

- ``confidence_level`` (95%) for near-normal scores: checked under the
  ``normal`` and ``logistic`` scenarios;
- under heavy tails, the level :func:`heavy_tail_levels` states at that number
  of seeds (``Attribution.heavy_tail_level``, printed under the table): checked
  under ``t4`` and ``black_swan``. The package gets it from a simulation of its
  own (10,000 studies, its own seeds); these are independent studies drawn by
  ``calibration/scenarios.py``.

The variance: one group of ``n`` seeds, the truth ``Draw.variance`` (for
``logistic``, the variance across seeds on the study's own examples). The
share: two independent groups of ``n`` seeds under the same scenario, as an
attribution's source group and its all-sources group: the source group's
scores are its draw's moved halfway to their true mean (a quarter of the
variance), the all-sources group's as drawn; the truth is
``0.25 * variance_1 / variance_2``.
"""

from __future__ import annotations

import numpy as np

from calibration.checks import Check
from calibration.scenarios import draw
from keras_seeds.statistics.attribution import heavy_tail_levels, share_interval, variance_interval

LEVEL = 0.95
NEAR_NORMAL, HEAVY_TAILED = ("normal", "logistic"), ("t4", "black_swan")
SOURCE_SCALE = 0.5  # the source group's std over the all-sources group's


def variance_covered(scenario: str, n: int, reps: int, rng: np.random.Generator) -> int:
    study = draw(scenario, n, reps, rng)
    hits = 0
    for scores, truth in zip(study.scores, study.variance):
        low, high = variance_interval(scores, LEVEL)
        hits += bool(low <= truth <= high)
    return hits


def share_covered(scenario: str, n: int, reps: int, rng: np.random.Generator) -> int:
    source, total = draw(scenario, n, reps, rng), draw(scenario, n, reps, rng)
    scores = source.mean[:, None] + SOURCE_SCALE * (source.scores - source.mean[:, None])
    truths = SOURCE_SCALE ** 2 * source.variance / total.variance
    hits = 0
    for values, totals, truth in zip(scores, total.scores, truths):
        low, high = share_interval(values, totals, LEVEL)
        hits += bool(low <= truth <= high)
    return hits


CHECKS = [
    Check("attribution variance_ci (near-normal: 95%)", "coverage", lambda n: LEVEL,
          variance_covered, NEAR_NORMAL),
    Check("attribution variance_ci (heavy tails: heavy_tail_levels)", "coverage",
          lambda n: heavy_tail_levels(n, n, LEVEL)["variance"], variance_covered, HEAVY_TAILED),
    Check("attribution share_ci (near-normal: 95%)", "coverage", lambda n: LEVEL,
          share_covered, NEAR_NORMAL),
    Check("attribution share_ci (heavy tails: heavy_tail_levels)", "coverage",
          lambda n: heavy_tail_levels(n, n, LEVEL)["share"], share_covered, HEAVY_TAILED),
]
