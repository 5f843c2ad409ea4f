"""ensembles: which setup to ship, with its uncertainty.

The practitioner's rule: ship the setup whose *ensemble* of seeds scores best,
or, to ship a single seed, the setup whose seeds spread least. This module
gives both halves their uncertainty:

- :func:`ensemble_comparison`: P(a k-seed ensemble of A scores better than
  one of B), from each seed's stored predictions, with an interval;
- :func:`compare_spreads`: which setup's seeds spread less, with the
  Brown-Forsythe test of equal spreads (``scipy.stats.levene`` centred on
  the median) and the ranges;
- :func:`ensemble_points`: the validation and test scores of many k-seed
  ensembles, for the plot practitioners draw
  (:func:`keras_seeds.statistics.plots.ensembles_val_vs_test`).

**How an ensemble is scored** (the rule of the ensemble score a sweep keeps,
``keras_seeds.sweeps.run._score_ensemble``): its members' outputs, as the model
emits them, are averaged example by example, and the metric is applied to that
mean prediction against the labels. Every score here is the mean over
examples of a per-example value of the mean prediction: whether its top class
(or, with one output, whether it is above 0.5) is the label, for an accuracy;
its squared or absolute error, for MSE and MAE; its cross-entropy. A score
given as a function is called the same way, on one ensemble's mean prediction.

**What the probability is about.** Seed k of a setup is a draw from that
setup's distribution of trained models; a k-seed ensemble is k independent
draws, averaged. ``probability`` is P(score of A's ensemble > score of B's)
on the evaluation set the predictions were made on (ties count 1/2), over the
seeds of both setups. It is estimated by the two-sample U-statistic over
every k-subset of each side's seeds (all of them when there are at most
``n_ensembles``, else ``n_ensembles`` random ones, drawn with
``random_state``), and its interval by the jackknife over seeds (leave one
seed out: the ensembles without it) on the logit scale. The two setups'
seeds are taken as independent draws (as :func:`~keras_seeds.compare` does
unpaired). Simulated with a known truth (``benchmarks/calibration/
ensembles.py``: per-seed predictions from a logistic model with normal,
t(4), black-swan and logistic seed effects), the 95% interval covered
0.93-1.00 of 500 studies in every cell at 3, 5, 10, 20, 30 and 64 seeds per
side (the lowest, 0.928, was 0.950 over 2000); it is conservative (about
0.98) below 10 seeds.

Imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
from scipy import special, stats

from keras_seeds._validation import check_int
from keras_seeds.statistics.functions import check_confidence_level
from keras_seeds.statistics.metric_names import base_name, is_higher_better

# Keras' probabilities are clipped to [eps, 1 - eps] before a logarithm.
_EPSILON = 1e-7
# Mean predictions are computed in batches of at most this many floats.
_BATCH_FLOATS = 2 ** 22

ScoreFunction = Callable[[np.ndarray, np.ndarray], float]


# ----------------------------------------------------------------- scores
def _targets(labels: np.ndarray, shape: tuple, score: str) -> np.ndarray:
    """``labels`` shaped as one example's prediction ``shape`` (Keras'
    ``squeeze_or_expand_to_same_rank``), for the element-wise scores."""
    if labels.shape[1:] == shape:
        return labels
    if labels.size == labels.shape[0] * math.prod(shape):
        return labels.reshape((labels.shape[0], *shape))
    raise ValueError(f"`labels`: {score!r} compares each example's label with its prediction "
                     f"of shape {shape}; received labels of shape {labels.shape}.")


def _accuracy_kind(name: str, shape: tuple, labels: np.ndarray) -> str:
    """Which accuracy ``name`` is, as Keras resolves ``"accuracy"``: binary for
    one output, sparse for integer labels, categorical for one-hot labels."""
    if name != "accuracy":
        return name
    if math.prod(shape) == 1:
        return "binary_accuracy"
    if labels.ndim >= 2 and labels.shape[1:] == shape:
        return "categorical_accuracy"
    return "sparse_categorical_accuracy"


def _per_example(name: str, mean: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The per-example values of score ``name`` for mean predictions ``(m,
    examples, ...)``: ``(m, examples)``."""
    shape = mean.shape[2:]
    if mean.dtype != np.float64 and name not in ("accuracy", "binary_accuracy",
                                                  "categorical_accuracy",
                                                  "sparse_categorical_accuracy"):
        mean = mean.astype(np.float64)
    if name in ("accuracy", "binary_accuracy", "categorical_accuracy",
                "sparse_categorical_accuracy"):
        name = _accuracy_kind(name, shape, labels)
    if name == "binary_accuracy":
        target = _targets(labels, shape, name).astype(np.float64)
        values = (mean > 0.5) == target[None]
        return values if not shape else values.reshape(values.shape[:2] + (-1,)).mean(axis=-1)
    if name == "sparse_categorical_accuracy":
        return mean.argmax(axis=-1) == labels.reshape(labels.shape[0])[None]
    if name == "categorical_accuracy":
        return mean.argmax(axis=-1) == labels.argmax(axis=-1)[None]
    if name in ("mse", "mae"):
        error = mean - _targets(labels, shape, name).astype(np.float64)[None]
        error = error ** 2 if name == "mse" else np.abs(error)
        return error.reshape(error.shape[:2] + (-1,)).mean(axis=-1)
    if name in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        probabilities = mean / mean.sum(axis=-1, keepdims=True)
        probabilities = np.clip(probabilities, _EPSILON, 1 - _EPSILON)
        if name == "sparse_categorical_crossentropy":
            index = labels.reshape(labels.shape[0]).astype(np.int64)
            picked = np.take_along_axis(probabilities, index[None, :, None], axis=-1)[..., 0]
            return -np.log(picked)
        return -(labels[None] * np.log(probabilities)).sum(axis=-1)
    if name == "binary_crossentropy":
        target = _targets(labels, shape, name).astype(np.float64)[None]
        p = np.clip(mean, _EPSILON, 1 - _EPSILON)
        values = -(target * np.log(p) + (1 - target) * np.log(1 - p))
        return values.reshape(values.shape[:2] + (-1,)).mean(axis=-1)
    raise AssertionError(name)


_ALIASES = {"acc": "accuracy", "mean_squared_error": "mse", "mean_absolute_error": "mae"}
SCORES = ("accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
          "mse", "mae", "sparse_categorical_crossentropy", "categorical_crossentropy",
          "binary_crossentropy")


@dataclass(frozen=True)
class _Scorer:
    """A score by name (vectorised over ensembles) or a user's function."""

    name: str | None
    function: ScoreFunction | None
    higher_is_better: bool

    def __call__(self, mean: np.ndarray, labels: np.ndarray) -> np.ndarray:
        if self.function is None:
            return _per_example(self.name, mean, labels).mean(axis=1, dtype=np.float64)
        return np.array([float(self.function(one, labels)) for one in mean])


def _scorer(score, higher_is_better: bool | None) -> _Scorer:
    """``score`` (a name in ``SCORES``, with or without ``val_``, or a
    function) and its direction."""
    if callable(score):
        if higher_is_better is None:
            raise ValueError("`higher_is_better` must be True or False when `score` is a "
                             "function; received higher_is_better=None.")
        return _Scorer(getattr(score, "__name__", None), score, bool(higher_is_better))
    name = _ALIASES.get(base_name(score), base_name(score)) if isinstance(score, str) else None
    if name not in SCORES:
        raise ValueError(f"`score` must be one of {', '.join(SCORES)} or a function "
                         f"f(mean_prediction, labels) -> float; received score={score!r}.")
    direction = is_higher_better(name) if higher_is_better is None else bool(higher_is_better)
    return _Scorer(name, None, direction)


def _predictions(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "biuf" or array.ndim < 2:
        raise ValueError(f"`{name}` must be per-seed predictions shaped (seeds, examples, "
                         f"...); received an array of shape {array.shape} and dtype "
                         f"{array.dtype}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` holds NaN or infinite predictions; drop the seeds that "
                         "diverged.")
    return array


def _labels(values, examples: int) -> np.ndarray:
    labels = np.asarray(values)
    if labels.dtype.kind not in "biuf" or labels.ndim < 1 or labels.shape[0] != examples:
        raise ValueError(f"`labels` must hold one numeric label per example ({examples}); "
                         f"received an array of shape {labels.shape} and dtype "
                         f"{labels.dtype}.")
    return labels


def _mean_predictions(predictions: np.ndarray, subsets: np.ndarray) -> Any:
    """Yields the mean prediction of each subset's seeds, in batches ``(b,
    examples, ...)``: summed in float64 and cast to float32, as the sweep's
    ensemble score averages its seeds' outputs."""
    seeds, k = predictions.shape[0], subsets.shape[1]
    flat = predictions.reshape(seeds, -1).astype(np.float64)
    batch = max(1, _BATCH_FLOATS // max(flat.shape[1] * k, 1))
    for start in range(0, len(subsets), batch):
        chosen = subsets[start:start + batch]
        mean = (flat[chosen].sum(axis=1) / k).astype(np.float32)
        yield mean.reshape((len(chosen), *predictions.shape[1:]))


def ensemble_scores(predictions, labels, subsets, score="accuracy") -> np.ndarray:
    """The score of the ensemble of each row of ``subsets`` (seed indices into
    ``predictions``, shaped ``(seeds, examples, ...)``): ``score`` of the mean
    of those seeds' predictions against ``labels``. ``(len(subsets),)``.

    Example:

    >>> predictions = np.array([[[0.9, 0.1], [0.4, 0.6]],    # seed 0
    ...                         [[0.2, 0.8], [0.3, 0.7]]])   # seed 1
    >>> ensemble_scores(predictions, [0, 1], [[0], [1]]).tolist()  # each seed alone
    [1.0, 0.5]
    >>> ensemble_scores(predictions, [0, 1], [[0, 1]]).tolist()  # mean [0.55 0.45], [0.35 0.65]
    [1.0]
    """
    predictions = _predictions(predictions, "predictions")
    labels = _labels(labels, predictions.shape[1])
    scorer = _scorer(score, None if not callable(score) else True)
    subsets = _check_subsets(subsets, predictions.shape[0])
    return np.concatenate([scorer(mean, labels)
                           for mean in _mean_predictions(predictions, subsets)])


def _check_subsets(subsets, seeds: int) -> np.ndarray:
    try:
        array = np.array(subsets, dtype=np.int64)
    except (TypeError, ValueError):
        array = None
    if (array is None or array.ndim != 2 or array.size == 0 or array.min() < 0
            or array.max() >= seeds
            or any(len(set(row)) != len(row) for row in array.tolist())):
        raise ValueError(f"`subsets` must be rows of distinct seed indices in [0, {seeds}), "
                         f"all of one length; received subsets={subsets!r}.")
    return array


def k_subsets(seeds: int, k: int, n_ensembles: int = 2000,
              random_state=0) -> tuple[np.ndarray, bool]:
    """``(subsets, exact)``: every ``k``-subset of ``range(seeds)`` when there
    are at most ``n_ensembles`` (``exact`` is True), else ``n_ensembles``
    subsets of ``k`` distinct seeds drawn uniformly and independently with
    ``numpy.random.default_rng(random_state)``.

    Example:

    >>> k_subsets(4, 2)[0].tolist()
    [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    >>> subsets, exact = k_subsets(64, 5, n_ensembles=1000)
    >>> subsets.shape, exact
    ((1000, 5), False)
    """
    seeds = check_int(seeds, "seeds", minimum=1)
    k = check_int(k, "k", minimum=1, maximum=seeds,
                  constraint=f"an int between 1 and the number of seeds ({seeds})")
    n_ensembles = check_int(n_ensembles, "n_ensembles", minimum=1)
    if math.comb(seeds, k) <= n_ensembles:
        return np.array(list(itertools.combinations(range(seeds), k)), dtype=np.int64), True
    keys = np.random.default_rng(random_state).random((n_ensembles, seeds))
    # The k smallest of uniform keys: a uniform k-subset, one per row.
    return np.sort(np.argpartition(keys, k - 1, axis=1)[:, :k], axis=1), False


# ------------------------------------------------------- win probability
def _wins(signed_a: np.ndarray, signed_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per ensemble of A, the share of B's ensembles it beats (ties 1/2); per
    ensemble of B, the share of A's that beat it."""
    sorted_b, sorted_a = np.sort(signed_b), np.sort(signed_a)
    below = np.searchsorted(sorted_b, signed_a, side="left")
    tied = np.searchsorted(sorted_b, signed_a, side="right") - below
    wins_a = (below + 0.5 * tied) / signed_b.size
    below_b = np.searchsorted(sorted_a, signed_b, side="left")
    tied_b = np.searchsorted(sorted_a, signed_b, side="right") - below_b
    beaten_b = (signed_a.size - below_b - tied_b + 0.5 * tied_b) / signed_a.size
    return wins_a, beaten_b


def _leave_one_out(values: np.ndarray, subsets: np.ndarray, seeds: int) -> np.ndarray:
    """The mean of ``values`` over the subsets without each seed; NaN where
    every subset has it."""
    membership = np.zeros((len(subsets), seeds), dtype=bool)
    np.put_along_axis(membership, subsets, True, axis=1)
    without = ~membership
    counts = without.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (values @ without) / counts


def _jackknife_variance(loo: np.ndarray) -> float:
    n = loo.size
    return float((n - 1) / n * np.sum((loo - loo.mean()) ** 2))


def _logit_interval(estimate: float, variance: float, z: float) -> tuple[float, float]:
    """``logit(estimate) +- z * se / (estimate (1 - estimate))``, back on the
    probability scale (the delta method's standard error on the logit scale)."""
    half = z * math.sqrt(variance) / (estimate * (1 - estimate))
    centre = float(special.logit(estimate))
    return float(special.expit(centre - half)), float(special.expit(centre + half))


def _wilson(estimate: float, count: float, z: float) -> tuple[float, float]:
    """Wilson's score interval of a proportion ``estimate`` out of ``count``."""
    denominator = 1 + z ** 2 / count
    centre = (estimate + z ** 2 / (2 * count)) / denominator
    half = z * math.sqrt(estimate * (1 - estimate) / count + z ** 2 / (4 * count ** 2)) \
        / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def default_k(seeds_a: int, seeds_b: int) -> int:
    """The ensemble size compared when none is given: 5 seeds (an ensemble
    people ship), at most half the seeds of the smaller side (so that its
    ensembles are not all the same seeds), at least 1.

    Example:

    >>> default_k(3, 3), default_k(5, 8), default_k(10, 10), default_k(64, 30)
    (1, 2, 5, 5)
    """
    return max(1, min(5, min(seeds_a, seeds_b) // 2))


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
    names = _check_names(names)
    alpha = 1 - check_confidence_level(confidence_level)
    ranges = (float(np.ptp(a)), float(np.ptp(b)))
    stds = tuple(float(np.std(x, ddof=1)) if x.size > 1 else math.nan for x in (a, b))
    n = (int(a.size), int(b.size))
    smallest = _smallest_levene_p(*n)
    statistic = p_value = math.nan
    if min(n) >= 3 and (np.ptp(a) > 0 or np.ptp(b) > 0):
        result = stats.levene(a, b, center="median")
        statistic, p_value = float(result.statistic), float(result.pvalue)
    elif min(n) >= 3:
        statistic, p_value = 0.0, 1.0  # every seed of both scores the same
    narrow, wide = (0, 1) if ranges[0] <= ranges[1] else (1, 0)
    figures = (f"range {_g(ranges[narrow])} against {_g(ranges[wide])}, std "
               f"{_g(stds[narrow])} against {_g(stds[wide])}")
    safer = None
    if math.isnan(p_value):
        sentence = (f"As a single seed: {names[0]}'s seeds span a range of {_g(ranges[0])} and "
                    f"{names[1]}'s {_g(ranges[1])}; with {n[0]} and {n[1]} seeds there are too "
                    "few to test their spreads (3 per side at least).")
    elif p_value < alpha:
        # Spread is the mean absolute deviation from the median (what the test compares).
        deviation = [float(np.mean(np.abs(x - np.median(x)))) for x in (a, b)]
        safer = names[0] if deviation[0] < deviation[1] else names[1]
        narrow, wide = (0, 1) if safer == names[0] else (1, 0)
        figures = (f"range {_g(ranges[narrow])} against {_g(ranges[wide])}, std "
                   f"{_g(stds[narrow])} against {_g(stds[wide])}")
        sentence = (f"As a single seed, {safer} is the safer pick: its seeds spread less "
                    f"({figures}; Brown-Forsythe test of equal spreads p = {_p(p_value)}).")
    elif smallest >= alpha:
        sentence = (f"As a single seed, {names[wide]}'s seeds span a range of "
                    f"{_g(ranges[wide])} against {names[narrow]}'s {_g(ranges[narrow])} (std "
                    f"{_g(stds[wide])} against {_g(stds[narrow])}), but with {n[0]} and {n[1]} "
                    f"seeds the Brown-Forsythe test of equal spreads cannot reject at "
                    f"{alpha:g}: the smallest p it can give is {smallest:.2g}.")
    else:
        sentence = (f"As a single seed, there is no evidence that one setup's seeds spread "
                    f"less than the other's (ranges {names[0]} {_g(ranges[0])}, {names[1]} "
                    f"{_g(ranges[1])}; stds {_g(stds[0])} and {_g(stds[1])}; Brown-Forsythe "
                    f"test of equal spreads p = {_p(p_value)}).")
    return SpreadComparison(names=names, n=n, ranges=ranges, stds=stds, statistic=statistic,
                            p_value=p_value, smallest_p=smallest, alpha=alpha, safer=safer,
                            sentence=sentence)


def _g(value: float) -> str:
    return f"{value:.4g}"


def _p(value: float) -> str:
    return f"{value:.2g}"


def _scores(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float) if not isinstance(values, str) else None
    if array is None or array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` must be a non-empty 1-D sequence of finite scores, one "
                         f"per seed; received {name}={values!r}.")
    return array


def _check_names(names) -> tuple[str, str]:
    if (isinstance(names, str) or not isinstance(names, (tuple, list)) or len(names) != 2
            or not all(isinstance(n, str) for n in names) or names[0] == names[1]):
        raise ValueError(f"`names` must be two different strings (A's, B's); received "
                         f"names={names!r}.")
    return tuple(names)


@dataclass(frozen=True)
class EnsembleComparison:
    """What :func:`ensemble_comparison` found; ``str()`` gives it in words.

    Attributes:
        names: A's and B's names.
        metric: the score's name (``None`` for a function).
        higher_is_better: the score's direction.
        k: the number of seeds in each ensemble.
        n: seeds per side.
        probability: P(a k-seed ensemble of A scores better than one of B),
            ties counting 1/2, over both setups' seeds, on this evaluation
            set: the mean over every pair of A's and B's k-subsets.
        probability_ci: its interval at ``confidence_level``
            (:func:`win_probability`: the jackknife over seeds, on the logit
            scale); ``(nan, nan)`` when a side has fewer than 3 seeds or no
            more than ``k`` (the jackknife needs ensembles without each seed).
        confidence_level: the interval's level.
        better: the name of the setup whose k-seed ensemble is better when
            the interval excludes 1/2; else ``None``.
        exact: whether every k-subset of each side was scored (else
            ``ensembles`` random ones).
        ensembles: k-subsets scored per side.
        mean_scores: the mean score of a k-seed ensemble of A, of B.
        full_scores: the score of the ensemble of all of A's seeds, of B's.
        spread: :func:`compare_spreads` of the single seeds' scores (with
            its own ``sentence``).
        sentence: the ensembles' finding in words; ``str()`` gives it with
            the spread's sentence after it.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 2, 100)
    >>> result = ensemble_comparison(rng.random((6, 100)), rng.random((6, 100)), labels, k=3)
    >>> saved = result.to_dict()  # JSON-ready, the spread test nested
    >>> saved["k"], saved["n"], sorted(saved["spread"])[:3]
    (3, (6, 6), ['alpha', 'n', 'names'])
    """

    names: tuple[str, str]
    metric: str | None
    higher_is_better: bool
    k: int
    n: tuple[int, int]
    probability: float
    probability_ci: tuple[float, float]
    confidence_level: float
    better: str | None
    exact: bool
    ensembles: tuple[int, int]
    mean_scores: tuple[float, float]
    full_scores: tuple[float, float]
    spread: SpreadComparison
    sentence: str

    def __str__(self) -> str:
        return f"{self.sentence} {self.spread.sentence}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def win_probability(scores_a, subsets_a, scores_b, subsets_b, seeds: tuple[int, int], *,
                    higher_is_better: bool = True,
                    confidence_level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """P(an ensemble of A scores better than one of B), ties 1/2, and its
    interval, from the scores of A's ensembles (``scores_a``, one per row of
    ``subsets_a``, seed indices in ``range(seeds[0])``) and B's.

    The estimate is the mean of the pairwise comparisons (a two-sample
    U-statistic). Its interval is the jackknife over seeds: leaving seed i
    out keeps the ensembles without it, and the spread of those estimates
    gives the variance; the interval is ``logit(p) +- z se / (p (1 - p))``.
    When every ensemble of one side beats every one of the other (p is 0 or
    1), no seed left out changes anything and the jackknife has nothing to
    go on: the interval is then Wilson's for a proportion of 0 or 1 out of
    ``min(seeds)`` trials. NaN when a side has fewer than 3 seeds, or no
    ensemble without some seed.

    Example: single seeds (k = 1), where it is the Mann-Whitney probability
    (13.5 of the 16 pairs favour A):

    >>> a, b = np.array([0.90, 0.93, 0.95, 0.96]), np.array([0.91, 0.92, 0.90, 0.89])
    >>> singles = k_subsets(4, 1)[0]
    >>> p, interval = win_probability(a, singles, b, singles, (4, 4))
    >>> p, [round(x, 2) for x in interval]
    (0.84375, [0.31, 0.98])
    """
    confidence_level = check_confidence_level(confidence_level)
    sign = 1.0 if higher_is_better else -1.0
    signed_a, signed_b = sign * np.asarray(scores_a, float), sign * np.asarray(scores_b, float)
    wins_a, beaten_b = _wins(signed_a, signed_b)
    estimate = float(wins_a.mean())
    nan = (math.nan, math.nan)
    if min(seeds) < 3:
        return estimate, nan
    loo_a = _leave_one_out(wins_a, np.asarray(subsets_a), seeds[0])
    loo_b = _leave_one_out(beaten_b, np.asarray(subsets_b), seeds[1])
    if np.isnan(loo_a).any() or np.isnan(loo_b).any():
        return estimate, nan
    variance = _jackknife_variance(loo_a) + _jackknife_variance(loo_b)
    z = float(stats.norm.ppf(0.5 + confidence_level / 2))
    if 0 < estimate < 1 and variance > 0:
        return estimate, _logit_interval(estimate, variance, z)
    return estimate, _wilson(estimate, min(seeds), z)


def ensemble_comparison(predictions_a, predictions_b, labels, k: int | None = None, *,
                        score="accuracy", higher_is_better: bool | None = None,
                        names: tuple[str, str] = ("A", "B"), n_ensembles: int = 2000,
                        confidence_level: float = 0.95,
                        random_state=0) -> EnsembleComparison:
    """Which setup to ship as an ensemble, and which as a single seed, with
    their uncertainty.

    Args:
        predictions_a, predictions_b: each seed's predictions on one
            evaluation set, ``(seeds, examples, ...)`` (what a sweep keeps
            with ``ensemble=True``), as the model outputs them.
        labels: the evaluation set's labels, one per example.
        k: seeds per ensemble (default :func:`default_k`).
        score: the metric of an ensemble's mean prediction: a name in
            ``SCORES`` (``"accuracy"`` resolves as Keras does: binary for
            one output, sparse for integer labels, categorical for one-hot
            ones), or a function ``f(mean_prediction, labels) -> float``.
        higher_is_better: the score's direction (default from its name;
            required with a function).
        names: A's and B's names, for the sentences.
        n_ensembles: at most this many k-subsets per side (every one when
            there are no more; else random ones).
        confidence_level: the interval's level; the spread test's alpha is
            one minus it.
        random_state: seeds the choice of k-subsets.

    Returns:
        :class:`EnsembleComparison`: P(A's k-seed ensemble scores better
        than B's) with its interval (:func:`win_probability`), and
        :func:`compare_spreads` of the single seeds' scores (computed from
        the same predictions with the same score).

    Example: a setup whose seeds disagree more gains more from ensembling
    (each seed's probability of class 1 on 300 examples, one output).

    >>> rng = np.random.default_rng(1)
    >>> labels, difficulty = rng.integers(0, 2, 300), rng.normal(0, 1.5, 300)
    >>> def sweep(seeds, base, noise):
    ...     margin = (base + rng.normal(0, 0.15, (seeds, 1)) - difficulty
    ...               + rng.normal(0, noise, (seeds, 300)))
    ...     right = 1 / (1 + np.exp(-margin))  # the probability of the right class
    ...     return np.where(labels == 1, right, 1 - right)
    >>> result = ensemble_comparison(sweep(20, 2.0, 1.6), sweep(20, 1.7, 1.0), labels, k=5,
    ...                              names=("diverse", "steady"))
    >>> result.better, result.exact, result.ensembles
    ('diverse', False, (2000, 2000))
    >>> print(result)  # doctest: +NORMALIZE_WHITESPACE
    A 5-seed ensemble of diverse scores a better accuracy than one of steady with
    probability 0.93 (95% CI 0.69-0.99; 2000 random 5-seed ensembles per side of 20 and 20
    seeds; mean ensemble accuracy 0.9173 against 0.8949). As a single seed, there is no
    evidence that one setup's seeds spread less than the other's (ranges diverse 0.07667,
    steady 0.08; stds 0.02188 and 0.02385; Brown-Forsythe test of equal spreads p = 0.69).
    """
    predictions_a = _predictions(predictions_a, "predictions_a")
    predictions_b = _predictions(predictions_b, "predictions_b")
    if predictions_a.shape[1:] != predictions_b.shape[1:]:
        raise ValueError("`predictions_a` and `predictions_b` must be predictions on the same "
                         f"examples, of one shape per example; received shapes "
                         f"{predictions_a.shape} and {predictions_b.shape}.")
    labels = _labels(labels, predictions_a.shape[1])
    scorer = _scorer(score, higher_is_better)
    names = _check_names(names)
    confidence_level = check_confidence_level(confidence_level)
    seeds = (predictions_a.shape[0], predictions_b.shape[0])
    if k is None:
        k = default_k(*seeds)
    k = check_int(k, "k", minimum=1, maximum=min(seeds),
                  constraint=f"an int between 1 and the seeds of the smaller side "
                             f"({min(seeds)})")
    subsets = [k_subsets(n, k, n_ensembles, [random_state, side] if isinstance(
        random_state, int) else random_state)[0] for side, n in enumerate(seeds)]
    exact = all(math.comb(n, k) <= n_ensembles for n in seeds)
    scored = [np.concatenate([scorer(mean, labels) for mean in _mean_predictions(p, s)])
              for p, s in zip((predictions_a, predictions_b), subsets)]
    probability, interval = win_probability(
        scored[0], subsets[0], scored[1], subsets[1], seeds,
        higher_is_better=scorer.higher_is_better, confidence_level=confidence_level)
    singles = [np.concatenate([scorer(mean, labels) for mean in _mean_predictions(
        p, np.arange(n)[:, None])]) for p, n in zip((predictions_a, predictions_b), seeds)]
    full = tuple(float(scorer(next(_mean_predictions(p, np.arange(n)[None])), labels)[0])
                 for p, n in zip((predictions_a, predictions_b), seeds))
    spread = compare_spreads(singles[0], singles[1], names=names,
                             confidence_level=confidence_level)
    better = (names[0] if interval[0] > 0.5 else names[1] if interval[1] < 0.5 else None)
    mean_scores = (float(np.mean(scored[0])), float(np.mean(scored[1])))
    metric = scorer.name
    sentence = _ensemble_sentence(names, metric or "score", k, seeds, probability, interval,
                                  confidence_level, exact, [len(s) for s in subsets],
                                  mean_scores)
    return EnsembleComparison(
        names=names, metric=metric, higher_is_better=scorer.higher_is_better, k=k, n=seeds,
        probability=probability, probability_ci=interval, confidence_level=confidence_level,
        better=better, exact=exact, ensembles=(len(subsets[0]), len(subsets[1])),
        mean_scores=mean_scores, full_scores=full, spread=spread, sentence=sentence)


def _ensemble_sentence(names, what, k, seeds, probability, interval, confidence_level, exact,
                       counts, mean_scores) -> str:
    first, second, p, (low, high) = names[0], names[1], probability, interval
    if probability < 0.5:
        first, second, p, (low, high) = names[1], names[0], 1 - probability, (1 - high, 1 - low)
        mean_scores = mean_scores[::-1]
    if exact:
        ensembles = (f"all {counts[0]} {k}-seed ensembles" if counts[0] == counts[1]
                     else f"all {counts[0]} and {counts[1]} {k}-seed ensembles")
    else:
        ensembles = (f"{counts[0]} random {k}-seed ensembles per side" if counts[0] == counts[1]
                     else f"{counts[0]} and {counts[1]} {k}-seed ensembles (random ones where "
                          "there are more)")
    sources = (f"{ensembles} of {seeds[0]} and {seeds[1]} seeds; mean ensemble {what} "
               f"{_g(mean_scores[0])} against {_g(mean_scores[1])}")
    head = (f"A {k}-seed ensemble of {first} scores a better {what} than one of {second} "
            f"with probability {p:.2f}")
    level = f"{confidence_level:.0%} CI"
    if math.isnan(low):
        need = max(3, k + 1)
        return (f"{head} ({sources}); no interval: each side needs at least {need} seeds "
                f"for one (the jackknife leaves one seed out).")
    if low > 0.5:
        return f"{head} ({level} {low:.2f}-{high:.2f}; {sources})."
    return (f"{head} ({level} {low:.2f}-{high:.2f}, which includes 0.50: no evidence that "
            f"either setup's ensemble is better; {sources}).")


@dataclass(frozen=True)
class EnsemblePoints:
    """The validation and test scores of many k-seed ensembles of one setup
    (:func:`ensemble_points`), and of its single seeds: the points of
    :func:`keras_seeds.statistics.plots.ensembles_val_vs_test`.

    Attributes:
        k: seeds per ensemble.
        metric: the score's name (``None`` for a function).
        higher_is_better: the score's direction.
        seeds: the seeds, ``(n,)``.
        subsets: each ensemble's members, as indices into ``seeds``, ``(m, k)``.
        validation, test: each ensemble's score on either split, ``(m,)``.
        single_validation, single_test: each seed's own score, ``(n,)``.
        exact: whether ``subsets`` are every k-subset of the seeds.

    Example: see :func:`ensemble_points`, which makes them and calls ``plot``.
    """

    k: int
    metric: str | None
    higher_is_better: bool
    seeds: np.ndarray
    subsets: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    single_validation: np.ndarray
    single_test: np.ndarray
    exact: bool

    def plot(self, path=None):
        """:func:`keras_seeds.statistics.plots.ensembles_val_vs_test` of these
        points, written as a PNG to ``path`` when given; returns the figure."""
        from keras_seeds.statistics import plots

        return plots.save(plots.ensembles_val_vs_test(
            self.validation, self.test, k=self.k, single_validation=self.single_validation,
            single_test=self.single_test, metric=self.metric), path)


def ensemble_points(predictions, labels, test_predictions, test_labels, k: int, *,
                    score="accuracy", higher_is_better: bool | None = None, seeds=None,
                    n_ensembles: int = 200, random_state=0) -> EnsemblePoints:
    """Validation and test scores of k-seed ensembles of one setup (every
    k-subset of its seeds when there are at most ``n_ensembles``, else that
    many random ones), and of each single seed: does an ensemble that looks
    good on validation stay good on test?

    ``predictions`` and ``test_predictions`` are each seed's predictions on
    either split, ``(seeds, examples, ...)``, the same seeds in the same
    order; ``score`` and ``higher_is_better`` as in :func:`ensemble_comparison`.

    Example:

    >>> rng = np.random.default_rng(1)
    >>> labels, test_labels = rng.integers(0, 3, 50), rng.integers(0, 3, 80)
    >>> points = ensemble_points(rng.dirichlet([1, 1, 1], (6, 50)), labels,
    ...                          rng.dirichlet([1, 1, 1], (6, 80)), test_labels, k=3)
    >>> points.subsets.shape, points.exact, points.single_test.shape
    ((20, 3), True, (6,))
    >>> figure = points.plot()  # the validation-vs-test scatter, one dot per ensemble
    """
    predictions = _predictions(predictions, "predictions")
    test_predictions = _predictions(test_predictions, "test_predictions")
    if test_predictions.shape[0] != predictions.shape[0]:
        raise ValueError(f"`test_predictions` must hold the same seeds as `predictions` "
                         f"({predictions.shape[0]}); received {test_predictions.shape[0]}.")
    labels = _labels(labels, predictions.shape[1])
    try:
        test_labels = _labels(test_labels, test_predictions.shape[1])
    except ValueError as error:
        raise ValueError(str(error).replace("`labels`", "`test_labels`", 1)) from None
    scorer = _scorer(score, higher_is_better)
    n = predictions.shape[0]
    seeds = np.arange(n) if seeds is None else np.asarray(seeds, dtype=np.int64)
    if seeds.shape != (n,):
        raise ValueError(f"`seeds` must name the {n} seeds of `predictions`; received "
                         f"seeds={seeds.tolist()!r}.")
    subsets, exact = k_subsets(n, k, n_ensembles, random_state)
    singles = np.arange(n)[:, None]

    def scored(values, truth, chosen):
        return np.concatenate([scorer(mean, truth) for mean in _mean_predictions(values,
                                                                                  chosen)])

    return EnsemblePoints(
        k=subsets.shape[1], metric=scorer.name, higher_is_better=scorer.higher_is_better,
        seeds=seeds, subsets=subsets, validation=scored(predictions, labels, subsets),
        test=scored(test_predictions, test_labels, subsets),
        single_validation=scored(predictions, labels, singles),
        single_test=scored(test_predictions, test_labels, singles), exact=exact)


# ------------------------------------------------------------ from a store
# Keras loss classes, by the name of the per-example function scored here.
_LOSS_CLASSES = {"MeanSquaredError": "mse", "MeanAbsoluteError": "mae",
                 "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
                 "CategoricalCrossentropy": "categorical_crossentropy",
                 "BinaryCrossentropy": "binary_crossentropy"}


def _stored_score(definition: dict) -> str | None:
    """The name in ``SCORES`` of a stored configuration's metric, or ``None``
    when there is none here (a custom metric, a loss on logits)."""
    metric = definition.get("metric")
    if metric is None:
        return None
    name = _ALIASES.get(base_name(metric), base_name(metric))
    if name == "loss":
        loss = (definition.get("compile") or {}).get("loss")
        if isinstance(loss, dict):
            config = loss.get("config") or {}
            if config.get("from_logits") or config.get("label_smoothing"):
                return None
            loss = _LOSS_CLASSES.get(loss.get("class_name"))
        name = _ALIASES.get(loss, loss) if isinstance(loss, str) else None
    return name if name in SCORES else None


def _from_store(store, key: str, split: str, score, higher_is_better, check: bool):
    """``(seeds, predictions, labels, scorer)`` of configuration ``key`` on
    ``split``; with ``check``, the scorer must reproduce the ensemble score the
    sweep recorded for all its seeds."""
    from keras_seeds.sweeps.store import StoreError

    info = store.configs()[key]
    name = info["name"]
    done = {run.seed for run in store.runs(key) if run.status == "done"}
    kept = {seed: array for seed, array in store.predictions(key, split).items()
            if seed in done}
    if not kept:
        raise StoreError(
            f"`config`: {name!r} in '{store.path}' has no {split} predictions kept; run its "
            "sweep with ensemble=True" + (" and a test split" if split == "test" else "")
            + " (the default keeps validation predictions).")
    labels = store.labels(key, split)
    if labels is None:
        raise StoreError(f"`config`: {name!r} in '{store.path}' has no {split} labels kept "
                         "(a store written before they were); sweep it again, or compare "
                         "the predictions with ensemble_comparison(..., labels=...).")
    seeds = np.array(sorted(kept), dtype=np.int64)
    predictions = np.stack([kept[seed] for seed in seeds.tolist()])
    definition = info["definition"]
    if score is None:
        score = _stored_score(definition)
        if score is None:
            raise ValueError(
                f"`score`: {name!r} is scored by {definition.get('metric')!r}, which has no "
                f"NumPy form here; pass score=a function f(mean_prediction, labels) -> float "
                f"(and higher_is_better).")
        if higher_is_better is None:
            higher_is_better = definition.get("higher_is_better")
    scorer = _scorer(score, higher_is_better)
    recorded = store.ensemble(key)
    metric = definition.get("metric")
    if (check and split == "validation" and recorded is not None
            and recorded[0] == seeds.tolist() and metric in recorded[1]):
        mine = float(scorer(next(_mean_predictions(predictions, np.arange(len(seeds))[None])),
                            labels)[0])
        if not math.isclose(mine, recorded[1][metric], rel_tol=1e-4, abs_tol=1e-6):
            raise ValueError(
                f"`score`: {scorer.name or 'the score'} of the mean prediction of {name!r}'s "
                f"{len(seeds)} seeds is {mine:.6g}, but its sweep scored that ensemble "
                f"{recorded[1][metric]:.6g} ({metric}); pass score=a function "
                "f(mean_prediction, labels) -> float that computes the metric.")
    return seeds, predictions, labels, scorer


def ensemble_comparison_from_store(path, config_a: str, config_b: str, k: int | None = None,
                                   *, split: str = "validation", score=None,
                                   higher_is_better: bool | None = None,
                                   n_ensembles: int = 2000, confidence_level: float = 0.95,
                                   random_state=0) -> EnsembleComparison:
    """:func:`ensemble_comparison` of two configurations of a seed store
    (names or hashes), from the predictions and labels their sweeps kept
    (``ensemble=True``, the default) on ``split`` (``"validation"``, or
    ``"test"`` when the sweep had a test split). Their finished seeds are
    used. The score is the configuration's metric
    (``SeedStudy.from_store(...).metric``) when it has a NumPy form in
    ``SCORES`` (an accuracy, MSE, MAE, or a cross-entropy loss on
    probabilities), checked against the ensemble score the sweep recorded;
    else pass ``score=`` a function.

    Example:

    >>> import os, tempfile
    >>> from keras_seeds.sweeps.store import SeedRun, SeedStore, array_bytes
    >>> store = SeedStore(os.path.join(tempfile.mkdtemp(), "seeds.db"))
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 2, 200)
    >>> for name, noise in (("diverse", 2.0), ("steady", 0.5)):
    ...     key = store.add_config({"metric": "accuracy", "noise": noise}, name=name)
    ...     store.set_labels(key, "validation", labels)
    ...     p = 1 / (1 + np.exp(-(0.8 + rng.normal(0, noise, (6, 200)))))
    ...     p = np.where(labels == 1, p, 1 - p)[..., None]  # one sigmoid output
    ...     _ = store.write(key, [SeedRun(s, "done", score=float(np.mean(
    ...         (p[s, :, 0] > 0.5) == labels)), outputs=array_bytes(p[s])) for s in range(6)])
    >>> result = ensemble_comparison_from_store(store.path, "diverse", "steady", k=3)
    >>> result.names, result.metric, result.n, result.ensembles
    (('diverse', 'steady'), 'accuracy', (6, 6), (20, 20))
    """
    from keras_seeds.sweeps.store import SeedStore, StoreError

    if split not in ("validation", "test"):
        raise ValueError(f"`split` must be 'validation' or 'test'; received split={split!r}.")
    store = SeedStore(path, create=False)
    keys = [store.find_config(config) for config in (config_a, config_b)]
    if keys[0] == keys[1]:
        raise ValueError(f"`config_a` and `config_b` name the same configuration "
                         f"({config_a!r}, {config_b!r}); compare two.")
    names = tuple(store.configs()[key]["name"] for key in keys)
    read = [_from_store(store, key, split, score, higher_is_better, True) for key in keys]
    (_, predictions_a, labels_a, scorer_a), (_, predictions_b, labels_b, scorer_b) = read
    if labels_a.shape != labels_b.shape or not np.array_equal(labels_a, labels_b):
        raise StoreError(f"`config_b`: {names[0]!r} and {names[1]!r} were evaluated on "
                         f"different {split} examples; their ensembles cannot be compared.")
    if (scorer_a.name, scorer_a.higher_is_better) != (scorer_b.name, scorer_b.higher_is_better):
        raise ValueError(f"`config_b`: {names[0]!r} is scored by {scorer_a.name!r} and "
                         f"{names[1]!r} by {scorer_b.name!r}; compare one metric.")
    return ensemble_comparison(
        predictions_a, predictions_b, labels_a, k,
        score=scorer_a.function or scorer_a.name, higher_is_better=scorer_a.higher_is_better,
        names=names, n_ensembles=n_ensembles, confidence_level=confidence_level,
        random_state=random_state)


def ensemble_points_from_store(path, config: str | None = None, k: int = 5, *, score=None,
                               higher_is_better: bool | None = None, n_ensembles: int = 200,
                               random_state=0) -> EnsemblePoints:
    """:func:`ensemble_points` of a configuration of a seed store, from the
    validation and test predictions its sweep kept (``ensemble=True`` and a
    test split): the finished seeds with both, and the configuration's
    metric as in :func:`ensemble_comparison_from_store`.

    Example (a store as a sweep with a test split leaves it):

    >>> import os, tempfile
    >>> from keras_seeds.sweeps.store import SeedRun, SeedStore, array_bytes
    >>> store = SeedStore(os.path.join(tempfile.mkdtemp(), "seeds.db"))
    >>> key = store.add_config({"metric": "accuracy"}, name="mlp")
    >>> rng = np.random.default_rng(0)
    >>> for split, examples in (("validation", 40), ("test", 60)):
    ...     store.set_labels(key, split, rng.integers(0, 3, examples))
    >>> _ = store.write(key, [SeedRun(seed, "done", score=0.5,
    ...                               outputs=array_bytes(rng.dirichlet([1, 1, 1], 40)),
    ...                               test_outputs=array_bytes(rng.dirichlet([1, 1, 1], 60)))
    ...                       for seed in (3, 5, 8, 13)])
    >>> points = ensemble_points_from_store(store.path, "mlp", k=2)
    >>> points.seeds.tolist(), points.subsets.shape, points.test.shape
    ([3, 5, 8, 13], (6, 2), (6,))
    """
    from keras_seeds.sweeps.store import SeedStore

    store = SeedStore(path, create=False)
    key = store.only_config() if config is None else store.find_config(config)
    seeds, predictions, labels, scorer = _from_store(store, key, "validation", score,
                                                     higher_is_better, True)
    test_seeds, test_predictions, test_labels, _ = _from_store(store, key, "test", score,
                                                               higher_is_better, False)
    both = np.intersect1d(seeds, test_seeds)
    return ensemble_points(
        predictions[np.isin(seeds, both)], labels, test_predictions[np.isin(test_seeds, both)],
        test_labels, k, score=scorer.function or scorer.name,
        higher_is_better=scorer.higher_is_better, seeds=both, n_ensembles=n_ensembles,
        random_state=random_state)
