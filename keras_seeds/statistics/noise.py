"""Test-set noise: how much of the spread between seeds is the finite evaluation set.

A seed's score on a validation set of ``n`` examples is the mean of a
per-example value: its correctness (0/1) for an accuracy, its squared error for
an MSE, its absolute error for an MAE, its loss for a mean loss. Jordan (ICLR
2024, "On the Variance of Neural Network Training with respect to Test Sets
and Distributions") showed that trainings which differ only in their seed make
nearly independent errors on single examples: most of the spread between seeds
on a test set is which examples each run happened to get wrong, and seeds
differ far less on the distribution the set is drawn from. A "lucky seed" is
mostly lucky on this set.

With ``X`` the ``(seeds S, examples n)`` matrix of per-example values,
``a = X.mean(axis=1)`` the seeds' scores and ``v_i`` the variance across seeds
of example ``i`` (both with ``ddof=1``):

- observed variance ``V = var(a)``;
- independent-errors variance ``I = sum(v_i) / n**2``: what ``V`` would be if
  the seeds' errors on different examples were independent;
- distribution-wise variance ``D = (n**2 * V - sum(v_i)) / (n * (n - 1))``, the
  mean over pairs of distinct examples of the covariance across seeds of
  their values. Its expectation over seeds and over the draw of the
  examples from their distribution is the variance across seeds of the
  score on the whole distribution; no independence is assumed for that, and
  nothing about the values but that their mean is the score.

So ``V = I + (n - 1) / n * D`` exactly: of the observed variance, the share
``I / V`` is the finite set and ``1 - I / V`` the seeds' difference on the
distribution (variances add; standard deviations do not). ``D`` can come out
negative when the real variance is small; it is reported clipped at zero and
flagged (``NoiseEstimate.clipped``).

The interval of ``D`` (:func:`distribution_variance_interval`) is Bonett's
(2006) interval of the variance of the seeds' scores, which adapts to their
kurtosis, less ``I``: ``n / (n - 1) * (bounds of V - I)``, widened for the
draw of the examples (:func:`example_variance`, combined by Zou and Donner's
MOVER). The finite set's ``I`` moves with ``V`` from one set of examples to
the next, and ``V - I`` cancels that.
A percentile bootstrap over seeds, used before, covered the truth 80-85% of
the time at a nominal 95% with 10 seeds; resampling examples with replacement
would count a duplicated example as a pair of perfectly correlated examples
and bias the estimate upwards. ``benchmarks/calibration/noise.py`` has the
measured coverage.

Pure NumPy/SciPy: nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special, stats

from keras_seeds._validation import check_choice, check_int
from keras_seeds.statistics.functions import (
    OUTLIER_THRESHOLD,
    bonett_variance_interval,
    check_confidence_level,
    robust_z,
)

# How the distribution-wise variance's interval is computed.
INTERVAL_METHODS = ("bonett", "chi2", "percentile")
# float16, the store's per-example values, keeps 11 significant bits: a mean
# of rounded values is within 2**-11 of the mean of their magnitudes.
_FLOAT16_ROUNDING = 2.0 ** -11
_BEST_GRID = np.linspace(-12.0, 12.0, 4801)
# noise_estimate gives its intervals from this many seeds. Bonett's interval
# keeps its level from 3 (benchmarks/calibration/noise.py), but with 3 or 4
# seeds its upper end is 7 to 55 times the observed std (the kurtosis cannot
# be estimated from so few): withheld rather than shown.
DISTRIBUTION_CI_MIN_SEEDS = 5


def check_correct(correct, name: str = "correct", seeds: int | None = None) -> np.ndarray:
    """Per-example correctness as a ``(seeds, examples)`` boolean array.

    Accepts a 2-D array (or a list of equally long rows) of 0/1 values or
    booleans. Rows of different lengths (different examples for different
    seeds), values other than 0 and 1, or a number of rows other than
    ``seeds`` raise a ``ValueError`` that names ``name``.

    Example:

    >>> check_correct([[1, 0, 1], [1, 1, 1]]).shape
    (2, 3)
    >>> check_correct([[1, 0, 1], [1, 1]])
    Traceback (most recent call last):
    ...
    ValueError: `correct` must have shape (seeds, examples), the same examples for every seed; row 1 has 2 examples, row 0 has 3.
    """
    array = _matrix(correct, name, seeds, "0/1 values")
    if array.dtype != bool:
        if array.dtype.kind not in "iuf" or not np.isin(array, (0, 1)).all():
            bad = array.ravel()[~np.isin(array.ravel(), (0, 1))][:3] if array.dtype.kind in \
                "iuf" else array.dtype
            raise ValueError(f"`{name}` must hold per-example correctness, 0 or 1 (a "
                             f"classification's right/wrong per example); received "
                             f"{bad!r}: per-example losses are not correctness.")
        array = array.astype(bool)
    return array


def check_per_example(values, name: str = "per_example",
                      seeds: int | None = None) -> np.ndarray:
    """Per-example values as a ``(seeds, examples)`` array: booleans stay
    boolean (correctness), any other finite real values become float64
    (squared errors, absolute errors, losses).

    Example:

    >>> check_per_example([[0.25, 1.0], [0.5, 0.0]]).dtype, check_per_example([[True, False]]).dtype
    (dtype('float64'), dtype('bool'))
    >>> check_per_example([[0.25, float("nan")], [0.5, 0.0]])
    Traceback (most recent call last):
    ...
    ValueError: `per_example` must hold finite numbers; row 0 holds nan.
    """
    array = _matrix(values, name, seeds, "numbers")
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf":
        raise TypeError(f"`{name}` must hold numbers (one value per seed and example); "
                        f"received an array of dtype {array.dtype}.")
    array = array.astype(np.float64)
    finite = np.isfinite(array)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise ValueError(f"`{name}` must hold finite numbers; row {row} holds "
                         f"{array[row][~finite[row]][0]}.")
    return array


def _matrix(values, name: str, seeds: int | None, what: str) -> np.ndarray:
    """``values`` as a 2-D array of at least 2 columns and ``seeds`` rows."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"`{name}` must be a (seeds, examples) array of {what}; "
                        f"received {type(values).__name__}.")
    if not isinstance(values, np.ndarray):
        lengths = [len(row) if hasattr(row, "__len__") else None for row in values]
        for index, length in enumerate(lengths):
            if length != lengths[0]:
                raise ValueError(
                    f"`{name}` must have shape (seeds, examples), the same examples for every "
                    f"seed; row {index} has {length} examples, row 0 has {lengths[0]}.")
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(f"`{name}` must have shape (seeds, examples) with at least 2 "
                         f"examples; received shape {array.shape}.")
    if seeds is not None and array.shape[0] != seeds:
        raise ValueError(f"`{name}` must have one row per seed ({seeds}); received "
                         f"{array.shape[0]} rows (shape {array.shape}).")
    return array


def rows_match_scores(values, scores) -> np.ndarray:
    """Which rows of ``values`` average to their seed's score. Correctness
    (booleans): within half an example (``0.5 / examples``). Other values:
    within the rounding of float16, the precision a store keeps them in
    (``2**-11`` of the row's mean magnitude). Never tighter than a few float32
    ulps (Keras computes scores as float32 means).

    Example:

    >>> rows_match_scores(np.array([[1, 0, 1, 1], [1, 1, 1, 1]], bool), [0.75, 0.75]).tolist()
    [True, False]
    >>> rows_match_scores(np.array([[0.5, 1.5], [2.0, 2.0]]), [1.0, 2.1]).tolist()
    [True, False]
    """
    values = np.asarray(values)
    scores = np.asarray(scores, float)
    floor = 4 * float(np.finfo(np.float32).eps) * np.fmax(np.abs(scores), 1.0)  # NaN: 1
    if values.dtype == bool:
        tolerance = np.maximum(0.5 / values.shape[1], floor)
        return np.isclose(values.mean(axis=1), scores, rtol=0, atol=tolerance)
    values = values.astype(np.float64)
    tolerance = _FLOAT16_ROUNDING * np.abs(values).mean(axis=1) + floor
    return np.abs(values.mean(axis=1) - scores) <= tolerance


def variance_parts(values) -> tuple[float, float, float]:
    """``(V, I, D)``: the observed variance of the seeds' scores, the part
    independent per-example errors explain, and the unbiased estimate of the
    distribution-wise variance (the module docstring has the formulas), of
    per-example correctness or any per-example values whose row means are
    the scores. ``V == I + (n - 1) / n * D``.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> correct = rng.random((50, 400)) < 0.8  # independent errors only
    >>> V, I, D = variance_parts(correct)
    >>> round(V / I, 1), abs(D) < 0.1 * I
    (1.0, True)
    """
    values = check_per_example(values).astype(np.float64)
    seeds, n = values.shape
    if seeds < 2:
        raise ValueError(f"`per_example` needs at least 2 seeds (rows) for a variance; "
                         f"received {seeds}.")
    observed = float(np.var(values.mean(axis=1), ddof=1))
    per_example = float(np.var(values, axis=0, ddof=1).sum())
    return (observed, per_example / n ** 2,
            (n ** 2 * observed - per_example) / (n * (n - 1)))


def _distribution_variance_of_resamples(values: np.ndarray):
    """The statistic for ``scipy.stats.bootstrap`` over seeds: given arrays of
    seed indices (resamples along the last axis), ``D`` of each resample,
    computed from each resample's counts ``w`` of the seeds. With ``p = w @ X / m``
    the examples' resampled means, ``sum(p) = w @ X.sum(1) / m`` and
    ``sum(p**2) = w @ (X @ X.T) @ w / m**2``: one product with the seeds' Gram
    matrix, cheaper than ``w @ X`` when there are more examples than seeds."""
    seeds, n = values.shape
    scores = values.mean(axis=1)
    gram = values @ values.T if seeds <= n else None
    squares_of_rows = (values * values).sum(axis=1)

    def statistic(indices, axis=-1):
        indices = np.asarray(indices)
        flat = indices.reshape(-1, indices.shape[-1])
        batch, size = flat.shape
        offsets = (flat + seeds * np.arange(batch)[:, None]).ravel()
        counts = np.bincount(offsets, minlength=batch * seeds).reshape(batch, seeds)
        counts = counts.astype(np.float64)
        if gram is not None:
            squares = ((counts @ gram) * counts).sum(axis=1) / size ** 2
        else:
            p = counts @ values / size
            squares = (p * p).sum(axis=1)
        per_example = (counts @ squares_of_rows / size - squares) * size / (size - 1)
        mean = counts @ scores / size
        observed = (counts @ (scores * scores) / size - mean * mean) * size / (size - 1)
        return ((n ** 2 * observed - per_example) / (n * (n - 1))).reshape(indices.shape[:-1])

    return statistic


def distribution_variance_interval(values, confidence_level: float = 0.95,
                                   method: str = "bonett", n_resamples: int = 9999,
                                   random_state=0) -> tuple[float, float]:
    """A confidence interval of the distribution-wise variance ``D``, on the
    variance scale and not clipped at zero (take square roots of the clipped
    ends for the std's interval: the function is increasing).

    Args:
        values: per-example correctness or values, ``(seeds, examples)``.
        confidence_level: of the interval.
        method: ``"bonett"`` (the default): Bonett's interval of the
            variance of the seeds' scores (:func:`bonett_variance_interval`)
            less the finite set's part, ``n / (n - 1) * (bounds - I)``,
            widened for the draw of the examples
            (:func:`example_variance`; the two half-widths add in
            quadrature, Zou and Donner's MOVER); ``"chi2"``: the same with
            the chi-square interval, exact for normal scores only (the
            examples' draw aside); ``"percentile"``: a percentile bootstrap over
            seeds (``scipy.stats.bootstrap``, ``n_resamples`` drawn with
            ``random_state``), kept for comparison: it covers 80-85% at a
            nominal 95% with 10 seeds.

    In simulated studies of 3 to 64 seeds on 300 examples of varying
    difficulty (``benchmarks/calibration/noise.py``), the Bonett interval
    keeps its 95% level at every number of seeds (conservative below 10).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> skill = rng.normal(0, 0.03, (64, 1))  # a real seed effect of std 0.03
    >>> correct = rng.random((64, 300)) < 0.8 + skill
    >>> low, high = distribution_variance_interval(correct)
    >>> bool(low < 0.03 ** 2 < high), bool(low > 0)
    (True, True)
    """
    values = check_per_example(values, "values").astype(np.float64)
    confidence_level = check_confidence_level(confidence_level)
    check_choice(method, "method", INTERVAL_METHODS)
    seeds, n = values.shape
    if seeds < 3:
        return math.nan, math.nan
    if (values == values[0]).all():
        return 0.0, 0.0  # every seed right and wrong on the same examples
    if method == "percentile":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            result = stats.bootstrap((np.arange(seeds),),
                                     _distribution_variance_of_resamples(values),
                                     vectorized=True, confidence_level=confidence_level,
                                     n_resamples=n_resamples, method="percentile", batch=500,
                                     rng=np.random.default_rng(random_state))
        return float(result.confidence_interval.low), float(result.confidence_interval.high)
    scores = values.mean(axis=1)
    if method == "chi2":
        variance, alpha = float(np.var(scores, ddof=1)), 1 - confidence_level
        low, high = ((seeds - 1) * variance / float(stats.chi2.ppf(1 - alpha / 2, seeds - 1)),
                     (seeds - 1) * variance / float(stats.chi2.ppf(alpha / 2, seeds - 1)))
    else:
        low, high = bonett_variance_interval(scores, confidence_level)
    _, independent, distribution = variance_parts(values)
    low, high = n / (n - 1) * (low - independent), n / (n - 1) * (high - independent)
    # MOVER (Zou and Donner): the seeds' part and the examples' part of the
    # error are independent, so their half-widths add in quadrature.
    examples = float(stats.norm.ppf((1 + confidence_level) / 2)) ** 2 * example_variance(values)
    return (distribution - math.sqrt((distribution - low) ** 2 + examples),
            distribution + math.sqrt((high - distribution) ** 2 + examples))


def example_variance(values, splits: int = 8) -> float:
    """The part of the variance of ``D`` that comes from which examples were
    drawn (the interval of the variance of the seeds' scores holds the
    examples fixed).

    ``D`` is the mean over examples of ``g_i``, the covariance across seeds of
    example ``i``'s value with the mean of the other examples; as a U-statistic
    of pairs of examples, its variance from the examples' draw is
    ``4 * var(h_i) / n``, with ``h_i`` what ``g_i`` would be with infinitely
    many seeds. ``var(h_i)`` is the covariance across examples of ``g_i``
    computed on two disjoint halves of the seeds (their seed noise is
    independent), averaged over ``splits`` fixed splits. Zero below 6 seeds.

    Example (examples of very different difficulty, a seed effect that
    depends on it):

    >>> rng = np.random.default_rng(0)
    >>> easy = rng.random(400) < 0.5
    >>> skill = rng.normal(0, 0.05, (64, 1))
    >>> correct = rng.random((64, 400)) < np.where(easy, 0.9, 0.5) + skill * easy
    >>> round(example_variance(correct) ** 0.5 / variance_parts(correct)[2], 2)
    0.1
    """
    values = check_per_example(values, "values").astype(np.float64)
    seeds, n = values.shape
    if seeds < 6:
        return 0.0
    rng = np.random.default_rng(0)  # fixed splits: the same data give the same interval
    covariances = []
    for _ in range(splits):
        order = rng.permutation(seeds)
        first, second = (_example_contributions(values[half])
                         for half in (order[:seeds // 2], order[seeds // 2:]))
        covariances.append(float(np.cov(first, second)[0, 1]))
    return 4 * max(float(np.mean(covariances)), 0.0) / n


def _example_contributions(values: np.ndarray) -> np.ndarray:
    """``g_i``: the covariance across seeds (``ddof=1``) of each example's value
    with the mean of the other examples; ``D`` is their mean."""
    seeds, n = values.shape
    others = (values.sum(axis=1, keepdims=True) - values) / (n - 1)
    centred = values - values.mean(axis=0)
    return (centred * (others - others.mean(axis=0))).sum(axis=0) / (seeds - 1)


def set_noise_z(values) -> np.ndarray:
    """Each seed's distance from the median of the other seeds, in standard
    deviations of what the finite evaluation set alone would make it: if the
    seed's errors on single examples were independent draws like the others'
    (per example, the others' variance ``v_i``), its score would differ from
    their median by noise of variance ``I_other * (1 + pi / (2 (S - 1)))``,
    with ``I_other = sum(v_i) / n**2`` over the other seeds (the median of
    ``S - 1`` normal scores varies ``pi / 2`` times as much as their mean).

    A seed whose ``|z|`` is small stands out only on this set; one whose
    ``|z|`` is large differs beyond the set's noise. Positive: above the
    others. Needs 3 seeds or more.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> correct = rng.random((20, 300)) < 0.85
    >>> correct[0] = rng.random(300) < 0.6   # seed 0 really is worse
    >>> z = set_noise_z(correct)
    >>> bool(z[0] < -5), bool(np.abs(z[1:]).max() < 3.5)
    (True, True)
    """
    values = check_per_example(values).astype(np.float64)
    seeds, n = values.shape
    if seeds < 3:
        raise ValueError(f"`per_example` needs at least 3 seeds (rows) to judge one against "
                         f"the others; received {seeds}.")
    scores = values.mean(axis=1)
    total, squares = values.sum(axis=0), (values * values).sum(axis=0)
    # Leave-one-out per-example variances, from the column sums without row k.
    rest, rest_squares = total - values, squares - values * values
    variances = (rest_squares - rest * rest / (seeds - 1)) / (seeds - 2)
    independent = np.maximum(variances, 0.0).sum(axis=1) / n ** 2
    medians = np.array([np.median(np.delete(scores, k)) for k in range(seeds)])
    spread = np.sqrt(independent * (1 + math.pi / (2 * (seeds - 1))))
    gaps = scores - medians
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gaps == 0, 0.0, gaps / spread)


def best_above_median(reliability: float, n: int) -> float:
    """The probability that the best of ``n`` seeds on an evaluation set is
    better than the median seed on new data from the same distribution.

    A normal model: the scores on the set are the distribution-wise scores
    plus independent noise, correlated ``rho = sqrt(reliability)`` with them
    (``reliability`` = distribution-wise variance / observed variance). With
    ``m`` the best of ``n`` standard normals, the answer is
    ``E[Phi(rho * m / sqrt(1 - rho**2))]``: 0.5 when the set is all noise,
    ``1 - 0.5**n`` when it has none.

    Example:

    >>> best_above_median(0.0, 10), round(best_above_median(1.0, 10), 4)
    (0.5, 0.999)
    >>> round(best_above_median(0.25, 10), 2)  # a Monte-Carlo check gives 0.80 too
    0.8
    """
    n = check_int(n, "n", minimum=1)
    reliability = float(np.clip(reliability, 0.0, 1.0))
    if reliability == 0.0:
        return 0.5
    if reliability == 1.0:
        return 1.0 - 0.5 ** n
    slope = math.sqrt(reliability / (1.0 - reliability))
    # Simpson's rule on a fixed grid: the integrand is smooth, and the best of
    # n normals lies within [-12, 12] for any n a study has.
    m = _BEST_GRID
    density = n * np.exp(-0.5 * m * m - 0.5 * math.log(2 * math.pi)
                         + (n - 1) * special.log_ndtr(m)) * special.ndtr(slope * m)
    return float(integrate.simpson(density, x=m))


@dataclass(frozen=True)
class NoiseEstimate:
    """How much of a study's spread between seeds is the evaluation set
    (:meth:`keras_seeds.SeedStudy.noise`). Standard deviations and variances
    are in the score's units (accuracy as a fraction); shares are of the
    observed variance (variances add, standard deviations do not).

    Attributes:
        observed_std: the std of the seeds' scores on this set (``ddof=1``).
        independent_errors_std: the std that independent per-example errors
            alone would give (``sqrt(I)``).
        finite_set_share: ``I / V``, the share of the observed variance that
            independent per-example errors explain (above 1 when the seeds
            trade errors between examples).
        distribution_share: ``1 - I / V``, the rest: the seeds' difference on
            the data distribution (``(n - 1) / n * D / V``).
        distribution_std: the estimated std across seeds on the data
            distribution, ``sqrt(max(D, 0))``.
        distribution_std_ci: the confidence interval of that std, the square
            roots of ``distribution_variance_ci``'s ends clipped at zero.
        distribution_variance: ``D`` itself, possibly negative.
        distribution_variance_ci: the confidence interval of ``D``
            (:func:`distribution_variance_interval`), not clipped.
        clipped: ``D < 0``, reported as zero: no real seed effect is
            visible, or the trainings have not converged (the independent
            errors picture holds for converged trainings).
        reliability: the share of the observed variance that is real,
            ``D / V`` clipped to ``[0, 1]``; the slope of new-data score on
            this set's score. ``reliability_ci``: its interval,
            ``D / (I + (n - 1) / n * D)`` at the ends of ``D``'s (with ``I``
            held at its estimate).
        seeds, examples: the shape of the per-example data.
        best_seed: the best seed on this set; ``best_gap`` its expected
            advantage over the median seed on new data, given the observed
            gap (the observed gap times ``reliability``, regression to the
            mean), and ``best_gap_ci`` the observed gap times
            ``reliability_ci``'s ends.
        n: the number of seeds the best is picked from (default all).
        best_above_median: the probability that the best of ``n`` seeds on
            this set is above the median on new data
            (:func:`best_above_median`), with ``best_above_median_ci`` at the
            ends of ``reliability_ci``.
        black_swans: the seeds that stand out by the median/MAD rule and
            beyond the set's noise (:func:`set_noise_z`, both above 3.5): the
            intervals assume no such seed (with one black-swan seed in 16
            they cover less than they state), and the sentence says so.
        confidence_level: of every interval here.
        withheld: why the intervals are NaN (fewer than
            ``DISTRIBUTION_CI_MIN_SEEDS`` seeds), else ``None``.
        interval_method: how ``distribution_variance_ci`` was computed.
        higher_is_better: the score's direction (which seed is best).
        correctness: whether the values are 0/1 correctness (the sentence
            then speaks in percentage points).
        split: the evaluation set's name, for the sentence.
    """

    observed_std: float
    independent_errors_std: float
    finite_set_share: float
    distribution_share: float
    distribution_std: float
    distribution_std_ci: tuple[float, float]
    distribution_variance: float
    distribution_variance_ci: tuple[float, float]
    clipped: bool
    reliability: float
    reliability_ci: tuple[float, float]
    seeds: int
    examples: int
    best_seed: int
    best_gap: float
    best_gap_ci: tuple[float, float]
    n: int
    best_above_median: float
    best_above_median_ci: tuple[float, float]
    black_swans: tuple[int, ...] = ()
    confidence_level: float = 0.95
    withheld: str | None = None
    interval_method: str = "bonett"
    higher_is_better: bool = True
    correctness: bool = True
    split: str = "validation"

    def sentence(self) -> str:
        """The finding in words: how the observed variance splits between the
        finite set and the seeds, the seeds' std on the distribution with its
        interval, and what that means for the best seed; one more sentence
        when the estimate was clipped. Correctness is in percentage points.

        Example:

        >>> rng = np.random.default_rng(0)
        >>> correct = rng.random((64, 360)) < 0.9
        >>> print(noise_estimate(correct, seeds=range(64)).sentence())  # doctest: +ELLIPSIS
        Of the variance between seeds on these 360 validation examples (std 1.57 points), about 99%
        is what independent per-example errors give (the finite set) and 1% is the seeds differing
        on the data distribution, where their std is about 0.16 points (95% CI 0.00 to 1.11). The
        best of 64 seeds here is about 0.05 points better than the median seed on new data, and
        above it there with probability 60%.
        """
        unit = " points" if self.correctness else ""
        low, high = (self._value(v) for v in self.distribution_std_ci)
        level = f"{self.confidence_level:.0%} CI"
        bounds = f"withheld: {self.withheld}" if self.withheld else f"{low} to {high}"
        distribution = f"about {self._value(self.distribution_std)}{unit} ({level} {bounds})"
        if self.independent_errors_std <= self.observed_std:
            split = (f"about {self.finite_set_share:.0%} is what independent per-example errors "
                     f"give (the finite set) and {self.distribution_share:.0%} is the seeds "
                     f"differing on the data distribution, where their std is {distribution}")
        else:
            split = (f"independent per-example errors alone would give more (a std of "
                     f"{self._value(self.independent_errors_std)}{unit}): the seeds trade errors "
                     f"between examples; on the data distribution their std is {distribution}")
        text = (f"Of the variance between seeds on these {self.examples} {self.split} examples "
                f"(std {self._value(self.observed_std)}{unit}), {split}. The best of {self.n} "
                f"seeds here is about {self._value(self.best_gap)}{unit} better than the median "
                f"seed on new data, and above it there with probability "
                f"{self.best_above_median:.0%}.")
        if self.black_swans:
            text += (f" Seed{'s' if len(self.black_swans) > 1 else ''} "
                     f"{', '.join(map(str, self.black_swans))} "
                     f"stand{'' if len(self.black_swans) > 1 else 's'} out beyond the set's "
                     f"noise: with such a black swan among the seeds, the interval covers less "
                     f"than {self.confidence_level:.0%}.")
        if self.clipped:
            text += (f" (The distribution-wise variance came out negative, "
                     f"{self.distribution_variance:.3g}, and is reported as 0: the seeds' "
                     "errors look independent, or the trainings have not converged.)")
        return text

    def _value(self, value: float) -> str:
        """Correctness in percentage points (two decimals below 10), any other
        value with 4 significant digits."""
        if not math.isfinite(value):
            return "n/a"
        if not self.correctness:
            return f"{value:.4g}"
        points = 100 * value
        return f"{points:.2f}" if abs(points) < 10 else f"{points:.1f}"

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict.

        Example:

        >>> estimate = noise_estimate(np.eye(4, dtype=bool)[:, :3].T, seeds=[1, 2, 3])
        >>> sorted(estimate.to_dict())[:3]
        ['best_above_median', 'best_above_median_ci', 'best_gap']
        """
        return {name: (list(value) if isinstance(value, tuple) else value)
                for name, value in self.__dict__.items()}


def noise_estimate(values, seeds=None, n: int | None = None, confidence_level: float = 0.95,
                   method: str = "bonett", n_resamples: int = 9999, random_state=0,
                   split: str = "validation", higher_is_better: bool = True) -> NoiseEstimate:
    """The :class:`NoiseEstimate` of per-example values ``(seeds, examples)``.

    Args:
        values: correctness (0/1 or booleans) or any per-example values whose
            row means are the seeds' scores (:func:`check_per_example`).
        seeds: the seed of each row (default ``0 .. S-1``), to name the best.
        n: the number of seeds the best is picked from (default all rows).
        confidence_level, method: of the intervals
            (:func:`distribution_variance_interval`).
        n_resamples, random_state: of ``method="percentile"`` only.
        split: the evaluation set's name, for :meth:`NoiseEstimate.sentence`.
        higher_is_better: ``False`` for losses and errors: the best seed is
            the lowest.

    Example (per-example squared errors of a regression, lower is better):

    >>> rng = np.random.default_rng(1)
    >>> errors = rng.normal(0, 1, (64, 300)) * (1 + rng.normal(0, 0.05, (64, 1)))
    >>> estimate = noise_estimate(errors ** 2, higher_is_better=False)
    >>> round(estimate.independent_errors_std, 3), round(estimate.distribution_std, 3)  # truth 0.1
    (0.082, 0.109)
    >>> estimate.best_seed == int(np.argmin((errors ** 2).mean(axis=1)))
    True
    """
    values = check_per_example(values, "values")
    count = values.shape[0]
    seeds = np.arange(count) if seeds is None else np.asarray(list(seeds))
    if seeds.size != count:
        raise ValueError(f"`seeds` must name each row of `values` ({count}); received "
                         f"{seeds.size} seeds.")
    n = count if n is None else check_int(n, "n", minimum=1)
    confidence_level = check_confidence_level(confidence_level)
    observed, independent, distribution = variance_parts(values)
    withheld = None
    if count >= DISTRIBUTION_CI_MIN_SEEDS:
        low, high = distribution_variance_interval(values, confidence_level, method,
                                                   n_resamples, random_state)
    else:
        low = high = math.nan
        withheld = (f"an interval of the seeds' std needs {DISTRIBUTION_CI_MIN_SEEDS} seeds to "
                    f"bound it usefully; this study has {count}")
    examples = values.shape[1]
    reliability = _reliability(distribution, observed)
    ends = [_reliability(end, independent + (examples - 1) / examples * end)
            for end in (low, high)]
    scores = values.mean(axis=1)
    signed = scores if higher_is_better else -scores
    best = int(np.argmax(signed))
    gap = float(signed[best] - np.median(signed))
    finite_set = independent / observed if observed > 0 else math.nan
    swans = (np.abs(robust_z(signed)) > OUTLIER_THRESHOLD) & (
        np.abs(set_noise_z(values)) > OUTLIER_THRESHOLD)
    return NoiseEstimate(
        observed_std=math.sqrt(observed), independent_errors_std=math.sqrt(independent),
        finite_set_share=finite_set, distribution_share=1.0 - finite_set,
        distribution_std=math.sqrt(max(distribution, 0.0)),
        distribution_std_ci=tuple(math.sqrt(max(end, 0.0)) if math.isfinite(end) else end
                                  for end in (low, high)),
        distribution_variance=distribution, distribution_variance_ci=(low, high),
        clipped=distribution < 0, reliability=reliability, reliability_ci=tuple(ends),
        seeds=count, examples=examples, best_seed=int(seeds[best]),
        best_gap=reliability * gap, best_gap_ci=(ends[0] * gap, ends[1] * gap), n=n,
        best_above_median=best_above_median(reliability, n),
        best_above_median_ci=tuple(best_above_median(end, n) if math.isfinite(end) else end
                                   for end in ends),
        black_swans=tuple(int(seed) for seed in seeds[swans]), confidence_level=confidence_level,
        withheld=withheld, interval_method=method,
        higher_is_better=bool(higher_is_better), correctness=values.dtype == bool,
        split=split)


def _reliability(distribution: float, observed: float) -> float:
    if not math.isfinite(distribution) or not math.isfinite(observed):
        return math.nan
    if observed <= 0:
        return 0.0
    return float(np.clip(distribution / observed, 0.0, 1.0))


def expected_rank_correlation(validation: NoiseEstimate, test: NoiseEstimate) -> float:
    """The Spearman correlation between seeds' validation and test scores that
    the estimates imply: the two scores share only the distribution-wise part,
    so their Pearson correlation is ``D / sqrt(V_val * V_test)`` (``D`` the
    mean of the two sets' clipped estimates), and for normal scores Spearman's
    rho is ``6 / pi * arcsin(r / 2)``.

    Example:

    >>> rng = np.random.default_rng(2)
    >>> skill = rng.normal(0, 0.02, (64, 1))
    >>> val = noise_estimate(rng.random((64, 300)) < 0.85 + skill)
    >>> test = noise_estimate(rng.random((64, 300)) < 0.85 + skill)
    >>> round(expected_rank_correlation(val, test), 1)
    0.4
    """
    shared = (validation.distribution_std ** 2 + test.distribution_std ** 2) / 2
    pearson = min(1.0, shared / (validation.observed_std * test.observed_std))
    return float(6 / math.pi * math.asin(pearson / 2))
