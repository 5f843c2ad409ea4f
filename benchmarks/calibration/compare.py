"""Calibration of ``compare`` and the seed counts it asks for
(``keras_seeds.statistics.compare`` and ``functions``): the type-I error of
its two tests, the coverage of every interval it returns, the power at the
seed counts it asks for, and the assurance of ``seeds_needed``.

Unpaired studies: ``n`` seeds of A and ``n`` of B drawn independently from a
scenario of ``calibration/scenarios.py``, A moved by ``SHIFT`` (1 std of a
seed's score) or not at all. The truth of P(a seed of A beats one of B) is
``Phi(1/sqrt 2)`` for normal scores, by quadrature over the t(4) density,
and a sum over the four black-swan cases; 1/2 for equal setups.

Paired studies (the same seeds for A and B): a shared luck per seed, ``N(0,
std)``, added to two independent draws, so that the seed-by-seed gain is the
difference of two independent scores (plus ``SHIFT``): symmetric about the
shift, whose pseudo-median (the Hodges-Lehmann target), mean, and P(A better
on the same seed) are then known exactly.

The logistic scenario is generated here, not by ``scenarios.draw``: A and B
are evaluated on the same examples (as two setups are on one validation
set), and paired, share each seed's skill too, each training making its own
per-example errors. Its gains are multiples of 1/300 and tie. Under equal
setups every truth is exact (1/2, 0); with A moved (``LOGIT_SHIFT`` on the
logit scale) the mean gap on the study's examples is computed by quadrature,
and the probability and pseudo-median checks are left out there.

Power: for each ``n``, the standardized gap at which the t test needs ``n``
seeds (``t_test_size``), times the scenario's true std (of a seed's score,
or of the paired gain); the package's count for that gap and std; then
``reps`` studies of that count with that true gap, counting the rejections
in the right direction. Assurance: a pilot of ``n`` seeds, the count
``seeds_needed(pilot std, width=true std, pilot_seeds=n)`` asks for, and a
study of that count: is its 95% t interval narrower than ``width``?

Where scores tie (logistic), the Mann-Whitney p-value is a permutation test;
here with ``PERMUTATIONS = 199`` resamples instead of the package's 9999, to
keep the run to minutes (any number of resamples keeps the level; fewer
lose a little power).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import integrate, optimize, special, stats

from calibration.checks import Check
from calibration.scenarios import (
    BASE_LOGIT,
    DIFFICULTY_STD,
    EXAMPLES,
    SKILL_STD,
    STD,
    SWAN_DEPTH,
    SWAN_RATE,
    draw,
)
from keras_seeds.statistics import functions as statistics
from keras_seeds.statistics.compare import SCORE_RESOLUTION

LEVEL, ALPHA, POWER, ASSURANCE = 0.95, 0.05, 0.8, 0.8
HEAVY_TAILED_ASSURANCE = statistics.HEAVY_TAILED_ASSURANCE
SHIFT = 1.0 * STD
LOGIT_SHIFT = 0.15
PERMUTATIONS = 199
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_CHUNK = 250  # logistic studies generated at a time (reps x n x 300 examples)


# ------------------------------------------------------------------ truths
def true_probability(scenario: str, shift: float) -> float:
    """P(X + shift > X') for two independent scores of the scenario (ties have
    probability 0): the truth of P(A better), unpaired or seed by seed."""
    if shift == 0:
        return 0.5
    if scenario == "normal":
        return float(stats.norm.cdf(shift / (STD * math.sqrt(2))))
    if scenario == "t4":  # X = STD * T / sqrt(2): P(T' - T < shift sqrt(2) / STD)
        c = shift * math.sqrt(2) / STD
        return float(integrate.quad(lambda t: stats.t.pdf(t, 4) * stats.t.cdf(t + c, 4),
                                    -np.inf, np.inf)[0])
    if scenario == "black_swan":
        p = {0: 1 - SWAN_RATE, 1: SWAN_RATE}
        return float(sum(p[i] * p[j] * stats.norm.cdf(
            (shift - SWAN_DEPTH * STD * (i - j)) / (STD * math.sqrt(2)))
            for i in (0, 1) for j in (0, 1)))
    raise ValueError(scenario)


def _expected_score(difficulty: np.ndarray, shift: float) -> np.ndarray:
    """E over a seed's skill of its mean correctness on each study's examples:
    ``(reps,)`` from ``(reps, examples)`` difficulties."""
    skill = SKILL_STD * _NODES[None, :, None]
    return special.expit(BASE_LOGIT + shift + skill - difficulty[:, None, :]).mean(
        axis=2) @ _WEIGHTS


def _distribution_score(shift: float) -> float:
    """The mean score over skills and the example distribution."""
    b = DIFFICULTY_STD * _NODES
    return float(_WEIGHTS @ special.expit(BASE_LOGIT + shift + SKILL_STD * _NODES[:, None]
                                          - b[None, :]) @ _WEIGHTS)


def _logit_shift_for(gap: float) -> float:
    """The logit shift that moves the logistic scenario's mean score by ``gap``."""
    base = _distribution_score(0.0)
    return optimize.brentq(lambda x: _distribution_score(x) - base - gap, 0.0, 20.0)


# ------------------------------------------------------------ studies
def _logistic(n: int, reps: int, rng: np.random.Generator, shift: float, paired: bool):
    """A and B on the same examples; paired, with the same skill per seed too.
    Returns ``(a, b, true mean gap)``, each ``(reps, ...)``."""
    a, b, gaps = [], [], []
    for start in range(0, reps, _CHUNK):
        size = min(_CHUNK, reps - start)
        difficulty = rng.normal(0.0, DIFFICULTY_STD, (size, 1, EXAMPLES))
        skill_a = rng.normal(0.0, SKILL_STD, (size, n, 1))
        skill_b = skill_a if paired else rng.normal(0.0, SKILL_STD, (size, n, 1))
        # float32 draws: twice as fast, and a probability's error of 1e-7 is immaterial.
        for scores, logit in ((a, BASE_LOGIT + shift + skill_a - difficulty),
                              (b, BASE_LOGIT + skill_b - difficulty)):
            right = rng.random((size, n, EXAMPLES), dtype=np.float32) < special.expit(
                logit.astype(np.float32))
            scores.append(np.count_nonzero(right, axis=2) / EXAMPLES)
        gaps.append(_expected_score(difficulty[:, 0], shift)
                    - _expected_score(difficulty[:, 0], 0.0) if shift else np.zeros(size))
    return np.concatenate(a), np.concatenate(b), np.concatenate(gaps)


def unpaired(scenario: str, n: int, reps: int, rng: np.random.Generator, shift: float):
    """``(a, b, true mean gap)``; ``shift`` in score units (logit for logistic)."""
    if scenario == "logistic":
        return _logistic(n, reps, rng, shift, paired=False)
    a = draw(scenario, n, reps, rng, shift=shift).scores
    return a, draw(scenario, n, reps, rng).scores, np.full(reps, shift)


def paired(scenario: str, n: int, reps: int, rng: np.random.Generator, shift: float):
    """``(a, b, true mean gain)`` on shared seeds."""
    if scenario == "logistic":
        return _logistic(n, reps, rng, shift, paired=True)
    luck = rng.normal(0.0, STD, (reps, n))
    a = draw(scenario, n, reps, rng, shift=shift).scores + luck
    return a, draw(scenario, n, reps, rng).scores + luck, np.full(reps, shift)


def _tolerance(a: np.ndarray, b: np.ndarray) -> float:
    """compare's tie tolerance for one paired study."""
    return SCORE_RESOLUTION * float(np.max(np.abs(np.concatenate([a, b]))))


def _mann_whitney_p(scenario: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if scenario != "logistic":  # no ties: scipy's test along the axis, as mann_whitney_p
        return stats.mannwhitneyu(a, b, axis=1).pvalue
    return np.array([statistics.mann_whitney_p(x, y, r, PERMUTATIONS)
                     for r, (x, y) in enumerate(zip(a, b))])


# ------------------------------------------------------------------ checks
def _shift_of(scenario: str, moved: bool) -> float:
    if not moved:
        return 0.0
    return LOGIT_SHIFT if scenario == "logistic" else SHIFT


def _mann_whitney_type_one(scenario, n, reps, rng):
    a, b, _ = unpaired(scenario, n, reps, rng, 0.0)
    return int(np.sum(_mann_whitney_p(scenario, a, b) < ALPHA))


def _probability_coverage(moved: bool):
    def run(scenario, n, reps, rng):
        if moved and scenario == "logistic":
            return None
        shift = _shift_of(scenario, moved)
        a, b, _ = unpaired(scenario, n, reps, rng, shift)
        low, high = statistics.improvement_interval(a, b, LEVEL)
        truth = true_probability(scenario, shift)
        return int(np.sum((low <= truth) & (truth <= high)))
    return run


def _welch_coverage(scenario, n, reps, rng):
    a, b, gap = unpaired(scenario, n, reps, rng, _shift_of(scenario, True))
    low, high = statistics.welch_interval(a, b, LEVEL)
    return int(np.sum((low <= gap) & (gap <= high)))


def _signed_rank_type_one(scenario, n, reps, rng):
    a, b, _ = paired(scenario, n, reps, rng, 0.0)
    return sum(statistics.wilcoxon_p(x - y, _tolerance(x, y)) < ALPHA for x, y in zip(a, b))


def _hodges_lehmann_level(n: int) -> float:
    achieved = statistics.hodges_lehmann(np.arange(1.0, n + 1), LEVEL)[2]
    return LEVEL if achieved >= LEVEL - 1e-12 else achieved


def _hodges_lehmann_coverage(moved: bool):
    def run(scenario, n, reps, rng):
        if moved and scenario == "logistic":
            return None
        shift = _shift_of(scenario, moved)
        a, b, _ = paired(scenario, n, reps, rng, shift)  # gains symmetric about shift
        hits = 0
        for x, y in zip(a, b):
            low, high = statistics.hodges_lehmann(x - y, LEVEL)[1]
            hits += low <= shift <= high
        return hits
    return run


def _paired_t_coverage(scenario, n, reps, rng):
    a, b, gain = paired(scenario, n, reps, rng, _shift_of(scenario, True))
    low, high = statistics.t_interval(a - b, LEVEL)
    return int(np.sum((low <= gain) & (gain <= high)))


def _win_rate_coverage(moved: bool):
    def run(scenario, n, reps, rng):
        if moved and scenario == "logistic":
            return None
        shift = _shift_of(scenario, moved)
        a, b, _ = paired(scenario, n, reps, rng, shift)
        truth = true_probability(scenario, shift)
        d = a - b
        tolerance = SCORE_RESOLUTION * np.max(np.abs(np.concatenate([a, b], axis=1)), axis=1)
        better = np.sum(d > tolerance[:, None], axis=1)
        tied = np.sum(np.abs(d) <= tolerance[:, None], axis=1)
        low, high = statistics.win_rate_interval(better, tied, n, LEVEL)
        return int(np.sum((low <= truth) & (truth <= high)))
    return run


@functools.lru_cache(maxsize=None)
def true_std(scenario: str, paired_gain: bool) -> float:
    """The true std of a seed's score, or of the paired gain (logistic: by a
    simulation of 4000 seeds, fixed seed)."""
    if scenario == "logistic":
        rng = np.random.default_rng(5)
        if paired_gain:
            a, b, _ = _logistic(2, 2000, rng, 0.0, paired=True)
            return float(np.std(a - b))
        a, _, _ = _logistic(2, 2000, rng, 0.0, paired=False)
        return float(np.sqrt(np.mean(np.var(a, axis=1, ddof=1))))
    std = STD * (math.sqrt(1 + SWAN_RATE * (1 - SWAN_RATE) * SWAN_DEPTH ** 2)
                 if scenario == "black_swan" else 1.0)
    return std * (math.sqrt(2) if paired_gain else 1.0)


@functools.lru_cache(maxsize=None)
def t_test_effect(n: int, samples: int) -> float:
    """The standardized gap at which the t test at ``ALPHA`` needs ``n`` seeds
    for ``POWER`` (a pair's, or per side)."""
    def shortfall(effect):
        df = n - 1 if samples == 1 else 2 * n - 2
        noncentral = effect * math.sqrt(n if samples == 1 else n / 2)
        critical = stats.t.ppf(1 - ALPHA / 2, df)
        return (stats.nct.sf(critical, df, noncentral)
                + stats.nct.sf(critical, df, -noncentral)) - POWER
    return optimize.brentq(shortfall, 1e-3, 15.0)


def _power(samples: int):
    def run(scenario, n, reps, rng):
        std = true_std(scenario, samples == 1)
        gap = t_test_effect(n, samples) * std
        if samples == 1:
            count = statistics.pairs_to_detect(gap, std, LEVEL, POWER)
        else:
            count = statistics.seeds_to_detect(gap, std, LEVEL, POWER)
        shift = _logit_shift_for(gap) if scenario == "logistic" else gap
        if samples == 1:
            a, b, _ = paired(scenario, count, reps, rng, shift)
            return sum(statistics.wilcoxon_p(x - y, _tolerance(x, y)) < ALPHA
                       and statistics.signed_rank_sum(x - y, _tolerance(x, y)) > 0
                       for x, y in zip(a, b))
        a, b, _ = unpaired(scenario, count, reps, rng, shift)
        better = stats.mannwhitneyu(a, b, axis=1).statistic > count * count / 2
        return int(np.sum((_mann_whitney_p(scenario, a, b) < ALPHA) & better))
    return run


def _needed_by_std(pilot: int, width: float, cap: int = 20_000) -> np.ndarray:
    """``limit[N]``: the largest pilot std for which ``seeds_needed`` asks at
    most ``N`` seeds (its condition solved for the std), ``N = 0 .. cap``."""
    n = np.arange(2, cap + 1)
    limit = width * np.sqrt(n) / (2 * stats.t.ppf((1 + LEVEL) / 2, n - 1)
                                  * np.sqrt(stats.f.ppf(ASSURANCE, n - 1, pilot - 1)))
    return np.concatenate([[-np.inf, -np.inf], np.maximum.accumulate(limit)])


def _assurance(scenario, n, reps, rng):
    width = true_std(scenario, False)
    pilot = draw(scenario, n, reps, rng).scores if scenario != "logistic" else _logistic(
        n, reps, rng, 0.0, paired=False)[0]
    s = np.std(pilot, axis=1, ddof=1)
    limit = _needed_by_std(n, width)
    counts = np.searchsorted(limit, s, side="left")
    for i in range(min(reps, 10)):  # the vectorized counts are the package's
        assert counts[i] == statistics.seeds_needed(float(s[i]), width, LEVEL,
                                                    assurance=ASSURANCE, pilot_seeds=n)
    hits = 0
    for count in np.unique(counts):
        size = int(np.sum(counts == count))
        if count >= limit.size:  # beyond the table: the package's own answer per study
            count = statistics.seeds_needed(float(s[counts == count][0]), width, LEVEL,
                                            assurance=ASSURANCE, pilot_seeds=n)
        scores = (_logistic(int(count), size, rng, 0.0, paired=False)[0]
                  if scenario == "logistic" else draw(scenario, int(count), size, rng).scores)
        planned = 2 * stats.t.ppf((1 + LEVEL) / 2, count - 1) * np.std(
            scores, axis=1, ddof=1) / np.sqrt(count)
        hits += int(np.sum(planned < width))
    return hits


CHECKS = [
    Check("compare().p_value (Mann-Whitney) at 0.05, equal setups", "type I error",
          lambda n: ALPHA, _mann_whitney_type_one),
    Check("compare().probability_ci, equal setups", "coverage",
          lambda n: LEVEL, _probability_coverage(moved=False)),
    Check("compare().probability_ci, A 1 std better", "coverage",
          lambda n: LEVEL, _probability_coverage(moved=True)),
    Check("compare().mean_difference_ci (Welch), A better", "coverage",
          lambda n: LEVEL, _welch_coverage),
    Check("compare(paired).p_value (exact signed-rank) at 0.05, equal", "type I error",
          lambda n: ALPHA, _signed_rank_type_one),
    Check("compare(paired).median_difference_ci (HL), equal setups", "coverage",
          _hodges_lehmann_level, _hodges_lehmann_coverage(moved=False)),
    Check("compare(paired).median_difference_ci (HL), gain 1 std", "coverage",
          _hodges_lehmann_level, _hodges_lehmann_coverage(moved=True)),
    Check("compare(paired).mean_difference_ci (t), A better", "coverage",
          lambda n: LEVEL, _paired_t_coverage),
    Check("compare(paired).probability_ci (wins), equal setups", "coverage",
          lambda n: LEVEL, _win_rate_coverage(moved=False)),
    Check("compare(paired).probability_ci (wins), gain 1 std", "coverage",
          lambda n: LEVEL, _win_rate_coverage(moved=True)),
    Check("seeds_to_detect(): power at its count (t needs n)", "power",
          lambda n: POWER, _power(samples=2)),
    Check("pairs_to_detect(): power at its count (t needs n)", "power",
          lambda n: POWER, _power(samples=1)),
    Check("seeds_needed(pilot_seeds=n): assurance, width = std", "assurance",
          lambda n: ASSURANCE, _assurance, scenarios=("normal", "logistic")),
    # The package states 0.8 for normal scores and about 0.7 with heavy tails
    # (seeds_needed's docstring): a small pilot rarely sees the black swan.
    Check("seeds_needed(pilot_seeds=n): assurance, heavy tails", "assurance",
          lambda n: HEAVY_TAILED_ASSURANCE, _assurance, scenarios=("t4", "black_swan")),
]
