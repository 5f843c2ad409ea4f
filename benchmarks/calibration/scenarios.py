"""Simulated seed studies with a known truth: what every calibration check draws.

Four ways seeds spread a score (mean 0.9, std 0.01 unless said):

- ``normal``: normal scores;
- ``t4``: Student's t with 4 degrees of freedom, scaled to the same std (heavy tails);
- ``black_swan``: normal, except that each seed is, with probability 1/16, a black
  swan 5 stds below the others;
- ``logistic``: per-example correctness from a logistic model. Examples differ in
  difficulty (``b ~ N(0, 1.5)`` on the logit scale, a fresh set of 300 per study,
  drawn from its distribution), seeds in skill (``s ~ N(0, 0.15)``), and seed k
  gets example i right with probability ``sigmoid(logit(0.85) + s_k - b_i)``,
  independently: a known seed effect on the data distribution, and the finite
  set's noise on top.

:func:`draw` returns ``reps`` studies of ``n`` seeds each, with the truth each
statistic is about. For the logistic scenario the mean and the variance across
seeds are those on the study's own examples (what a study's interval of its
mean is about); ``distribution_variance`` is the variance across seeds of the
score on the whole distribution (what the noise analysis estimates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

SCENARIOS = ("normal", "t4", "black_swan", "logistic")
NS = (3, 5, 10, 20, 30, 64)
MEAN, STD = 0.9, 0.01
SWAN_RATE, SWAN_DEPTH = 1 / 16, 5.0
EXAMPLES = 300
BASE_LOGIT, DIFFICULTY_STD, SKILL_STD = float(special.logit(0.85)), 1.5, 0.15
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(60)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()  # E[g(z)] for z ~ N(0, 1) is sum(w * g(nodes))


@dataclass(frozen=True)
class Draw:
    """``reps`` simulated studies of ``n`` seeds, and their truth.

    Attributes:
        scores: ``(reps, n)``.
        mean, variance, median: ``(reps,)``: of one seed's score, the truth.
        correct: ``(reps, n, EXAMPLES)`` bool (logistic only, else ``None``).
        distribution_variance: ``(reps,)``, the variance across seeds on the
            data distribution (logistic only, else ``None``).
    """

    scores: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    median: np.ndarray
    correct: np.ndarray | None = None
    distribution_variance: np.ndarray | None = None


def _swan_median(shift: float) -> float:
    def cdf(x):
        return ((1 - SWAN_RATE) * stats.norm.cdf(x, MEAN + shift, STD)
                + SWAN_RATE * stats.norm.cdf(x, MEAN + shift - SWAN_DEPTH * STD, STD))
    return float(optimize.brentq(lambda x: cdf(x) - 0.5, MEAN - 10 * STD + shift,
                                 MEAN + 10 * STD + shift))


def draw(scenario: str, n: int, reps: int, rng: np.random.Generator,
         shift: float = 0.0) -> Draw:
    """``reps`` studies of ``n`` seeds under ``scenario``, every score moved by
    ``shift`` (in the score's units; on the logit scale for ``logistic``)."""
    full = np.full(reps, 1.0)
    if scenario == "normal":
        scores = rng.normal(MEAN + shift, STD, (reps, n))
        return Draw(scores, full * (MEAN + shift), full * STD ** 2, full * (MEAN + shift))
    if scenario == "t4":
        scores = MEAN + shift + STD * rng.standard_t(4, (reps, n)) / np.sqrt(2.0)
        return Draw(scores, full * (MEAN + shift), full * STD ** 2, full * (MEAN + shift))
    if scenario == "black_swan":
        swans = rng.random((reps, n)) < SWAN_RATE
        scores = rng.normal(MEAN + shift, STD, (reps, n)) - swans * SWAN_DEPTH * STD
        variance = STD ** 2 * (1 + SWAN_RATE * (1 - SWAN_RATE) * SWAN_DEPTH ** 2)
        return Draw(scores, full * (MEAN + shift - SWAN_RATE * SWAN_DEPTH * STD),
                    full * variance, full * _swan_median(shift))
    if scenario == "logistic":
        return _logistic(n, reps, rng, shift)
    raise ValueError(f"`scenario` must be one of {SCENARIOS}; received {scenario!r}.")


def _logistic(n: int, reps: int, rng: np.random.Generator, shift: float) -> Draw:
    difficulty = rng.normal(0.0, DIFFICULTY_STD, (reps, 1, EXAMPLES))
    skill = rng.normal(0.0, SKILL_STD, (reps, n, 1))
    p = special.expit(BASE_LOGIT + shift + skill - difficulty)
    correct = rng.random(p.shape) < p
    scores = correct.mean(axis=2)
    # On the study's own examples: a seed of skill s scores f(s) = mean_i p_i(s)
    # in expectation, plus its per-example Bernoulli noise.
    nodes = SKILL_STD * _NODES[None, :, None]
    q = special.expit(BASE_LOGIT + shift + nodes - difficulty)       # (reps, nodes, examples)
    f = q.mean(axis=2)
    mean = f @ _WEIGHTS
    noise = (q * (1 - q)).sum(axis=2) / EXAMPLES ** 2
    variance = (f ** 2) @ _WEIGHTS - mean ** 2 + noise @ _WEIGHTS
    # The median of a seed's score on these examples, from the same mixture
    # (normal given s: mean f(s), variance noise(s)).
    median = np.array([_mixture_median(f[r], noise[r]) for r in range(reps)])
    return Draw(scores, mean, variance, median, correct,
                np.full(reps, distribution_variance(shift)))


def _mixture_median(means: np.ndarray, variances: np.ndarray) -> float:
    sd = np.sqrt(variances)
    def cdf(x):
        return float(stats.norm.cdf(x, means, sd) @ _WEIGHTS)
    return float(optimize.brentq(lambda x: cdf(x) - 0.5, means.min() - 10 * sd.max(),
                                 means.max() + 10 * sd.max()))


def distribution_variance(shift: float = 0.0) -> float:
    """The logistic scenario's variance across seeds of the score on the whole
    example distribution: ``Var_s E_b[sigmoid(a + s - b)]`` by Gauss-Hermite
    quadrature over both."""
    s = SKILL_STD * _NODES[:, None]
    b = DIFFICULTY_STD * _NODES[None, :]
    f = special.expit(BASE_LOGIT + shift + s - b) @ _WEIGHTS
    return float((f ** 2) @ _WEIGHTS - (f @ _WEIGHTS) ** 2)
