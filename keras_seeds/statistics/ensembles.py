"""ensembles: which setup to ship, with its uncertainty.

The practitioner's rule: ship the setup whose *ensemble* of seeds scores best,
or, to ship a single seed, the setup whose seeds spread least. This module
gives both halves their uncertainty:

- :func:`ensemble_comparison`: P(a k-seed ensemble of A scores better than
  one of B), from each seed's stored predictions, with an interval;
- :func:`compare_spreads` (:mod:`keras_seeds.statistics.spreads`): which
  setup's seeds spread less, with the Brown-Forsythe test of equal spreads
  (``scipy.stats.levene`` centred on the median) and the ranges;
- :func:`ensemble_points`: the validation and test scores of many k-seed
  ensembles, for the plot practitioners draw
  (:func:`keras_seeds.statistics.plots.ensembles_val_vs_test`);
- :func:`ensemble_comparison_from_store`, :func:`ensemble_points_from_store`:
  the same, from the predictions and labels a seed store kept.

**How an ensemble is scored** is
:mod:`keras_seeds.statistics.ensemble_scoring` (:func:`ensemble_scores`,
:func:`k_subsets`): its members' outputs are averaged example by example, and
the metric is applied to that mean prediction against the labels.

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

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from keras_seeds._validation import check_int
from keras_seeds.statistics.ensemble_scoring import (  # noqa: F401 (re-exported: public path)
    SCORE_ALIASES,
    SCORES,
    ScoreFunction,
    check_labels,
    check_predictions,
    ensemble_scores,
    k_subsets,
    make_scorer,
    mean_predictions,
)
from keras_seeds.statistics.functions import check_confidence_level
from keras_seeds.statistics.metric_names import base_name
from keras_seeds.statistics.spreads import (
    SpreadComparison,
    check_names,
    compare_spreads,
    four_digits,
)


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
    predictions_a = check_predictions(predictions_a, "predictions_a")
    predictions_b = check_predictions(predictions_b, "predictions_b")
    if predictions_a.shape[1:] != predictions_b.shape[1:]:
        raise ValueError("`predictions_a` and `predictions_b` must be predictions on the same "
                         f"examples, of one shape per example; received shapes "
                         f"{predictions_a.shape} and {predictions_b.shape}.")
    labels = check_labels(labels, predictions_a.shape[1])
    scorer = make_scorer(score, higher_is_better)
    names = check_names(names)
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
    scored = [np.concatenate([scorer(mean, labels) for mean in mean_predictions(p, s)])
              for p, s in zip((predictions_a, predictions_b), subsets)]
    probability, interval = win_probability(
        scored[0], subsets[0], scored[1], subsets[1], seeds,
        higher_is_better=scorer.higher_is_better, confidence_level=confidence_level)
    singles = [np.concatenate([scorer(mean, labels) for mean in mean_predictions(
        p, np.arange(n)[:, None])]) for p, n in zip((predictions_a, predictions_b), seeds)]
    full = tuple(float(scorer(next(mean_predictions(p, np.arange(n)[None])), labels)[0])
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
               f"{four_digits(mean_scores[0])} against {four_digits(mean_scores[1])}")
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
    predictions = check_predictions(predictions, "predictions")
    test_predictions = check_predictions(test_predictions, "test_predictions")
    if test_predictions.shape[0] != predictions.shape[0]:
        raise ValueError(f"`test_predictions` must hold the same seeds as `predictions` "
                         f"({predictions.shape[0]}); received {test_predictions.shape[0]}.")
    labels = check_labels(labels, predictions.shape[1])
    try:
        test_labels = check_labels(test_labels, test_predictions.shape[1])
    except ValueError as error:
        raise ValueError(str(error).replace("`labels`", "`test_labels`", 1)) from None
    scorer = make_scorer(score, higher_is_better)
    n = predictions.shape[0]
    seeds = np.arange(n) if seeds is None else np.asarray(seeds, dtype=np.int64)
    if seeds.shape != (n,):
        raise ValueError(f"`seeds` must name the {n} seeds of `predictions`; received "
                         f"seeds={seeds.tolist()!r}.")
    subsets, exact = k_subsets(n, k, n_ensembles, random_state)
    singles = np.arange(n)[:, None]

    def scored(values, truth, chosen):
        return np.concatenate([scorer(mean, truth) for mean in mean_predictions(values,
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
    name = SCORE_ALIASES.get(base_name(metric), base_name(metric))
    if name == "loss":
        loss = (definition.get("compile") or {}).get("loss")
        if isinstance(loss, dict):
            config = loss.get("config") or {}
            if config.get("from_logits") or config.get("label_smoothing"):
                return None
            loss = _LOSS_CLASSES.get(loss.get("class_name"))
        name = SCORE_ALIASES.get(loss, loss) if isinstance(loss, str) else None
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
    scorer = make_scorer(score, higher_is_better)
    recorded = store.ensemble(key)
    metric = definition.get("metric")
    if (check and split == "validation" and recorded is not None
            and recorded[0] == seeds.tolist() and metric in recorded[1]):
        mine = float(scorer(next(mean_predictions(predictions, np.arange(len(seeds))[None])),
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
    store = SeedStore.of(path)
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

    store = SeedStore.of(path)
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
