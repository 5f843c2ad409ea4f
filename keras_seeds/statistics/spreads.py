"""spreads: which setup's seeds spread less, the safer pick as a single seed.

:func:`compare_spreads` tests whether two setups' seeds spread equally with
the Brown-Forsythe test (``scipy.stats.levene`` centred on the median, robust
to heavy tails and black-swan seeds), and gives each side's range and std;
:class:`SpreadComparison` holds what it found, with a sentence. It is the
single-seed half of :func:`keras_seeds.statistics.ensembles.ensemble_comparison`
and the spread part of :func:`~keras_seeds.compare`.

Imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from keras_seeds.statistics.functions import check_confidence_level


@dataclass(frozen=True)
class SpreadComparison:
    """Which setup's seeds spread less: what :func:`compare_spreads` found.

    Attributes:
        names: A's and B's names.
        n: seeds per side.
        ranges: max minus min of each side's scores.
        stds: sample standard deviation of each side's scores (``ddof=1``).
        statistic: the Brown-Forsythe statistic (Levene's, centred on the
            median: ``scipy.stats.levene(a, b, center="median")``); NaN with
            fewer than 3 seeds on a side.
        p_value: its p-value, for the hypothesis that both setups' seeds
            spread equally; NaN with fewer than 3 seeds on a side.
        smallest_p: the smallest p the test can give with these numbers of
            seeds (0.116 with 3 and 3: then it can never reject at 0.05).
        alpha: the test's level (``1 - confidence_level``).
        safer: the name of the setup whose seeds spread less when the test
            rejects equal spreads at ``alpha``; else ``None``.
        sentence: the finding in words.

    Example:

    >>> result = compare_spreads([0.90, 0.91, 0.92, 0.91], [0.80, 0.95, 0.85, 0.99])
    >>> result.n, result.safer, result.to_dict()["smallest_p"]
    ((4, 4), 'A', 0.0)
    """

    names: tuple[str, str]
    n: tuple[int, int]
    ranges: tuple[float, float]
    stds: tuple[float, float]
    statistic: float
    p_value: float
    smallest_p: float
    alpha: float
    safer: str | None
    sentence: str

    def __str__(self) -> str:
        return self.sentence

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _smallest_levene_p(n_a: int, n_b: int) -> float:
    """The smallest p-value of the median-centred Levene test with ``n_a`` and
    ``n_b`` values: 0 when a side has an even count (its deviations can all
    be equal while the other side's are all 0); with two odd counts each
    side's median deviation is 0, and the largest statistic is
    ``(N - 2) max(n_a (n_b - 1), n_b (n_a - 1)) / N`` (one side tied, the
    other's deviations 0 and D), checked by random search."""
    if n_a % 2 == 0 or n_b % 2 == 0:
        return 0.0
    total = n_a + n_b
    largest = (total - 2) * max(n_a * (n_b - 1), n_b * (n_a - 1)) / total
    return float(stats.f.sf(largest, 1, total - 2))


def compare_spreads(scores_a, scores_b, *, names: tuple[str, str] = ("A", "B"),
                    confidence_level: float = 0.95) -> SpreadComparison:
    """Do the seeds of A and B spread equally? The Brown-Forsythe test
    (Levene's test centred on the median, ``scipy.stats.levene(...,
    center="median")``: robust to heavy tails and black-swan seeds), with
    each side's range and std. Its type-I error keeps its level from 3 seeds
    per side under normal, heavy-tailed, black-swan and logistic scores
    (``benchmarks/calibration/ensembles.py``); with 3 and 3 seeds it can
    never reject at 0.05, and the sentence says so.

    Example:

    >>> steady = [0.910, 0.912, 0.911, 0.913, 0.909, 0.912, 0.910, 0.911]
    >>> lucky = [0.88, 0.93, 0.90, 0.94, 0.86, 0.92, 0.89, 0.95]
    >>> result = compare_spreads(steady, lucky, names=("steady", "lucky"))
    >>> result.safer, round(result.p_value, 4), np.round(result.ranges, 3).tolist()
    ('steady', 0.0002, [0.004, 0.09])
    >>> print(result.sentence)  # doctest: +NORMALIZE_WHITESPACE
    As a single seed, steady is the safer pick: its seeds spread less (range 0.004 against
    0.09, std 0.001309 against 0.03137; Brown-Forsythe test of equal spreads p = 0.00017).
    >>> print(compare_spreads([0.90, 0.91, 0.92], [0.80, 0.95, 0.85]).sentence)
    ... # doctest: +NORMALIZE_WHITESPACE
    As a single seed, B's seeds span a range of 0.15 against A's 0.02 (std 0.07638 against
    0.01), but with 3 and 3 seeds the Brown-Forsythe test of equal spreads cannot reject at
    0.05: the smallest p it can give is 0.12.
    """
    a = _scores(scores_a, "scores_a")
    b = _scores(scores_b, "scores_b")
    names = check_names(names)
    alpha = 1 - check_confidence_level(confidence_level)
    ranges = (float(np.ptp(a)), float(np.ptp(b)))
    stds = tuple(float(np.std(x, ddof=1)) if x.size > 1 else math.nan for x in (a, b))
    range_text, std_text = [four_digits(x) for x in ranges], [four_digits(x) for x in stds]
    n = (int(a.size), int(b.size))
    smallest = _smallest_levene_p(*n)
    statistic = p_value = math.nan
    if min(n) >= 3 and (np.ptp(a) > 0 or np.ptp(b) > 0):
        result = stats.levene(a, b, center="median")
        statistic, p_value = float(result.statistic), float(result.pvalue)
    elif min(n) >= 3:
        statistic, p_value = 0.0, 1.0  # every seed of both scores the same
    narrow, wide = (0, 1) if ranges[0] <= ranges[1] else (1, 0)
    figures = (f"range {range_text[narrow]} against {range_text[wide]}, std "
               f"{std_text[narrow]} against {std_text[wide]}")
    safer = None
    if math.isnan(p_value):
        sentence = (f"As a single seed: {names[0]}'s seeds span a range of {range_text[0]} and "
                    f"{names[1]}'s {range_text[1]}; with {n[0]} and {n[1]} seeds there are too "
                    "few to test their spreads (3 per side at least).")
    elif p_value < alpha:
        # Spread is the mean absolute deviation from the median (what the test compares).
        deviation = [float(np.mean(np.abs(x - np.median(x)))) for x in (a, b)]
        safer = names[0] if deviation[0] < deviation[1] else names[1]
        narrow, wide = (0, 1) if safer == names[0] else (1, 0)
        figures = (f"range {range_text[narrow]} against {range_text[wide]}, std "
                   f"{std_text[narrow]} against {std_text[wide]}")
        sentence = (f"As a single seed, {safer} is the safer pick: its seeds spread less "
                    f"({figures}; Brown-Forsythe test of equal spreads p = {_p(p_value)}).")
    elif smallest >= alpha:
        sentence = (f"As a single seed, {names[wide]}'s seeds span a range of "
                    f"{range_text[wide]} against {names[narrow]}'s {range_text[narrow]} (std "
                    f"{std_text[wide]} against {std_text[narrow]}), but with {n[0]} and {n[1]} "
                    f"seeds the Brown-Forsythe test of equal spreads cannot reject at "
                    f"{alpha:g}: the smallest p it can give is {smallest:.2g}.")
    else:
        sentence = (f"As a single seed, there is no evidence that one setup's seeds spread "
                    f"less than the other's (ranges {names[0]} {range_text[0]}, {names[1]} "
                    f"{range_text[1]}; stds {std_text[0]} and {std_text[1]}; Brown-Forsythe "
                    f"test of equal spreads p = {_p(p_value)}).")
    return SpreadComparison(names=names, n=n, ranges=ranges, stds=stds, statistic=statistic,
                            p_value=p_value, smallest_p=smallest, alpha=alpha, safer=safer,
                            sentence=sentence)


def four_digits(value: float) -> str:
    """A score, range or std in a sentence: 4 significant digits."""
    return f"{value:.4g}"


def _p(value: float) -> str:
    return f"{value:.2g}"


def _scores(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float) if not isinstance(values, str) else None
    if array is None or array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` must be a non-empty 1-D sequence of finite scores, one "
                         f"per seed; received {name}={values!r}.")
    return array


def check_names(names) -> tuple[str, str]:
    """``names`` as two different strings, A's and B's."""
    if (isinstance(names, str) or not isinstance(names, (tuple, list)) or len(names) != 2
            or not all(isinstance(n, str) for n in names) or names[0] == names[1]):
        raise ValueError(f"`names` must be two different strings (A's, B's); received "
                         f"names={names!r}.")
    return tuple(names)
