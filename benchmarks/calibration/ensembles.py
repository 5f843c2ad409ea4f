"""Calibration of which setup to ship (``keras_seeds.statistics.ensembles``):
the interval of P(A's k-seed ensemble beats B's), and the Brown-Forsythe test
of equal spreads.

The four scenarios of ``calibration/scenarios.py`` give per-seed scores; an
ensemble needs per-seed *predictions*. So the interval is checked on a
known-truth model of them, a binary classifier on a fixed evaluation set of
300 examples (drawn once per scenario, with difficulty ``b_i ~ N(0, 1.5)``
on the logit scale and labels half 0, half 1):

    margin[k, i] = logit(0.85) + shift + skill[k] - b_i + noise[k, i]
    seed k's probability of example i's right class = sigmoid(margin[k, i])

A k-seed ensemble averages those probabilities and is right where the mean
is above 1/2; its score is its accuracy. ``skill`` (how good the seed is
overall) follows the scenario: ``normal``, ``N(0, 0.15)``; ``t4``, t(4)
scaled to std 0.15; ``black_swan``, ``N(0, 0.15)`` and, with probability
1/16, 5 stds lower; ``logistic``, ``N(0, 0.15)``. ``noise`` (where seeds
disagree example by example, what ensembling averages away) is
``N(0, scale)``, and in ``logistic`` ``Logistic(0, scale)``: there each
seed's correctness is exactly the logistic scenario's (Bernoulli with
probability ``sigmoid(logit(0.85) + skill - b_i)``) when ``scale = 1``.

Two setups: B (``shift = 0``, ``scale = 1``) and A, whose seeds disagree
more (``scale = 1.6``) on a higher base (``shift = 0.3``): worse single
seeds, better ensembles. The truth P(A's k-seed ensemble beats B's) on the
evaluation set is computed by simulating 50,000 independent k-seed ensembles
of each (Monte-Carlo standard error about 0.002) and comparing every pair.
A second check compares B with itself, where the truth is 1/2 exactly.

Each study draws ``n`` seeds of each setup and calls
``ensemble_comparison(..., k=default_k(n, n))`` (k = 1 at 3 seeds, 2 at 5,
5 from 10 on), with its default 2000 random k-subsets per side.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

from calibration.checks import Check
from calibration.scenarios import SCENARIOS, SKILL_STD, SWAN_DEPTH, SWAN_RATE, draw
from keras_seeds.statistics.ensembles import compare_spreads, default_k, ensemble_comparison

EXAMPLES = 300
BASE_LOGIT, DIFFICULTY_STD = float(special.logit(0.85)), 1.5
SETUP_B = (0.0, 1.0)  # (shift, noise scale)
SETUP_A = (0.3, 1.6)
LEVEL = 0.95
TRUTH_ENSEMBLES = 50_000


@functools.lru_cache(maxsize=None)
def evaluation_set(scenario: str) -> tuple[np.ndarray, np.ndarray]:
    """``(difficulty, labels)`` of the scenario's fixed evaluation set."""
    rng = np.random.default_rng([7, SCENARIOS.index(scenario)])
    labels = np.repeat([0, 1], EXAMPLES // 2)
    return rng.normal(0.0, DIFFICULTY_STD, EXAMPLES), rng.permutation(labels)


def _skill(scenario: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    if scenario == "t4":
        return SKILL_STD * rng.standard_t(4, shape) / np.sqrt(2.0)
    skill = rng.normal(0.0, SKILL_STD, shape)
    if scenario == "black_swan":
        skill -= (rng.random(shape) < SWAN_RATE) * SWAN_DEPTH * SKILL_STD
    return skill


def predictions(scenario: str, setup: tuple, seeds: int, rng: np.random.Generator,
                studies: int = 1) -> np.ndarray:
    """Each seed's probability of class 1, ``(studies, seeds, EXAMPLES)``."""
    shift, scale = setup
    difficulty, labels = evaluation_set(scenario)
    skill = _skill(scenario, (studies, seeds, 1), rng)
    shape = (studies, seeds, EXAMPLES)
    noise = (rng.logistic(0.0, scale, shape) if scenario == "logistic"
             else rng.normal(0.0, scale, shape))
    right = special.expit(BASE_LOGIT + shift + skill - difficulty + noise)
    return np.where(labels == 1, right, 1 - right)


def _ensemble_accuracies(scenario: str, setup: tuple, k: int, count: int,
                         rng: np.random.Generator) -> np.ndarray:
    """Accuracies of ``count`` independent k-seed ensembles."""
    labels = evaluation_set(scenario)[1]
    scores = []
    for start in range(0, count, 2000):
        p = predictions(scenario, setup, k, rng, min(2000, count - start))
        mean = p.mean(axis=1).astype(np.float32)  # as the package: float32 means
        scores.append(np.mean((mean > 0.5) == labels, axis=1))
    return np.concatenate(scores)


@functools.lru_cache(maxsize=None)
def true_probability(scenario: str, k: int) -> float:
    """P(A's k-seed ensemble beats B's), ties 1/2, on the scenario's
    evaluation set: every pair of 50,000 simulated ensembles per setup."""
    rng = np.random.default_rng([11, SCENARIOS.index(scenario), k])
    a = _ensemble_accuracies(scenario, SETUP_A, k, TRUTH_ENSEMBLES, rng)
    b = np.sort(_ensemble_accuracies(scenario, SETUP_B, k, TRUTH_ENSEMBLES, rng))
    below = np.searchsorted(b, a, side="left")
    tied = np.searchsorted(b, a, side="right") - below
    return float(np.mean((below + 0.5 * tied) / b.size))


def _coverage(setup_a: tuple, null: bool):
    def run(scenario: str, n: int, reps: int, rng: np.random.Generator) -> int:
        k = default_k(n, n)
        truth = 0.5 if null else true_probability(scenario, k)
        labels = evaluation_set(scenario)[1]
        hits = 0
        for _ in range(reps):
            a = predictions(scenario, setup_a, n, rng)[0]
            b = predictions(scenario, SETUP_B, n, rng)[0]
            low, high = ensemble_comparison(a, b, labels, k, score="binary_accuracy",
                                            confidence_level=LEVEL,
                                            random_state=int(rng.integers(2 ** 31))
                                            ).probability_ci
            hits += bool(low <= truth <= high)
        return hits
    return run


def _spread_type_one(scenario: str, n: int, reps: int, rng: np.random.Generator) -> int:
    a, b = draw(scenario, n, reps, rng).scores, draw(scenario, n, reps, rng).scores
    return sum(compare_spreads(x, y, confidence_level=LEVEL).p_value < 1 - LEVEL
               for x, y in zip(a, b))


CHECKS = [
    Check("ensemble_comparison().probability_ci, A more diverse", "coverage",
          lambda n: LEVEL, _coverage(SETUP_A, null=False)),
    Check("ensemble_comparison().probability_ci, B against B", "coverage",
          lambda n: LEVEL, _coverage(SETUP_B, null=True)),
    Check("compare_spreads().p_value (Brown-Forsythe) at 0.05", "type I error",
          lambda n: 1 - LEVEL, _spread_type_one),
]
