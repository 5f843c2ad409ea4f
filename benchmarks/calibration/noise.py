"""Calibration of the test-set noise analysis (``keras_seeds.statistics.noise``)
and of ``SeedStudy.test_agreement``: every figure they report with a level.

- ``noise().distribution_std_ci``: the interval of the seeds' std on the data
  distribution (Bonett's interval of the variance of the scores, less the
  finite set's part), given from ``DISTRIBUTION_CI_MIN_SEEDS`` (5) seeds: with
  3 or 4 it keeps its level but its upper end is 7 to 55 times the observed
  std, and it is withheld. Truth: ``Draw.distribution_variance`` of the
  ``logistic`` scenario, the variance across seeds of the score on the whole
  example distribution (the other scenarios have no per-example data).
- ``noise().reliability_ci``, from which ``best_gap_ci`` (the observed gap
  times its ends) and ``best_above_median_ci`` (an increasing function of it)
  take their level. Truth: the distribution-wise variance over the variance
  of a seed's score on the study's own examples (``Draw.variance``).
- ``test_agreement()['spearman_ci']``: withheld below
  ``SPEARMAN_CI_MIN_SEEDS``. Truth: the population Spearman correlation of
  the seeds' scores on two sets. ``normal``: bivariate normal scores with
  correlation ``RHO`` (Spearman's rho ``6 / pi * asin(RHO / 2)``);
  ``logistic``: the logistic scenario's seeds scored on a validation and a
  test set of 300 examples each, drawn independently; their Pearson
  correlation is ``Cov(f_val(s), f_test(s)) / sqrt(V_val V_test)`` by
  Gauss-Hermite quadrature over the seeds' skill (the scores are near-normal,
  so Spearman's rho is ``6 / pi * asin(r / 2)``).

The percentile bootstrap over seeds that ``noise()`` used before covered the
distribution-wise variance 80-85% of the time at a nominal 95% with 10 seeds;
it stays available as ``noise(method="percentile")`` for comparison and is
not checked here, as the package does not report it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from calibration import scenarios as sc
from calibration.checks import Check
from keras_seeds.statistics.noise import DISTRIBUTION_CI_MIN_SEEDS, noise_estimate
from keras_seeds.statistics.study import SPEARMAN_CI_MIN_SEEDS, SeedStudy

LEVEL = 0.95
RHO = 0.6
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(60)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def _estimates(n: int, reps: int, rng: np.random.Generator):
    study = sc.draw("logistic", n, reps, rng)
    return study, [noise_estimate(correct, confidence_level=LEVEL) for correct in study.correct]


def distribution_std_covered(scenario: str, n: int, reps: int, rng) -> int:
    study, estimates = _estimates(n, reps, rng)
    truth = math.sqrt(study.distribution_variance[0])
    return sum(e.distribution_std_ci[0] <= truth <= e.distribution_std_ci[1] for e in estimates)


def reliability_covered(scenario: str, n: int, reps: int, rng) -> int:
    study, estimates = _estimates(n, reps, rng)
    truths = study.distribution_variance / study.variance
    return sum(e.reliability_ci[0] <= truth <= e.reliability_ci[1]
               for e, truth in zip(estimates, truths))


def two_sets(n: int, reps: int, rng: np.random.Generator):
    """The logistic scenario's ``n`` seeds scored on two independent sets of
    examples: ``(validation scores, test scores, Spearman's rho)``, the first
    two ``(reps, n)``."""
    skill = rng.normal(0.0, sc.SKILL_STD, (reps, n, 1))
    scores, moments = [], []
    for _ in range(2):
        difficulty = rng.normal(0.0, sc.DIFFICULTY_STD, (reps, 1, sc.EXAMPLES))
        p = special.expit(sc.BASE_LOGIT + skill - difficulty)
        scores.append((rng.random(p.shape) < p).mean(axis=2))
        q = special.expit(sc.BASE_LOGIT + sc.SKILL_STD * _NODES[None, :, None] - difficulty)
        f = q.mean(axis=2)                                    # (reps, nodes)
        noise = (q * (1 - q)).sum(axis=2) / sc.EXAMPLES ** 2
        moments.append((f, (f ** 2) @ _WEIGHTS - (f @ _WEIGHTS) ** 2 + noise @ _WEIGHTS))
    (f_val, v_val), (f_test, v_test) = moments
    covariance = (f_val * f_test) @ _WEIGHTS - (f_val @ _WEIGHTS) * (f_test @ _WEIGHTS)
    pearson = covariance / np.sqrt(v_val * v_test)
    return scores[0], scores[1], 6 / math.pi * np.arcsin(pearson / 2)


def spearman_covered(scenario: str, n: int, reps: int, rng) -> int:
    if scenario == "normal":
        x = rng.normal(size=(reps, n))
        validation = sc.MEAN + sc.STD * x
        test = sc.MEAN + sc.STD * (RHO * x + math.sqrt(1 - RHO ** 2) * rng.normal(size=(reps, n)))
        truths = np.full(reps, 6 / math.pi * math.asin(RHO / 2))
    else:
        validation, test, truths = two_sets(n, reps, rng)
    hits = 0
    for a, b, truth in zip(validation, test, truths):
        low, high = SeedStudy(a, test_scores=b).test_agreement(LEVEL)["spearman_ci"]
        hits += bool(low <= truth <= high)
    return hits


def _from(fewest: int):
    return lambda n: LEVEL if n >= fewest else None


CHECKS = [
    Check("noise().distribution_std_ci (Bonett)", "coverage",
          _from(DISTRIBUTION_CI_MIN_SEEDS), distribution_std_covered, ("logistic",)),
    Check("noise().reliability_ci (best_gap_ci, best_above_median_ci)", "coverage",
          _from(DISTRIBUTION_CI_MIN_SEEDS), reliability_covered, ("logistic",)),
    Check("test_agreement()['spearman_ci']", "coverage",
          _from(SPEARMAN_CI_MIN_SEEDS), spearman_covered,
          ("normal", "logistic")),
]
