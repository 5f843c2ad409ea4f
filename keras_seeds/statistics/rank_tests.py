"""Rank tests of seed scores at small n, exact with ties.

- :func:`wilcoxon_p`, :func:`signed_rank_sum`: the Wilcoxon signed-rank test
  of seed-by-seed differences, its p from the exact distribution of the
  midranks' sign flips (:func:`signed_rank_cdf` without ties);
- :func:`hodges_lehmann`: the median difference with its signed-rank
  interval and the level that interval has;
- :func:`mann_whitney_p`: the Mann-Whitney test of two setups' seeds, a
  permutation test of the midranks when scores tie;
- :func:`smallest_wilcoxon_p`, :func:`smallest_mann_whitney_p`,
  :func:`fewest_pairs_to_reject`, :func:`fewest_seeds_to_separate`: the
  smallest p each test can give, and from how many seeds it can reject.

:func:`~keras_seeds.compare` runs them; :mod:`keras_seeds.statistics.functions`
sizes studies for them. Imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy import stats


def fewest_seeds_to_separate(confidence_level: float = 0.95) -> int:
    """The fewest seeds per side for which a two-sided Mann-Whitney test can
    reach ``p < 1 - confidence_level`` at all: with every seed of one side
    better, ``p = 2 / C(2n, n)`` (4 at 95%: 3 against 3 gives p = 0.1).

    Example:

    >>> fewest_seeds_to_separate(0.95), fewest_seeds_to_separate(0.99)
    (4, 5)
    """
    n = 1
    while smallest_mann_whitney_p(n, n) >= 1 - confidence_level:
        n += 1
    return n


def smallest_mann_whitney_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p the Mann-Whitney test can give with ``n_a``
    and ``n_b`` seeds, every seed of one side better than every one of the
    other: ``2 / C(n_a + n_b, n_a)`` (ties only make it larger).

    Example:

    >>> smallest_mann_whitney_p(3, 3), smallest_mann_whitney_p(4, 4)
    (0.1, 0.02857142857142857)
    """
    return min(1.0, 2 / math.comb(n_a + n_b, n_a))


def smallest_wilcoxon_p(pairs: int) -> float:
    """The smallest two-sided p the signed-rank test can give with ``pairs``
    non-zero differences, all of one sign: ``2^(1 - pairs)`` (0.25 at 3 pairs).

    Example:

    >>> smallest_wilcoxon_p(3), smallest_wilcoxon_p(6)
    (0.25, 0.03125)
    """
    return min(1.0, 2.0 ** (1 - pairs))


def fewest_pairs_to_reject(confidence_level: float = 0.95) -> int:
    """The fewest pairs (non-zero differences) with which a two-sided
    signed-rank test can reach ``p < 1 - confidence_level``: 6 at 95%.

    Example:

    >>> fewest_pairs_to_reject(0.95), fewest_pairs_to_reject(0.99)
    (6, 8)
    """
    n = 1
    while smallest_wilcoxon_p(n) >= 1 - confidence_level:
        n += 1
    return n


# wilcoxon_p and hodges_lehmann use the exact signed-rank distribution up to
# this many pairs (the dynamic program below takes under 0.05 s there); beyond,
# scipy's normal approximation of p and the Edgeworth expansion of the
# interval's index, which agree with it (tests/statistics/test_compare.py).
EXACT_SIGNED_RANK_PAIRS = 300


def _sign_flip_pmf(weights: np.ndarray) -> np.ndarray:
    """The distribution of ``sum_i s_i w_i`` over independent fair signs
    ``s_i in {0, 1}``, for non-negative integer weights: ``pmf[t]`` for
    ``t = 0 .. sum(w)``. One weight at a time, each step halving the
    probabilities (so that it never overflows, as counts over 2^n do)."""
    pmf = np.zeros(int(np.sum(weights)) + 1)
    pmf[0], top = 1.0, 0
    for w in np.sort(weights.astype(np.int64)):
        w = int(w)
        shifted = pmf[:top + 1].copy()
        pmf[:top + w + 1] *= 0.5
        pmf[w:top + w + 1] += 0.5 * shifted
        top += w
    return pmf


@functools.lru_cache(maxsize=64)
def _signed_rank_cdf(n: int) -> np.ndarray:
    cdf = np.cumsum(_sign_flip_pmf(np.arange(1, n + 1)))
    cdf.flags.writeable = False
    return cdf


def signed_rank_cdf(n: int) -> np.ndarray:
    """``P(W+ <= w)`` for ``w = 0 .. n(n+1)/2``: the exact null distribution of
    the Wilcoxon signed-rank statistic of ``n`` untied differences (each rank
    counted with probability 1/2), by a dynamic program over the ranks (no
    ``2^n`` that overflows: it runs at any ``n``, in about ``n^3 / 4`` steps).

    Example:

    >>> signed_rank_cdf(3).tolist()
    [0.125, 0.25, 0.375, 0.625, 0.75, 0.875, 1.0]
    """
    return _signed_rank_cdf(int(n)).copy()


def untied_signed_rank_p(w_plus, n: int):
    """Two-sided exact p of untied signed-rank statistics ``w_plus`` (arrays
    work): ``min(1, 2 P(W+ <= min(w, n(n+1)/2 - w)))``, the distribution being
    symmetric."""
    lower = np.minimum(w_plus, n * (n + 1) // 2 - np.asarray(w_plus))
    return np.minimum(1.0, 2 * _signed_rank_cdf(n)[lower])


def _midranks(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Ranks of ``values`` (1 = smallest), values within ``tolerance`` of
    their neighbour in sorted order sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    group = np.concatenate([[0], np.cumsum(np.diff(ordered) > tolerance)])
    positions = np.arange(1, values.size + 1, dtype=float)
    means = np.bincount(group, positions) / np.bincount(group)
    ranks = np.empty(values.size)
    ranks[order] = means[group]
    return ranks


def _tolerance(d: np.ndarray, tolerance: float | None) -> float:
    if tolerance is None:
        # Differences equal to 12 digits of the largest one are one value.
        return 1e-12 * float(np.max(np.abs(d), initial=0.0))
    if not (isinstance(tolerance, (int, float, np.floating)) and tolerance >= 0):
        raise ValueError("`tolerance` must be a number >= 0 (differences closer than it "
                         f"tie) or None; received tolerance={tolerance!r}.")
    return float(tolerance)


def wilcoxon_p(differences, tolerance: float | None = None) -> float:
    """Two-sided Wilcoxon signed-rank test that the differences are centred on
    0, exact with ties: zeros dropped, tied absolute differences given their
    mean rank (midranks), and the p-value taken from the distribution of
    ``W+`` over all ``2^n`` sign flips of those midranks (a dynamic program on
    the doubled midranks, which are integers; tested against enumerating
    every sign pattern). scipy's ``wilcoxon`` switches to a normal
    approximation as soon as differences tie, which accuracies on a finite set
    always do; there it differs from the exact p by up to 0.12.

    Beyond ``EXACT_SIGNED_RANK_PAIRS`` non-zero differences: scipy's normal
    approximation with its tie correction (``method="approx"``).

    Args:
        differences: the seed-by-seed differences.
        tolerance: differences (and absolute differences) closer than this
            tie, and those within it of 0 count as 0: float32 scores, as Keras
            reports them, make equal gains differ in the 8th digit. Default:
            ``1e-12`` times the largest absolute difference.

    Returns:
        The p-value; 1.0 when every difference is 0.

    Example:

    >>> wilcoxon_p([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    0.03125
    >>> wilcoxon_p([0.01, 0.01, 0.02, 0.02, 0.0, -0.01, 0.01, 0.03])  # ties and a zero
    0.078125
    """
    d = np.asarray(differences, dtype=float).ravel()
    tolerance = _tolerance(d, tolerance)
    d = d[np.abs(d) > tolerance]
    n = d.size
    if n == 0:
        return 1.0
    if n > EXACT_SIGNED_RANK_PAIRS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return float(stats.wilcoxon(d, method="approx").pvalue)
    doubled = np.rint(2 * _midranks(np.abs(d), tolerance)).astype(np.int64)
    common = math.gcd(*doubled.tolist())
    weights = doubled // common
    total = int(weights.sum())
    observed = int(weights[d > 0].sum())
    pmf = _sign_flip_pmf(weights)
    # Symmetric about total / 2: P(|T - total/2| >= |t - total/2|).
    distance = abs(2 * observed - total)
    sums = np.arange(total + 1)
    return min(1.0, float(pmf[np.abs(2 * sums - total) >= distance].sum()))


def _signed_rank_edgeworth_cdf(n: int):
    """``w -> P(W+ <= w)`` for ``n`` untied differences by the Edgeworth
    expansion with continuity correction, ``Phi(z) - phi(z) g2 (z^3 - 3z) / 24``
    with ``z = (w + 1/2 - n(n+1)/4) / sd`` and the excess kurtosis ``g2 = -2
    sum i^4 / (sum i^2)^2`` (the skewness is 0). Its quantiles equal the exact
    ones from 51 to 1000 pairs at levels 0.5 to 0.999 (the plain normal one is
    off by up to 13 Walsh averages at 99%)."""
    ranks = np.arange(1, n + 1, dtype=float)
    kurtosis = -2 * float(np.sum(ranks ** 4)) / float(np.sum(ranks ** 2)) ** 2
    mean, sd = n * (n + 1) / 4, math.sqrt(n * (n + 1) * (2 * n + 1) / 24)

    def cdf(w: int) -> float:
        z = (w + 0.5 - mean) / sd
        return float(stats.norm.cdf(z) - stats.norm.pdf(z) * kurtosis / 24 * (z ** 3 - 3 * z))
    return cdf


def signed_rank_sum(differences, tolerance: float | None = None) -> float:
    """``W+ - W-``: the midranks of the positive differences' sizes minus those
    of the negative ones (zeros dropped, ties as in :func:`wilcoxon_p`);
    positive when the signed-rank test leans to the differences being above 0.

    Example:

    >>> signed_rank_sum([0.2, -0.1, 0.3, 0.0])
    4.0
    """
    d = np.asarray(differences, dtype=float).ravel()
    tolerance = _tolerance(d, tolerance)
    d = d[np.abs(d) > tolerance]
    return float(np.sum(np.sign(d) * _midranks(np.abs(d), tolerance))) if d.size else 0.0


def hodges_lehmann(differences, confidence_level: float = 0.95
                   ) -> tuple[float, tuple[float, float], float]:
    """The Hodges-Lehmann estimate of the median difference (the median of the
    Walsh averages ``(d_i + d_j) / 2``, ``i <= j``), its confidence interval
    from the signed-rank distribution (as R's ``wilcox.test(conf.int=TRUE)``,
    ties treated as untied), and the level that interval has.

    The interval is ``[W_(k), W_(M+1-k)]`` over the ``M`` sorted Walsh
    averages, ``k`` the smallest ``w`` with ``P(W+ <= w) >= (1 - c) / 2`` (at
    least 1), from the exact distribution (:func:`signed_rank_cdf`) up to
    ``EXACT_SIGNED_RANK_PAIRS`` differences, beyond from its Edgeworth
    expansion (which gives the exact ``k``; the plain normal one is off by up
    to 13 Walsh averages at 99%). Its
    level is ``1 - 2 P(W+ <= k - 1)``: at least ``confidence_level`` when the
    differences allow it. With ``n`` differences the widest interval, ``[min,
    max]`` of the Walsh averages, has level ``1 - 2^(1-n)``: 75% with 3, 87.5%
    with 4, 93.75% with 5; below 6 a 95% interval does not exist, and that
    widest one is returned with the level it has.

    Returns:
        ``(estimate, (low, high), level)``.

    Example:

    >>> estimate, (low, high), level = hodges_lehmann([0.3, 0.1, 0.4, 0.2, 0.5, 0.6, 0.2, 0.3])
    >>> round(estimate, 3), round(low, 3), round(high, 3), round(level, 4)
    (0.3, 0.2, 0.5, 0.9609)
    >>> estimate, interval, level = hodges_lehmann([0.3, 0.1, 0.4])
    >>> interval, level  # 3 pairs: the widest interval is a 75% one
    ((0.1, 0.4), 0.75)
    """
    d = np.asarray(differences, dtype=float).ravel()
    n = d.size
    if n == 0:
        raise ValueError("hodges_lehmann: `differences` is empty; it needs at least 1.")
    upper = np.triu_indices(n)
    walsh = np.sort((d[:, None] + d[None, :])[upper] / 2)
    total = walsh.size
    tail = (1 - confidence_level) / 2
    if n <= EXACT_SIGNED_RANK_PAIRS:
        cdf = _signed_rank_cdf(n)
        # The smallest w with P(W+ <= w) >= alpha / 2 (R's qsignrank).
        k = max(int(np.searchsorted(cdf, tail - 1e-12)), 1)
        level = 1 - 2 * float(cdf[k - 1])
    else:
        cdf = _signed_rank_edgeworth_cdf(n)
        k = int(math.ceil(total / 2 - 0.5 + stats.norm.ppf(tail)
                          * math.sqrt(n * (n + 1) * (2 * n + 1) / 24))) - 10
        while cdf(k) < tail:
            k += 1
        while k > 1 and cdf(k - 1) >= tail:
            k -= 1
        k = max(k, 1)
        level = 1 - 2 * cdf(k - 1)
    return float(np.median(walsh)), (float(walsh[k - 1]), float(walsh[total - k])), level


def mann_whitney_p(a, b, random_state=0, n_resamples: int = 9999) -> float:
    """Two-sided Mann-Whitney U test of ``a`` against ``b``. With tied scores and
    few seeds, scipy's normal approximation is too lenient (3 against 3 tied
    seeds "pass" at p = 0.047), so ties (up to 60 seeds in all) use a
    permutation test of the midranks (``scipy.stats.permutation_test``, the
    test ``mannwhitneyu(method=PermutationMethod())`` runs; exact when there
    are at most ``n_resamples`` arrangements, else drawn with
    ``random_state``).

    Example:

    >>> mann_whitney_p([0.9, 0.9, 0.9], [0.8, 0.8, 0.8])
    0.1
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    pooled = np.concatenate([a, b])
    if np.unique(pooled).size < pooled.size and pooled.size <= 60:
        # The same test as mannwhitneyu(method=PermutationMethod(...)), on the
        # midranks' sum (U plus a constant), without its per-call overhead.
        ranks = stats.rankdata(pooled)
        return float(stats.permutation_test(
            (ranks[:a.size], ranks[a.size:]), _rank_sum, vectorized=True,
            n_resamples=n_resamples, rng=np.random.default_rng(random_state)).pvalue)
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _rank_sum(x, y, axis=-1):
    return np.sum(x, axis=axis)
