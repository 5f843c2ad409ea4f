"""Seed statistics as plain functions over arrays of scores (one score per seed).

Each is a few lines over NumPy/SciPy, with the formula named in its docstring;
:class:`~keras_seeds.SeedStudy` and :func:`~keras_seeds.compare` put them
together. Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

# Iglewicz & Hoaglin (1993): a modified z-score above 3.5 marks an outlier.
OUTLIER_THRESHOLD = 3.5

# sqrt(pi / 2): makes the mean absolute deviation from the median estimate the
# standard deviation of normal data (Iglewicz & Hoaglin's fallback when MAD is 0).
_MEAN_AD_TO_STD = 1.253314


class SeedStudyWarning(UserWarning):
    """A statistic that cannot be trusted, or was left out: too few seeds, or
    scores dropped because they were NaN.

    :class:`~keras_seeds.SeedStudy` warns when it drops NaN scores (diverged
    seeds) and when its summary has too few seeds for an interval;
    :func:`~keras_seeds.compare` when a side has fewer than 2 seeds.

    Example:

    >>> import warnings
    >>> import keras_seeds as ks
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", ks.SeedStudyWarning)
    ...     study = ks.SeedStudy([0.91, float("nan"), 0.93], seeds=[4, 5, 6])
    >>> [warning.category.__name__ for warning in caught], study.dropped_seeds.tolist()
    (['SeedStudyWarning'], [5])
    >>> print(caught[0].message)
    SeedStudy: dropped 1 NaN or infinite score(s) (seeds 5); the statistics use the other 2.
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", ks.SeedStudyWarning)  # a CI job: too few seeds fails
    ...     study.summary()
    Traceback (most recent call last):
    ...
    keras_seeds.statistics.functions.SeedStudyWarning: SeedStudy.summary: 2 seeds: the bootstrap ...
    """


def iqm(values, axis=None):
    """Interquartile mean: the mean of the middle 50% (``scipy.stats.trim_mean``,
    25% cut from each end). Robust to a few black-swan seeds, unlike the mean.

    Example:

    >>> float(iqm([0.0, 1.0, 2.0, 3.0, 100.0, 4.0, 5.0, 6.0]))
    3.5
    """
    return stats.trim_mean(np.asarray(values, dtype=float), 0.25, axis=axis)


def bootstrap_interval(values, statistic=np.mean, confidence_level: float = 0.95,
                       n_resamples: int = 9999, random_state=0,
                       method: str = "BCa") -> tuple[float, float]:
    """A bootstrap confidence interval of ``statistic(values)``, by
    ``scipy.stats.bootstrap``; the same ``random_state`` gives the same interval.

    Constant values give ``(value, value)``: no resample can differ. Where BCa
    is undefined (scores with two distinct values can make every jackknife
    value of a trimmed mean equal), the percentile interval is used instead.
    With few seeds bootstrap intervals are too narrow (see docs/study.md);
    :func:`t_interval` is the safer interval of the mean there.

    Example:

    >>> low, high = bootstrap_interval([0.81, 0.83, 0.84, 0.85, 0.86, 0.90])
    >>> round(low, 4), round(high, 4)
    (0.83, 0.8767)
    """
    values = np.asarray(values, dtype=float)
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        interval = _bootstrap((values,), statistic, confidence_level, n_resamples,
                              random_state, method)
    if method != "percentile" and not np.isfinite(interval).all():
        interval = _bootstrap((values,), statistic, confidence_level, n_resamples,
                              random_state, "percentile")
    return interval


def _bootstrap(data, statistic, confidence_level, n_resamples, random_state,
               method) -> tuple[float, float]:
    # batch: at most 1000 resamples in memory at once (thousands of seeds stay cheap).
    result = stats.bootstrap(data, statistic, confidence_level=confidence_level,
                             n_resamples=n_resamples, method=method, batch=1000,
                             rng=np.random.default_rng(random_state))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def t_interval(values, confidence_level: float = 0.95) -> tuple[float, float]:
    """Student's t interval of the mean, ``mean +- t_{(1+c)/2, n-1} * sem``
    (``scipy.stats.t.interval``); it keeps its coverage with few seeds.

    Example:

    >>> low, high = t_interval([0.81, 0.83, 0.84, 0.85, 0.86, 0.90])
    >>> round(low, 4), round(high, 4)
    (0.8162, 0.8805)
    """
    values = np.asarray(values, dtype=float)
    sem = np.std(values, ddof=1) / np.sqrt(values.size)
    if sem == 0:
        return float(values[0]), float(values[0])
    low, high = stats.t.interval(confidence_level, values.size - 1, loc=np.mean(values),
                                 scale=sem)
    return float(low), float(high)


def robust_z(values) -> np.ndarray:
    """Modified z-scores: ``(x - median) / scale`` with ``scale = 1.4826 * MAD``
    (``scipy.stats.median_abs_deviation(scale="normal")``, Iglewicz & Hoaglin).

    Two guards keep tied scores from inventing outliers:

    - the scale is at least the data's resolution, the smallest gap between
      two different scores: accuracy moves in steps of 1/examples, and when
      half the seeds tie, MAD can be smaller than one step;
    - when MAD is 0 (more than half the scores equal), the scale is
      ``1.2533 * mean |x - median|`` instead (Iglewicz & Hoaglin's fallback);
      when every score is equal, every z is 0.

    Example:

    >>> robust_z([1.0, 2.0, 3.0, 4.0, 100.0]).round(2)
    array([-1.35, -0.67,  0.  ,  0.67, 65.43])
    """
    values = np.asarray(values, dtype=float)
    deviations = values - np.median(values)
    scale = stats.median_abs_deviation(values, scale="normal")
    if scale == 0:
        scale = _MEAN_AD_TO_STD * np.mean(np.abs(deviations))
    else:
        gaps = np.diff(np.unique(values))
        scale = max(scale, gaps.min())
    if scale == 0:
        return np.zeros_like(values)
    return deviations / scale


def max_of_n_weights(num_values: int, n: int) -> np.ndarray:
    """P(the i-th smallest of ``num_values`` values is the best of ``n`` draws
    with replacement): ``(i/N)^n - ((i-1)/N)^n`` (Dodge et al. 2019).

    Example:

    >>> max_of_n_weights(4, 2)
    array([0.0625, 0.1875, 0.3125, 0.4375])
    """
    ranks = np.arange(1, num_values + 1) / num_values
    return ranks ** n - (ranks - 1 / num_values) ** n


def max_of_n_weights_without_replacement(num_values: int, n: int) -> np.ndarray:
    """P(the i-th smallest of ``num_values`` values is the best of ``n`` drawn
    without replacement): ``C(i-1, n-1) / C(N, n)``, zero for ``i < n`` (Tang
    et al. 2020, "Showing your work doesn't always work").

    Example:

    >>> max_of_n_weights_without_replacement(4, 2)
    array([0.        , 0.16666667, 0.33333333, 0.5       ])
    """
    if n > num_values:
        raise ValueError(f"`n`: without replacement at most the {num_values} observed "
                         f"values can be drawn; received n={n}.")
    from scipy.special import gammaln

    ranks = np.arange(1, num_values + 1)
    weights = np.zeros(num_values)
    top = ranks >= n
    # In logs: C(N, n) overflows a float for a few thousand seeds.
    log_count = (gammaln(ranks[top]) - gammaln(n) - gammaln(ranks[top] - n + 1))
    log_total = gammaln(num_values + 1) - gammaln(n + 1) - gammaln(num_values - n + 1)
    weights[top] = np.exp(log_count - log_total)
    return weights


# How the expected best of n seeds is estimated from N observed ones.
EXPECTED_MAX_ESTIMATORS = {
    "with_replacement": "Dodge et al. 2019, n draws with replacement from the observed seeds",
    "without_replacement": "Tang et al. 2020, n distinct observed seeds (unbiased for n <= N)",
}


def expected_max(values, n: int, higher_is_better: bool = True,
                 estimator: str = "with_replacement") -> tuple[float, float]:
    """Expected best score of ``n`` seeds drawn from the observed ones, and its
    standard deviation: ``E = sum_i w_i v_(i)`` over the sorted values, with
    ``w_i = (i/N)^n - ((i-1)/N)^n`` for ``estimator="with_replacement"`` (Dodge
    et al. 2019, "Show your work"), or ``w_i = C(i-1, n-1) / C(N, n)`` for
    ``"without_replacement"`` (Tang et al. 2020: the unbiased estimate of the
    best of ``n`` fresh seeds, defined for ``n <= N``; the with-replacement one
    under-states it, since it may draw one seed twice). The best is the minimum
    when ``higher_is_better=False``.

    Example:

    >>> mean, std = expected_max([0.80, 0.82, 0.85, 0.90], n=2)
    >>> round(mean, 4), round(std, 4)
    (0.8631, 0.0353)
    >>> round(expected_max([0.80, 0.82, 0.85, 0.90], n=2,
    ...                    estimator="without_replacement")[0], 4)
    0.87
    """
    if estimator not in EXPECTED_MAX_ESTIMATORS:
        raise ValueError(f"`estimator` must be one of {sorted(EXPECTED_MAX_ESTIMATORS)}; "
                         f"received estimator={estimator!r}.")
    sign = 1.0 if higher_is_better else -1.0
    ordered = np.sort(sign * np.asarray(values, dtype=float))
    if estimator == "with_replacement":
        weights = max_of_n_weights(len(ordered), n)
        mean = _mean_of_max(ordered, n)
    else:
        weights = max_of_n_weights_without_replacement(len(ordered), n)
        mean = float(np.clip(weights @ ordered, ordered[0], ordered[-1]))
    variance = max(float(weights @ ordered ** 2) - mean ** 2, 0.0)
    return sign * mean, float(np.sqrt(variance))


def _mean_of_max(ordered: np.ndarray, n: int) -> float:
    """``sum_i w_i v_(i)`` summed by parts, ``v_(N) - sum_i (v_(i+1) - v_(i)) (i/N)^n``,
    so that equal values give exactly that value."""
    below = (np.arange(1, len(ordered)) / len(ordered)) ** n
    return float(ordered[-1] - np.diff(ordered) @ below)


def probability_of_improvement(a, b) -> float:
    """P(a random value of ``a`` exceeds one of ``b``), ties counting 1/2: the
    Mann-Whitney U statistic of ``a`` divided by ``len(a) * len(b)``.

    Example:

    >>> probability_of_improvement([3.0, 4.0], [1.0, 3.0])
    0.875
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(stats.mannwhitneyu(a, b).statistic / (a.size * b.size))


def two_sample_interval(a, b, statistic, confidence_level: float = 0.95,
                        n_resamples: int = 9999, random_state=0) -> tuple[float, float]:
    """A percentile bootstrap interval of ``statistic(a, b, axis)``, resampling
    ``a`` and ``b`` independently (``scipy.stats.bootstrap``). Percentile, not
    BCa: statistics such as P(A > B) often sit at 0 or 1, where BCa is undefined.
    """
    return _bootstrap((np.asarray(a, float), np.asarray(b, float)), statistic,
                      confidence_level, n_resamples, random_state, "percentile")


def improvement_statistic(a, b, axis=-1):
    """:func:`probability_of_improvement` along ``axis`` (for resampling)."""
    return stats.mannwhitneyu(a, b, axis=axis).statistic / (a.shape[axis] * b.shape[axis])


def mean_difference_statistic(a, b, axis=-1):
    """``mean(a) - mean(b)`` along ``axis`` (for resampling)."""
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def seeds_needed(std: float, width: float, confidence_level: float = 0.95) -> int:
    """The fewest seeds whose t confidence interval of the mean,
    ``2 * t_{(1+c)/2, n-1} * std / sqrt(n)``, is narrower than ``width``.

    Example:

    >>> seeds_needed(std=0.01, width=0.01)
    18
    """
    if std == 0:
        return 2
    # t > z, so the normal-theory size is a lower bound to search up from.
    n = max(2, int((2 * stats.norm.ppf((1 + confidence_level) / 2) * std / width) ** 2))
    while 2 * stats.t.ppf((1 + confidence_level) / 2, n - 1) * std / np.sqrt(n) >= width:
        n += 1
    return n


def seeds_to_detect(difference: float, std: float, confidence_level: float = 0.95,
                    power: float = 0.8) -> int | None:
    """Seeds per side for a two-sided test at ``1 - confidence_level`` to find a
    true gap of ``difference`` with probability ``power``: the normal
    approximation ``n = 2 ((z_{(1+c)/2} + z_power) std / difference)^2`` of the
    t test, divided by 3/pi (the Mann-Whitney test's efficiency relative to it
    on normal data), and never fewer than :func:`fewest_seeds_to_separate`.
    ``None`` when there is no gap to find.

    Example:

    >>> seeds_to_detect(difference=0.01, std=0.01)
    17
    """
    normal = _rank_test_size(difference, std, confidence_level, power, samples=2)
    return None if normal is None else max(normal, fewest_seeds_to_separate(confidence_level))


def _rank_test_size(difference: float, std: float, confidence_level: float, power: float,
                    samples: int) -> int | None:
    """``samples ((z_{(1+c)/2} + z_power) std / difference)^2 / (3/pi)``: the
    normal-theory size of a t test (two samples, or one of differences) over a
    rank test's efficiency relative to it; ``None`` without a gap."""
    if difference == 0 or not np.isfinite(difference):
        return None
    z = stats.norm.ppf((1 + confidence_level) / 2) + stats.norm.ppf(power)
    return int(np.ceil(samples * (z * std / abs(difference)) ** 2 / (3 / np.pi)))


def fewest_seeds_to_separate(confidence_level: float = 0.95) -> int:
    """The fewest seeds per side for which a two-sided Mann-Whitney test can
    reach ``p < 1 - confidence_level`` at all: with every seed of one side
    better, ``p = 2 / C(2n, n)`` (4 at 95%: 3 against 3 gives p = 0.1).

    Example:

    >>> fewest_seeds_to_separate(0.95), fewest_seeds_to_separate(0.99)
    (4, 5)
    """
    from math import comb

    n = 1
    while 2 / comb(2 * n, n) >= 1 - confidence_level:
        n += 1
    return n


def signed_rank_cdf(n: int) -> np.ndarray:
    """``P(W+ <= w)`` for ``w = 0 .. n(n+1)/2``: the exact null distribution of
    the Wilcoxon signed-rank statistic of ``n`` untied differences (each rank
    counted with probability 1/2).

    Example:

    >>> signed_rank_cdf(3).tolist()
    [0.125, 0.25, 0.375, 0.625, 0.75, 0.875, 1.0]
    """
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return np.cumsum(counts) / 2.0 ** n


def hodges_lehmann(differences, confidence_level: float = 0.95) -> tuple[float, tuple]:
    """The Hodges-Lehmann estimate of the median difference (the median of the
    Walsh averages ``(d_i + d_j) / 2``, ``i <= j``) and its confidence interval
    from the signed-rank distribution, as R's ``wilcox.test(conf.int=TRUE)``:
    exact for up to 50 differences (ties treated as untied), the normal
    approximation beyond.

    Example:

    >>> estimate, (low, high) = hodges_lehmann([0.3, 0.1, 0.4, 0.2, 0.5, 0.6, 0.2, 0.3])
    >>> round(estimate, 3), round(low, 3), round(high, 3)
    (0.3, 0.2, 0.5)
    """
    d = np.asarray(differences, dtype=float)
    n = d.size
    upper = np.triu_indices(n)
    walsh = np.sort((d[:, None] + d[None, :])[upper] / 2)
    total = walsh.size
    alpha = 1 - confidence_level
    if n <= 50:
        # The smallest w with P(W+ <= w) >= alpha / 2 (R's qsignrank).
        lower_index = int(np.searchsorted(signed_rank_cdf(n), alpha / 2 - 1e-12))
    else:
        sd = np.sqrt(n * (n + 1) * (2 * n + 1) / 24)
        lower_index = int(np.floor(total / 2 - stats.norm.ppf(1 - alpha / 2) * sd))
    lower_index = max(lower_index, 1)  # R: qu == 0 means the smallest average
    if lower_index > total - lower_index + 1:
        return float(np.median(walsh)), (math.nan, math.nan)
    return float(np.median(walsh)), (float(walsh[lower_index - 1]),
                                     float(walsh[total - lower_index]))


def wilcoxon_p(differences) -> float:
    """Two-sided Wilcoxon signed-rank test that the differences are centred on 0
    (``scipy.stats.wilcoxon``; 1.0 when every difference is 0).

    Example:

    >>> wilcoxon_p([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    0.03125
    """
    d = np.asarray(differences, dtype=float)
    if not np.any(d):
        return 1.0
    return float(stats.wilcoxon(d).pvalue)


def pairs_to_detect(difference: float, std: float, confidence_level: float = 0.95,
                    power: float = 0.8) -> int | None:
    """Seeds (pairs) for a two-sided paired test at ``1 - confidence_level`` to
    find a true mean gain of ``difference`` with probability ``power``, when the
    seed-by-seed differences vary by ``std``: the normal approximation
    ``((z_{(1+c)/2} + z_power) std / difference)^2`` of the paired t test,
    divided by 3/pi (the signed-rank test's efficiency relative to it), and
    never fewer than the signed-rank test needs to reach the level at all.
    ``None`` when there is no gap to find.

    Example:

    >>> pairs_to_detect(difference=0.01, std=0.01)
    9
    """
    normal = _rank_test_size(difference, std, confidence_level, power, samples=1)
    if normal is None:
        return None
    fewest = 1
    while 2 / 2 ** fewest >= 1 - confidence_level:  # every difference of one sign
        fewest += 1
    return max(normal, fewest)


def mann_whitney_p(a, b, random_state=0) -> float:
    """Two-sided Mann-Whitney U test of ``a`` against ``b``. With tied scores and
    few seeds, scipy's normal approximation is too lenient (3 against 3 tied
    seeds "pass" at p = 0.047), so ties use a permutation test
    (``scipy.stats.PermutationMethod``, exact when there are at most 9999
    arrangements, else drawn with ``random_state``).

    Example:

    >>> mann_whitney_p([0.9, 0.9, 0.9], [0.8, 0.8, 0.8])
    0.1
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    tied = np.unique(np.concatenate([a, b])).size < a.size + b.size
    method = "auto"
    if tied and a.size + b.size <= 60:
        method = stats.PermutationMethod(n_resamples=9999,
                                         rng=np.random.default_rng(random_state))
    return float(stats.mannwhitneyu(a, b, alternative="two-sided", method=method).pvalue)


def check_confidence_level(value) -> float:
    """Validates a confidence level: a number strictly between 0 and 1.

    Example:

    >>> check_confidence_level(95)
    Traceback (most recent call last):
    ...
    ValueError: `confidence_level` must be a number between 0 and 1 (0.95 for 95%); ...
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not (
            0 < value < 1):
        raise ValueError("`confidence_level` must be a number between 0 and 1 (0.95 for 95%); "
                         f"received confidence_level={value!r}.")
    return float(value)


def warn(message: str) -> None:
    """Emits a :class:`SeedStudyWarning` pointing at the user's call."""
    warnings.warn(message, SeedStudyWarning, stacklevel=3)
