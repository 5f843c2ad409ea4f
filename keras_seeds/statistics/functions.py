"""Seed statistics as plain functions over arrays of scores (one score per seed).

Each is a few lines over NumPy/SciPy, with the formula named in its docstring;
:class:`~keras_seeds.SeedStudy` and :func:`~keras_seeds.compare` put them
together. The rank tests (Wilcoxon, Mann-Whitney, Hodges-Lehmann) are in
:mod:`keras_seeds.statistics.rank_tests` and importable from here too.
Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy import stats

from keras_seeds.statistics.rank_tests import (  # noqa: F401 (re-exported: public path)
    EXACT_SIGNED_RANK_PAIRS,
    fewest_pairs_to_reject,
    fewest_seeds_to_separate,
    hodges_lehmann,
    mann_whitney_p,
    signed_rank_cdf,
    signed_rank_sum,
    smallest_mann_whitney_p,
    smallest_wilcoxon_p,
    untied_signed_rank_p,
    wilcoxon_p,
)

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
    Arrays of studies along the last axis give arrays of bounds.

    Example:

    >>> low, high = t_interval([0.81, 0.83, 0.84, 0.85, 0.86, 0.90])
    >>> round(low, 4), round(high, 4)
    (0.8162, 0.8805)
    """
    values = np.asarray(values, dtype=float)
    n = values.shape[-1]
    mean = np.mean(values, axis=-1)
    sem = np.std(values, axis=-1, ddof=1) / np.sqrt(n)
    half = stats.t.ppf((1 + confidence_level) / 2, n - 1) * sem
    low, high = mean - half, mean + half
    if np.ndim(low) == 0:
        if sem == 0:
            return float(values[0]), float(values[0])
        return float(low), float(high)
    return low, high


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


def improvement_interval(a, b, confidence_level: float = 0.95):
    """A conservative interval of P(a random value of ``a`` exceeds one of
    ``b``) (:func:`probability_of_improvement`, ties 1/2): the score (Wilson)
    interval of ``theta`` under the largest variance the Mann-Whitney
    estimate can have, ``theta (1 - theta) / min(n_a, n_b)`` (van Dantzig
    1951; Birnbaum & Klose 1957), so it holds its level without a model of
    the scores, from 3 seeds per side (``benchmarks/study_calibration.py
    --parts compare``). A percentile bootstrap collapses there (3 seeds of A
    all above 3 of B give 1.00-1.00). Arrays of studies along the last axis
    give arrays of bounds.

    Example:

    >>> low, high = improvement_interval([0.93, 0.94, 0.95], [0.90, 0.91, 0.92])
    >>> round(low, 3), round(high, 3)
    (0.439, 1.0)
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    theta = stats.mannwhitneyu(a, b, axis=-1).statistic / (a.shape[-1] * b.shape[-1])
    k = min(a.shape[-1], b.shape[-1])
    z2 = stats.norm.ppf((1 + confidence_level) / 2) ** 2
    center = (theta + z2 / (2 * k)) / (1 + z2 / k)
    half = math.sqrt(z2) / (1 + z2 / k) * np.sqrt(theta * (1 - theta) / k + z2 / (4 * k * k))
    low, high = np.maximum(0.0, center - half), np.minimum(1.0, center + half)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def welch_interval(a, b, confidence_level: float = 0.95):
    """Welch's t interval of ``mean(a) - mean(b)``
    (``scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval``);
    ``(gap, gap)`` where neither side varies. Arrays of studies along the
    last axis give arrays of bounds.

    Example:

    >>> [round(x, 4) for x in welch_interval([0.93, 0.94, 0.95], [0.90, 0.91, 0.93])]
    [-0.0045, 0.0579]
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    gap = np.mean(a, axis=-1) - np.mean(b, axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nearly equal scores
        interval = stats.ttest_ind(a, b, equal_var=False, axis=-1).confidence_interval(
            confidence_level)
    flat = (np.var(a, axis=-1) == 0) & (np.var(b, axis=-1) == 0)
    low, high = np.where(flat, gap, interval.low), np.where(flat, gap, interval.high)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def win_rate_interval(better: int, tied: int, n: int,
                      confidence_level: float = 0.95) -> tuple[float, float]:
    """An exact interval of P(A is better on the same seed), ties counting 1/2,
    from ``better`` wins and ``tied`` ties among ``n`` seeds: the lower
    Clopper-Pearson bound of P(better) and the upper one of P(better or tied)
    (``scipy.stats.binomtest(...).proportion_ci(method="exact")``, each
    one-sided at ``(1 + c) / 2``); the wanted probability lies between those
    two, so the interval holds at least ``confidence_level``. Without ties it
    is the Clopper-Pearson interval. Arrays of counts give arrays of bounds.

    Example:

    >>> [round(x, 4) for x in win_rate_interval(9, 0, 10)]
    [0.555, 0.9975]
    """
    tail = (1 - confidence_level) / 2
    better, tied, n = (np.asarray(x) for x in (better, tied, n))
    with np.errstate(invalid="ignore"):
        low = np.where(better == 0, 0.0, stats.beta.ppf(tail, better, n - better + 1))
        high = np.where(better + tied == n, 1.0,
                        stats.beta.ppf(1 - tail, better + tied + 1, n - better - tied))
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


# What seeds_needed's assurance of 0.8 comes to with heavy-tailed scores (t(4),
# one black swan in 16): benchmarks/study_calibration.py --parts compare.
HEAVY_TAILED_ASSURANCE = 0.7


def seeds_needed(std: float, width: float, confidence_level: float = 0.95, *,
                 assurance: float = 0.8, pilot_seeds: int | None = None) -> int:
    """The fewest seeds ``n`` whose t confidence interval of the mean,
    ``2 t_{(1+c)/2, n-1} S_n / sqrt(n)``, is narrower than ``width`` with
    probability at least ``assurance`` (from 0.5), for normal scores.

    The planned study's own std ``S_n`` is random: planning with ``S_n = std``
    gives an interval narrower than ``width`` only about half the time. With
    ``pilot_seeds=None`` ``std`` is taken as the true std, and
    ``(n - 1) S_n^2 / std^2`` is chi-square with ``n - 1`` degrees of freedom.
    With ``pilot_seeds=m``, ``std`` is the sample std of a pilot of ``m``
    seeds, itself uncertain: then ``S_n^2 / std^2`` is ``F(n - 1, m - 1)``
    whatever the true std, and ``assurance`` is the probability, over the
    pilot and the planned study together, that the planned interval is
    narrower than ``width`` (checked by simulation for pilots of 3 to 64
    seeds, ``benchmarks/study_calibration.py --parts compare``).

    The assurance assumes normal scores. With heavy tails a small pilot
    understates the std more often than the F distribution allows: simulated
    with t(4) scores or one black-swan seed in 16, it is about 0.7
    (``HEAVY_TAILED_ASSURANCE``; 0.67 to 0.78 over pilots of 3 to 64 seeds)
    when 0.8 is asked for.

    Example:

    >>> seeds_needed(std=0.01, width=0.01)       # the std known
    22
    >>> seeds_needed(std=0.01, width=0.01, pilot_seeds=5)  # the std of 5 seeds
    40
    >>> seeds_needed(std=0.01, width=0.01, assurance=0.5)
    18
    """
    for name, value, bound in (("std", std, ">= 0"), ("width", width, "> 0")):
        if not (isinstance(value, (int, float, np.floating)) and math.isfinite(value)
                and (value > 0 or (value == 0 and name == "std"))):
            raise ValueError(f"`{name}` must be a finite number {bound}; received "
                             f"{name}={value!r}.")
    if not (isinstance(assurance, (int, float, np.floating)) and 0.5 <= assurance < 1):
        raise ValueError("`assurance` must be a probability from 0.5 to 1 (excluded); "
                         f"received assurance={assurance!r}.")
    if pilot_seeds is not None and not (isinstance(pilot_seeds, (int, np.integer))
                                        and pilot_seeds >= 2):
        raise ValueError("`pilot_seeds` must be the number of seeds `std` came from, an int "
                         f">= 2, or None for a known std; received pilot_seeds={pilot_seeds!r}.")
    if std == 0:
        return 2
    tail = (1 + confidence_level) / 2

    def assured(n: int) -> bool:
        # P(S_n^2 / std^2 < n width^2 / (4 t^2 std^2)).
        bound = n * width ** 2 / (4 * stats.t.ppf(tail, n - 1) ** 2 * std ** 2)
        if pilot_seeds is None:
            return stats.chi2.cdf((n - 1) * bound, n - 1) >= assurance
        return stats.f.cdf(bound, n - 1, pilot_seeds - 1) >= assurance

    # From 2 up: with assurance >= 1/2 the condition, once true, stays true.
    return _first_true(assured, 2)


def _first_true(holds, low: int) -> int:
    """The smallest ``n >= low`` for which the monotone ``holds(n)`` is true:
    doubling steps, then bisection."""
    if holds(low):
        return low
    step = 1
    while not holds(low + step):
        low, step = low + step, 2 * step
    high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle
    return high


# The power of the rank tests at a seed count is simulated (normal scores) up to
# this many seeds; beyond, the t test's size over the rank test's efficiency
# relative to it, 3/pi, is within a seed or two of the simulation.
SIMULATED_SEEDS = 300
# Simulated studies per seed count: the simulated power's Monte-Carlo standard
# error is sqrt(0.8 * 0.2 / 4000) = 0.006.
POWER_SIMULATIONS = 4000


def t_test_size(effect: float, confidence_level: float = 0.95, power: float = 0.8,
                samples: int = 1) -> int:
    """The fewest seeds (pairs for ``samples=1``, seeds per side for
    ``samples=2``) with which a two-sided t test at ``1 - confidence_level``
    finds a true standardized gap ``effect`` (gap / std) with probability
    ``power``, from the noncentral t distribution (as statsmodels'
    ``TTestPower`` / ``TTestIndPower``, rounded up).

    Example:

    >>> t_test_size(1.0), t_test_size(1.0, samples=2)
    (10, 17)
    """
    effect = abs(effect)
    tail = (1 + confidence_level) / 2

    def reaches(n: int) -> bool:
        df = n - 1 if samples == 1 else 2 * n - 2
        noncentral = effect * math.sqrt(n if samples == 1 else n / 2)
        critical = stats.t.ppf(tail, df)
        return (stats.nct.sf(critical, df, noncentral)
                + stats.nct.sf(critical, df, -noncentral)) >= power

    z = stats.norm.ppf(tail) + stats.norm.ppf(power)
    return _first_true(reaches, max(2, int(samples * (z / effect) ** 2)))


def pairs_to_detect(difference: float, std: float, confidence_level: float = 0.95,
                    power: float = 0.8, *, random_state=0) -> int | None:
    """Seeds (pairs) with which the two-sided exact Wilcoxon signed-rank test
    (:func:`wilcoxon_p`, the test of ``compare(..., paired=True)``) at
    ``1 - confidence_level`` finds a true mean gain of ``difference`` with
    probability ``power``, assuming normal seed-by-seed differences with std
    ``std``.

    The power at each size is simulated (``POWER_SIMULATIONS`` studies drawn
    with ``random_state``), searching upward from the paired t test's size
    (:func:`t_test_size`: on normal data the rank test needs at least as
    many), never below the fewest pairs with which the test can reject at all
    (:func:`fewest_pairs_to_reject`). Beyond ``SIMULATED_SEEDS`` pairs, the
    t test's size over 3/pi. ``None`` when there is no gap to find.

    Example:

    >>> pairs_to_detect(difference=0.01, std=0.01)
    11
    """
    return _size_for_power(_signed_rank_power, difference, std, confidence_level, power,
                           samples=1, fewest=fewest_pairs_to_reject(confidence_level),
                           random_state=random_state)


def seeds_to_detect(difference: float, std: float, confidence_level: float = 0.95,
                    power: float = 0.8, *, random_state=0) -> int | None:
    """Seeds per side with which the two-sided Mann-Whitney test
    (:func:`mann_whitney_p`, the test of :func:`~keras_seeds.compare`; exact
    up to 8 seeds a side, as scipy's) at ``1 - confidence_level`` finds a true
    gap of ``difference`` in the means with probability ``power``, assuming
    normal scores with std ``std`` on both sides.

    The power at each size is simulated (``POWER_SIMULATIONS`` studies drawn
    with ``random_state``), searching upward from the two-sample t test's
    size (:func:`t_test_size`), never below :func:`fewest_seeds_to_separate`.
    Beyond ``SIMULATED_SEEDS`` per side, the t test's size over 3/pi. ``None``
    when there is no gap to find.

    Example:

    >>> seeds_to_detect(difference=0.01, std=0.01)
    18
    """
    return _size_for_power(_mann_whitney_power, difference, std, confidence_level, power,
                           samples=2, fewest=fewest_seeds_to_separate(confidence_level),
                           random_state=random_state)


def _size_for_power(simulated_power, difference: float, std: float, confidence_level: float,
                    power: float, samples: int, fewest: int, random_state) -> int | None:
    """The rule of :func:`pairs_to_detect` and :func:`seeds_to_detect`: the
    t test's size (``samples`` 1 paired, 2 two-sample), at least ``fewest``,
    searched upward by ``simulated_power`` up to ``SIMULATED_SEEDS``; beyond,
    the t size over the rank test's efficiency 3/pi."""
    effect = _effect(difference, std)
    if effect is None:
        return None
    if math.isinf(effect):  # no spread: the fewest seeds that can reject find it
        return fewest
    start = max(t_test_size(effect, confidence_level, power, samples=samples), fewest)
    if start > SIMULATED_SEEDS:
        return int(math.ceil(start / (3 / math.pi)))
    return _simulated_size(simulated_power, round(effect, 12), 1 - confidence_level, power,
                           start, random_state)


def _effect(difference: float, std: float) -> float | None:
    if difference == 0 or not np.isfinite(difference):
        return None
    if not std > 1e-9 * abs(difference):  # no spread (up to rounding): any seeds tell
        return math.inf
    return abs(difference) / std


@functools.lru_cache(maxsize=256)
def _simulated_size(power_at, effect: float, alpha: float, power: float, start: int,
                    random_state) -> int:
    return _first_true(lambda n: power_at(effect, n, alpha, random_state) >= power, start)


def _signed_rank_power(effect: float, n: int, alpha: float, random_state) -> float:
    """Simulated power of :func:`wilcoxon_p` on ``n`` normal differences."""
    rng = np.random.default_rng([_seed_int(random_state), n, 1])
    d = rng.standard_normal((POWER_SIMULATIONS, n)) + effect
    ranks = np.argsort(np.argsort(np.abs(d), axis=1), axis=1) + 1
    w_plus = np.where(d > 0, ranks, 0).sum(axis=1)
    return float(np.mean(untied_signed_rank_p(w_plus, n) < alpha))


def _mann_whitney_power(effect: float, n: int, alpha: float, random_state) -> float:
    """Simulated power of :func:`mann_whitney_p` with ``n`` normal seeds a side."""
    rng = np.random.default_rng([_seed_int(random_state), n, 2])
    a = rng.standard_normal((POWER_SIMULATIONS, n)) + effect
    b = rng.standard_normal((POWER_SIMULATIONS, n))
    return float(np.mean(stats.mannwhitneyu(a, b, axis=1).pvalue < alpha))


def _seed_int(random_state) -> int:
    return int(random_state) if random_state is not None else 0




def bonett_kurtosis(values) -> np.ndarray:
    """Bonett's (2006) kurtosis estimate along the last axis (3 for normal
    scores): ``n sum((y - m)**4) / sum((y - mean)**2)**2`` with ``m`` the mean
    trimmed by ``1 / (2 sqrt(n - 4))`` at each end (scipy's ``trim_mean``
    cut), the median for 5 values or fewer. NaN where the values are tied.

    Example:

    >>> float(bonett_kurtosis([1.0, 2.0, 3.0, 4.0, 10.0])) > 3
    True
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[-1]
    if n <= 5:
        center = np.median(values, axis=-1, keepdims=True)
    else:
        # scipy.stats.trim_mean's cut (int(proportion * n) at each end), as a slice
        # of the sorted values: without its per-call overhead, which simulations
        # would pay many thousands of times.
        cut = int(0.5 / math.sqrt(n - 4) * n)
        center = np.sort(values, axis=-1)[..., cut:n - cut].mean(axis=-1, keepdims=True)
    deviations = values - values.mean(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return n * ((values - center) ** 4).sum(axis=-1) / (deviations ** 2).sum(axis=-1) ** 2


def bonett_log_variance_variance(values) -> np.ndarray:
    """Bonett's (2006) estimate of ``Var(log s**2)`` along the last axis,
    ``(k - (n - 3) / n) / (n - 1)`` with ``k`` :func:`bonett_kurtosis` (never
    below 0).

    Example:

    >>> round(float(bonett_log_variance_variance(np.arange(10.0))), 4)
    0.1195
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[-1]
    return np.maximum((bonett_kurtosis(values) - (n - 3) / n) / (n - 1), 0.0)


def bonett_variance_interval(values, confidence_level: float = 0.95):
    """Bonett's (2006) confidence interval of a variance, which does not
    assume normal scores, along the last axis: ``exp(log(c s**2) +- z c se)``
    with ``c = n / (n - z)`` and ``se**2`` :func:`bonett_log_variance_variance`.
    Close to the chi-square interval for normal scores, wider for heavy tails.
    ``(0, inf)`` where ``n <= z`` (3 scores at 99.9%), ``(0, 0)`` where the
    values are tied. Floats for one sample, arrays for a stack of samples.

    Example (Bonett's own, his Table 2: the std's 95% interval is 0.3263 to 1.0841):

    >>> low, high = bonett_variance_interval([15.83, 16.01, 16.24, 16.42, 15.33, 15.44,
    ...                                       16.88, 16.31])
    >>> round(low ** 0.5, 4), round(high ** 0.5, 4)
    (0.3263, 1.0841)
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[-1]
    if n < 2:
        raise ValueError(f"`scores` needs at least 2 values for a variance; received {n}.")
    variance = values.var(axis=-1, ddof=1)
    z = float(stats.norm.ppf((1 + check_confidence_level(confidence_level)) / 2))
    if n <= z:
        low, high = np.zeros_like(variance), np.full_like(variance, np.inf)
    else:
        c = n / (n - z)
        half = z * c * np.sqrt(bonett_log_variance_variance(values))
        with np.errstate(invalid="ignore"):
            low = np.where(variance > 0, c * variance * np.exp(-half), 0.0)
            high = np.where(variance > 0, c * variance * np.exp(half), 0.0)
    if values.ndim == 1:
        return float(low), float(high)
    return low, high


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
