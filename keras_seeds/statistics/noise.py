"""Test-set noise: how much of the spread between seeds is the finite evaluation set.

A seed's score on a validation set of ``n`` examples is the mean of its
per-example correctness. Jordan (ICLR 2024, "On the Variance of Neural Network
Training with respect to Test Sets and Distributions") showed that trainings
which differ only in their seed make nearly independent errors on single
examples: most of the spread between seeds on a test set is which examples
each run happened to get wrong, and seeds differ far less on the distribution
the set is drawn from. A "lucky seed" is mostly lucky on this set.

With ``C`` the ``(seeds S, examples n)`` matrix of correctness (0/1),
``a = C.mean(axis=1)`` the seeds' scores and ``v_i`` the variance across seeds
of example ``i`` (both with ``ddof=1``):

- observed variance ``V = var(a)``;
- independent-errors variance ``I = sum(v_i) / n**2``: what ``V`` would be if
  the seeds' errors on different examples were independent;
- distribution-wise variance ``D = (n**2 * V - sum(v_i)) / (n * (n - 1))``, the
  mean over pairs of distinct examples of the covariance across seeds of
  their correctness. Its expectation over seeds and over the draw of the
  examples from their distribution is the variance across seeds of the
  score on the whole distribution; no independence is assumed for that.

So ``V = I + (n - 1) / n * D`` exactly. ``D`` can come out negative when the
real variance is small; it is reported clipped at zero and flagged
(``NoiseEstimate.clipped``). Its confidence interval is a bootstrap over seeds
(``scipy.stats.bootstrap``): resampling examples with replacement would count
a duplicated example as a pair of perfectly correlated examples and bias the
estimate upwards.

Pure NumPy/SciPy: nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import integrate, stats

from keras_seeds._validation import check_int
from keras_seeds.statistics.functions import check_confidence_level


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
    if isinstance(correct, (str, bytes)) or not hasattr(correct, "__len__"):
        raise TypeError(f"`{name}` must be a (seeds, examples) array of 0/1 values; "
                        f"received {type(correct).__name__}.")
    if not isinstance(correct, np.ndarray):
        lengths = [len(row) if hasattr(row, "__len__") else None for row in correct]
        for index, length in enumerate(lengths):
            if length != lengths[0]:
                raise ValueError(
                    f"`{name}` must have shape (seeds, examples), the same examples for every "
                    f"seed; row {index} has {length} examples, row 0 has {lengths[0]}.")
    array = np.asarray(correct)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(f"`{name}` must have shape (seeds, examples) with at least 2 "
                         f"examples; received shape {array.shape}.")
    if seeds is not None and array.shape[0] != seeds:
        raise ValueError(f"`{name}` must have one row per seed ({seeds}); received "
                         f"{array.shape[0]} rows (shape {array.shape}).")
    if array.dtype != bool:
        if array.dtype.kind not in "iuf" or not np.isin(array, (0, 1)).all():
            bad = array.ravel()[~np.isin(array.ravel(), (0, 1))][:3] if array.dtype.kind in \
                "iuf" else array.dtype
            raise ValueError(f"`{name}` must hold per-example correctness, 0 or 1 (a "
                             f"classification's right/wrong per example); received "
                             f"{bad!r}: per-example losses are not correctness.")
        array = array.astype(bool)
    return array


def rows_match_scores(correct: np.ndarray, scores) -> np.ndarray:
    """Which rows of ``correct`` average to their seed's score: within half an
    example (``0.5 / examples``), and never tighter than a few float32 ulps
    (Keras computes accuracies as float32 means).

    Example:

    >>> rows_match_scores(np.array([[1, 0, 1, 1], [1, 1, 1, 1]], bool), [0.75, 0.75]).tolist()
    [True, False]
    """
    means = np.asarray(correct, bool).mean(axis=1)
    tolerance = max(0.5 / np.shape(correct)[1], 4 * float(np.finfo(np.float32).eps))
    return np.isclose(means, np.asarray(scores, float), rtol=0, atol=tolerance)


def variance_parts(correct) -> tuple[float, float, float]:
    """``(V, I, D)``: the observed variance of the seeds' scores, the part
    independent per-example errors explain, and the unbiased estimate of the
    distribution-wise variance (the module docstring has the formulas).
    ``V == I + (n - 1) / n * D``.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> correct = rng.random((50, 400)) < 0.8  # independent errors only
    >>> V, I, D = variance_parts(correct)
    >>> round(V / I, 1), abs(D) < 0.1 * I
    (1.0, True)
    """
    values = check_correct(correct).astype(np.float64)
    seeds, n = values.shape
    if seeds < 2:
        raise ValueError(f"`correct` needs at least 2 seeds (rows) for a variance; received "
                         f"{seeds}.")
    observed = float(np.var(values.mean(axis=1), ddof=1))
    per_example = float(np.var(values, axis=0, ddof=1).sum())
    return (observed, per_example / n ** 2,
            (n ** 2 * observed - per_example) / (n * (n - 1)))


def _distribution_variance_of_resamples(values: np.ndarray):
    """The statistic for ``scipy.stats.bootstrap`` over seeds: given arrays of
    seed indices (resamples along the last axis), ``D`` of each resample,
    computed from each resample's counts ``w`` of the seeds. With ``p = w @ C / m``
    the examples' resampled correctness rates, ``sum(p) = w @ C.sum(1) / m`` and
    ``sum(p**2) = w @ (C @ C.T) @ w / m**2``: one product with the seeds' Gram
    matrix, cheaper than ``w @ C`` when there are more examples than seeds."""
    seeds, n = values.shape
    scores = values.mean(axis=1)
    gram = values @ values.T if seeds <= n else None
    totals = values.sum(axis=1)

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
        # Correctness is 0/1, so each example's mean square is its mean.
        per_example = (counts @ totals / size - squares) * size / (size - 1)
        mean = counts @ scores / size
        observed = (counts @ (scores * scores) / size - mean * mean) * size / (size - 1)
        return ((n ** 2 * observed - per_example) / (n * (n - 1))).reshape(indices.shape[:-1])

    return statistic


def distribution_variance_interval(correct, confidence_level: float = 0.95,
                                   n_resamples: int = 9999, random_state=0,
                                   method: str = "percentile") -> tuple[float, float]:
    """A bootstrap confidence interval of ``D`` (variance units), resampling
    seeds (``scipy.stats.bootstrap``); not clipped at zero.

    The percentile interval is the default: in 100 simulated studies of 64
    seeds and 300 examples it covered zero 94 times when seeds made
    independent errors and nothing else, and excluded zero 96 times when the
    distribution-wise std equalled the independent-errors std
    (``tests/statistics/test_noise.py``).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> skill = rng.normal(0, 0.03, (64, 1))  # a real seed effect of std 0.03
    >>> correct = rng.random((64, 300)) < 0.8 + skill
    >>> low, high = distribution_variance_interval(correct)
    >>> bool(low < 0.03 ** 2 < high), bool(low > 0)
    (True, True)
    """
    values = check_correct(correct).astype(np.float64)
    confidence_level = check_confidence_level(confidence_level)
    if values.shape[0] < 3:
        return math.nan, math.nan
    if (values == values[0]).all():
        return 0.0, 0.0  # every seed right and wrong on the same examples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap((np.arange(values.shape[0]),),
                                 _distribution_variance_of_resamples(values),
                                 vectorized=True, confidence_level=confidence_level,
                                 n_resamples=n_resamples, method=method, batch=500,
                                 rng=np.random.default_rng(random_state))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


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
    density = (lambda m: n * stats.norm.pdf(m) * stats.norm.cdf(m) ** (n - 1)
               * stats.norm.cdf(slope * m))
    return float(integrate.quad(density, -12.0, 12.0, limit=200)[0])


@dataclass(frozen=True)
class NoiseEstimate:
    """How much of a study's spread between seeds is the evaluation set
    (:meth:`keras_seeds.SeedStudy.noise`). Standard deviations are in the
    score's units (accuracy as a fraction).

    Attributes:
        observed_std: the std of the seeds' scores on this set (``ddof=1``).
        independent_errors_std: the std that independent per-example errors
            alone would give (``sqrt(I)``).
        distribution_std: the estimated std across seeds on the data
            distribution (``sqrt(max(D, 0))``).
        distribution_ci: its confidence interval ``(low, high)``.
        distribution_variance: ``D`` itself, possibly negative.
        clipped: ``D < 0``, reported as zero: no real seed effect is
            visible, or the trainings have not converged (the independent
            errors picture holds for converged trainings).
        reliability: the share of the observed variance that is real,
            ``D / V`` clipped to ``[0, 1]``; the slope of new-data score on
            this set's score.
        seeds, examples: the shape of the per-example data.
        best_seed: the best seed on this set; ``best_gap`` its estimated
            advantage over the median seed on new data (the observed gap
            times ``reliability``), with ``best_gap_ci``.
        n: the number of seeds the best is picked from (default all).
        best_above_median: the probability that the best of ``n`` seeds on
            this set is above the median on new data
            (:func:`best_above_median`), with ``best_above_median_ci``.
        split: the evaluation set's name, for the sentence.
    """

    observed_std: float
    independent_errors_std: float
    distribution_std: float
    distribution_ci: tuple[float, float]
    distribution_variance: float
    clipped: bool
    reliability: float
    seeds: int
    examples: int
    best_seed: int
    best_gap: float
    best_gap_ci: tuple[float, float]
    n: int
    best_above_median: float
    best_above_median_ci: tuple[float, float]
    confidence_level: float = 0.95
    split: str = "validation"

    def sentence(self) -> str:
        """The finding in one sentence (two when the estimate was clipped), in
        percentage points.

        Example:

        >>> rng = np.random.default_rng(0)
        >>> correct = rng.random((64, 360)) < 0.9
        >>> print(noise_estimate(correct, seeds=range(64)).sentence())  # doctest: +ELLIPSIS
        Of the 1.57-point std between seeds on these 360 validation examples, about 1.56 is the finite set; seeds differ by about 0.16 points on the data distribution (95% CI 0.00 to 0.96). The best of 64 seeds here is about 0.05 points better than the median seed on new data, and above it there with probability 60%.
        """
        low, high = (_points(math.sqrt(max(v, 0.0))) for v in self.distribution_ci)
        finite_set = (f"about {_points(self.independent_errors_std)} is the finite set"
                      if self.independent_errors_std <= self.observed_std else
                      f"independent per-example errors alone would give more, "
                      f"{_points(self.independent_errors_std)}: the seeds trade errors "
                      f"between examples")
        text = (f"Of the {_points(self.observed_std)}-point std between seeds on these "
                f"{self.examples} {self.split} examples, {finite_set}; seeds differ by "
                f"about {_points(self.distribution_std)} points on the data distribution "
                f"({self.confidence_level:.0%} CI {low} to {high}). The best of "
                f"{self.n} seeds here is about {_points(self.best_gap)} points better than "
                f"the median seed on new data, and above it there with probability "
                f"{self.best_above_median:.0%}.")
        if self.clipped:
            text += (f" (The distribution-wise variance came out negative, "
                     f"{self.distribution_variance:.3g}, and is reported as 0: the seeds' "
                     "errors look independent, or the trainings have not converged.)")
        return text

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict.

        Example:

        >>> estimate = noise_estimate(np.eye(4, dtype=bool)[:, :3].T, seeds=[1, 2, 3])
        >>> sorted(estimate.to_dict())[:3]
        ['best_above_median', 'best_above_median_ci', 'best_gap']
        """
        return {name: (list(value) if isinstance(value, tuple) else value)
                for name, value in self.__dict__.items()}


def _points(value: float) -> str:
    """A fraction as percentage points, two decimals below 10 points."""
    points = 100 * value
    return f"{points:.2f}" if abs(points) < 10 else f"{points:.1f}"


def noise_estimate(correct, seeds=None, n: int | None = None, confidence_level: float = 0.95,
                   n_resamples: int = 9999, random_state=0,
                   split: str = "validation") -> NoiseEstimate:
    """The :class:`NoiseEstimate` of per-example correctness ``(seeds, examples)``.

    Args:
        correct: 0/1 per seed and example (:func:`check_correct`).
        seeds: the seed of each row (default ``0 .. S-1``), to name the best.
        n: the number of seeds the best is picked from (default all rows).
        confidence_level, n_resamples, random_state: of the bootstrap over
            seeds (:func:`distribution_variance_interval`); the same
            ``random_state`` gives the same interval.
        split: the evaluation set's name, for :meth:`NoiseEstimate.sentence`.

    Example:

    >>> rng = np.random.default_rng(1)
    >>> correct = rng.random((64, 300)) < 0.85 + rng.normal(0, 0.02, (64, 1))
    >>> estimate = noise_estimate(correct)
    >>> round(estimate.independent_errors_std, 3), round(estimate.distribution_std, 3)
    (0.021, 0.021)
    """
    values = check_correct(correct)
    count = values.shape[0]
    seeds = np.arange(count) if seeds is None else np.asarray(list(seeds))
    if seeds.size != count:
        raise ValueError(f"`seeds` must name each row of `correct` ({count}); received "
                         f"{seeds.size} seeds.")
    n = count if n is None else check_int(n, "n", minimum=1)
    observed, independent, distribution = variance_parts(values)
    low, high = distribution_variance_interval(values, confidence_level, n_resamples,
                                               random_state)
    reliability = _reliability(distribution, observed)
    scores = values.mean(axis=1)
    best = int(np.argmax(scores))
    gap = float(scores[best] - np.median(scores))
    ends = [_reliability(low, observed), _reliability(high, observed)]
    return NoiseEstimate(
        observed_std=math.sqrt(observed), independent_errors_std=math.sqrt(independent),
        distribution_std=math.sqrt(max(distribution, 0.0)),
        distribution_ci=(low, high), distribution_variance=distribution,
        clipped=distribution < 0, reliability=reliability, seeds=count,
        examples=values.shape[1], best_seed=int(seeds[best]), best_gap=reliability * gap,
        best_gap_ci=(ends[0] * gap, ends[1] * gap), n=n,
        best_above_median=best_above_median(reliability, n),
        best_above_median_ci=(best_above_median(ends[0], n), best_above_median(ends[1], n)),
        confidence_level=check_confidence_level(confidence_level), split=split)


def _reliability(distribution: float, observed: float) -> float:
    if not math.isfinite(distribution) or observed <= 0:
        return 0.0 if math.isfinite(distribution) else math.nan
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
