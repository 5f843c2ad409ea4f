"""compare: does setup A beat setup B beyond seed noise?

One test decides (the Mann-Whitney test; paired, the exact Wilcoxon
signed-rank test), and the effect comes with the interval that goes with it,
each at the level it holds with the seeds at hand (:class:`Comparison`).
Imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from keras_seeds.statistics import functions as statistics
from keras_seeds.statistics.ensembles import EnsembleComparison, compare_spreads
from keras_seeds.statistics.study import SeedStudy

# Beyond this many seeds per side a verdict says the gap is too small to settle.
_PRACTICAL_SEEDS = 100_000
# Scores closer than this (relative to the largest) tie when paired: float32
# scores, as Keras reports them, carry about 7 digits, so equal gains in
# accuracy differ in the 8th.
SCORE_RESOLUTION = 1e-6


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found; ``str()`` gives the verdict in plain words.

    Example:

    >>> result = compare([0.93, 0.94, 0.95, 0.94], [0.90, 0.91, 0.90, 0.89])
    >>> result.winner, result.probability, result.n, round(result.p_value, 4)
    ('A', 1.0, (4, 4), 0.0286)
    >>> import json
    >>> saved = json.loads(json.dumps(result.to_dict()))  # JSON-ready: for a results file
    >>> saved["winner"], saved["n"]
    ('A', [4, 4])

    Attributes:
        probability: P(a random seed of A scores better than one of B), ties 1/2.
        probability_ci: its interval at ``confidence_level``: the score
            interval under the largest variance its estimate can have
            (:func:`keras_seeds.statistics.improvement_interval`), which holds
            from 3 seeds per side.
        mean_difference: mean of A minus mean of B, in the metric's units.
        mean_difference_ci: its Welch t interval at ``confidence_level``
            (:func:`keras_seeds.statistics.welch_interval`); NaN with fewer than
            2 seeds on a side.
        p_value: two-sided Mann-Whitney U test (exact, or a permutation test
            when scores tie: :func:`keras_seeds.statistics.mann_whitney_p`).
        winner: ``"A"``'s or ``"B"``'s name when the test rejects equal setups
            at ``1 - confidence_level`` (the test alone decides), else ``None``.
        seeds_to_settle: without a winner, the seeds per side (pairs when
            paired) with which the test finds a true gap the size of the
            observed one with probability ``power``, for normal scores that
            spread as these do (:func:`keras_seeds.statistics.seeds_to_detect`,
            :func:`~keras_seeds.statistics.pairs_to_detect`); ``None`` with no
            gap.
        smallest_p: the smallest p the test can give with these seeds,
            whatever the scores (``2 / C(n_a + n_b, n_a)``; paired ``2^(1-m)``
            for ``m`` non-zero differences). When it is not below ``1 -
            confidence_level`` no verdict is possible and the verdict says so.
        fewest_to_reject: the fewest seeds per side (shared seeds, with no
            tie, when paired) with which the test can reject at all.
        paired: whether A and B were compared seed by seed (``paired=True``);
            then ``probability`` is the share of shared seeds on which A is
            better (ties 1/2), with an exact interval
            (:func:`keras_seeds.statistics.win_rate_interval`), and the
            verdict gives it as a count; ``better_on`` the seeds on which A
            is better, ties, and B better; ``p_value`` is the exact
            Wilcoxon signed-rank test's (:func:`keras_seeds.statistics.wilcoxon_p`);
            ``mean_difference_ci`` the t interval of the mean gain; ``n`` the
            shared seeds twice; ``median_difference`` the Hodges-Lehmann
            estimate of the gain, with the interval that goes with the
            signed-rank test (:func:`keras_seeds.statistics.hodges_lehmann`)
            at ``median_difference_level``.
        median_difference_level: the level of ``median_difference_ci``:
            ``confidence_level``, or below 6 pairs (at 95%) the level of the
            widest interval the pairs allow, ``1 - 2^(1-n)`` (0.75 at 3).
        advice: when both studies have an ensemble score, which setup has the
            higher ensemble score and which the smaller seed range (the one
            to ship as an ensemble, the one to ship as a single seed); it ends
            the verdict.
    """

    names: tuple[str, str]
    metric: str | None
    higher_is_better: bool
    n: tuple[int, int]
    probability: float
    probability_ci: tuple[float, float]
    mean_difference: float
    mean_difference_ci: tuple[float, float]
    p_value: float
    confidence_level: float
    winner: str | None
    seeds_to_settle: int | None
    verdict: str
    smallest_p: float = 0.0
    fewest_to_reject: int = 0
    paired: bool = False
    better_on: tuple[int, int, int] | None = None
    median_difference: float | None = None
    median_difference_ci: tuple[float, float] | None = None
    median_difference_level: float | None = None
    advice: str | None = None

    def __str__(self) -> str:
        return self.verdict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(a, b, *, names: tuple[str, str] | None = None, paired: bool = False,
            confidence_level: float = 0.95, n_resamples: int = 9999, random_state=0,
            power: float = 0.8, ensembles=None) -> Comparison:
    """Does setup A beat setup B beyond seed noise?

    ``a`` and ``b`` are :class:`SeedStudy` objects (or arrays of scores, then
    higher is better). One test decides: A *beats* B when the two-sided
    Mann-Whitney test rejects equal setups at ``1 - confidence_level``
    (:func:`keras_seeds.statistics.mann_whitney_p`, exact or a permutation
    test with ties, ``n_resamples`` drawn with ``random_state`` when there are
    more arrangements). The effect comes with it: P(a random seed of A beats
    one of B) (the Mann-Whitney U statistic over ``n_a * n_b``, ties 1/2) and
    the gap in the means, each with an interval that holds its level from 3
    seeds per side. Without a rejection the verdict says there is *no
    evidence of a difference beyond seed noise* (not evidence of equality),
    and how many seeds per side would give ``power`` against a true gap the
    size of the observed one (:func:`keras_seeds.statistics.seeds_to_detect`).
    With so few seeds that the test cannot reject whatever the scores (3
    against 3 at 95%: p >= 0.1), it says that instead of a verdict, with the
    smallest attainable p and the fewest seeds that can reject.

    With ``paired=True`` (two setups trained on the same seeds: same initial
    weights, data order and noise for each seed) the seeds both studies have
    are compared seed by seed, which removes the seed's own luck from the gap
    and needs far fewer seeds. The exact Wilcoxon signed-rank test decides
    (:func:`keras_seeds.statistics.wilcoxon_p`: midranks for tied gains, as
    accuracies on a finite set always have; it needs 6 shared seeds to reach
    95% at all), the gain is its Hodges-Lehmann estimate with the interval
    that goes with that test, labelled with the level it has (below 6 seeds
    the widest possible interval has less than 95%:
    :func:`keras_seeds.statistics.hodges_lehmann`), and the verdict counts the
    seeds on which A is better.

    When both studies have an ensemble score, the verdict ends with what to
    ship: the setup whose seeds spread less, for a single seed (the
    Brown-Forsythe test of equal spreads,
    :func:`keras_seeds.statistics.ensembles.compare_spreads`), and the setup
    whose ensemble scores better, as point values; pass ``ensembles=`` (an
    :class:`~keras_seeds.statistics.ensembles.EnsembleComparison`, from
    :func:`~keras_seeds.statistics.ensembles.ensemble_comparison_from_store`)
    for P(A's k-seed ensemble beats B's) with its interval instead.

    Example:

    >>> import keras_seeds as ks
    >>> base = ks.SeedStudy([0.90, 0.91, 0.92, 0.90, 0.91], name="base")
    >>> new = ks.SeedStudy([0.93, 0.94, 0.93, 0.95, 0.94], name="new")
    >>> ks.compare(new, base).winner
    'new'
    >>> print(ks.compare(base, ks.SeedStudy([0.91, 0.90, 0.92, 0.91, 0.90])).verdict)
    ... # doctest: +ELLIPSIS
    No evidence of a difference between base and B beyond seed noise with 5 and 5 seeds ...
    """
    a, b = _as_study(a, "a"), _as_study(b, "b")
    if a.higher_is_better != b.higher_is_better:
        raise ValueError("`a` and `b` disagree on `higher_is_better` "
                         f"({a.higher_is_better} and {b.higher_is_better}); compare one metric.")
    if a.metric is not None and b.metric is not None and a.metric != b.metric:
        raise ValueError(f"`a` and `b` measure different metrics ({a.metric!r} and "
                         f"{b.metric!r}); compare one metric.")
    confidence_level = statistics.check_confidence_level(confidence_level)
    if names is None:
        names = (a.name or "A", b.name or "B")
    if (isinstance(names, str) or len(names) != 2 or names[0] == names[1]
            or not all(isinstance(n, str) for n in names)):
        raise ValueError(f"`names` must be two different strings (A's, B's); received "
                         f"names={names!r}." + (" Name the studies apart, or pass `names=`."
                                                if names == (a.name, b.name) else ""))
    name_a, name_b = names
    metric = a.metric or b.metric
    _check_ensembles(ensembles, names)
    if paired:
        return _with_advice(_compare_paired(a, b, name_a, name_b, metric, confidence_level,
                                            power), a, b, ensembles)
    sa, sb = a._signed(), b._signed()
    probability = statistics.probability_of_improvement(sa, sb)
    difference = float(np.mean(a.scores) - np.mean(b.scores))
    p_value = statistics.mann_whitney_p(sa, sb, random_state, n_resamples)
    alpha = 1 - confidence_level
    probability_ci = statistics.improvement_interval(sa, sb, confidence_level)
    if min(a.n, b.n) < 2:
        statistics.warn(f"compare: {a.n} and {b.n} seeds: the interval of the mean "
                        "difference needs at least 2 seeds per side; it is NaN.")
        difference_ci = (math.nan, math.nan)
    else:
        difference_ci = statistics.welch_interval(a.scores, b.scores, confidence_level)
    smallest = statistics.smallest_mann_whitney_p(a.n, b.n)
    fewest = statistics.fewest_seeds_to_separate(confidence_level)

    winner, to_settle = None, None
    if p_value < alpha:
        winner = name_a if probability > 0.5 else name_b
    else:
        pooled = math.sqrt((_variance(a.scores) + _variance(b.scores)) / 2)
        to_settle = statistics.seeds_to_detect(difference, pooled, confidence_level, power)

    what = metric or "score"
    level = _percent(confidence_level)
    p_text = _on_its_side(p_value, alpha)
    effect = (f"P({name_a} better) = {probability:.2f} ({level} CI {probability_ci[0]:.2f}-"
              f"{probability_ci[1]:.2f}); mean {what}, {name_a} minus {name_b}: "
              f"{difference:+.4g}{_signed_interval(difference_ci, level)}")
    if winner is not None:
        loser, p, (low, high) = _from_winners_side(winner, names, probability, probability_ci)
        verdict = (f"{winner} beats {loser} beyond seed noise (Mann-Whitney p = {p_text}; "
                   f"{a.n} and {b.n} seeds): a random seed of {winner} scores a better "
                   f"{what} than one of {loser} with probability {p:.2f} ({level} CI "
                   f"{low:.2f}-{high:.2f}); mean {what}, {name_a} minus {name_b}: "
                   f"{difference:+.4g}{_signed_interval(difference_ci, level)}.")
    elif smallest >= alpha:
        verdict = (f"{a.n} and {b.n} seeds are too few for the Mann-Whitney test to tell "
                   f"{name_a} from {name_b} at {alpha:g}: whatever the scores, its smallest "
                   f"attainable p is {smallest:.3g}, and it takes at least {fewest} seeds per "
                   f"side to reject. So far: {effect}.")
    else:
        verdict = (f"No evidence of a difference between {name_a} and {name_b} beyond seed "
                   f"noise with {a.n} and {b.n} seeds (Mann-Whitney p = {p_text} >= "
                   f"{alpha:g}): {effect}.")
    if winner is None:
        verdict += _settling(to_settle, power, "gap", f"{difference:+.4g} in mean {what}",
                             "the Mann-Whitney test", "seeds each", "seeds spread",
                             "The means are equal: there is no gap for more seeds to settle.")
    return _with_advice(Comparison(
        names=(name_a, name_b), metric=metric, higher_is_better=a.higher_is_better,
        n=(a.n, b.n), probability=probability, probability_ci=probability_ci,
        mean_difference=difference, mean_difference_ci=difference_ci, p_value=p_value,
        confidence_level=confidence_level, winner=winner, seeds_to_settle=to_settle,
        verdict=verdict, smallest_p=smallest, fewest_to_reject=fewest), a, b, ensembles)


def _variance(values: np.ndarray) -> float:
    return float(np.var(values, ddof=1)) if len(values) > 1 else 0.0


def _check_ensembles(ensembles, names: tuple[str, str]) -> None:
    if ensembles is None:
        return
    if not isinstance(ensembles, EnsembleComparison):
        raise TypeError("`ensembles` must be an EnsembleComparison (from "
                        "keras_seeds.statistics.ensembles.ensemble_comparison or "
                        f"ensemble_comparison_from_store) or None; received {ensembles!r}.")
    if tuple(ensembles.names) != tuple(names):
        raise ValueError(f"`ensembles` compares {tuple(ensembles.names)}, this comparison "
                         f"{tuple(names)}; compare the same two setups, in the same order.")


def _with_advice(result: Comparison, a: SeedStudy, b: SeedStudy, ensembles=None) -> Comparison:
    """Adds what the seeds advise to ship, when both studies have an ensemble
    score (or ``ensembles`` is given): the setup whose k-seed ensemble scores
    better (``ensembles``' probability and interval; else the two ensemble
    scores as point values), and, for a single seed, the setup whose seeds
    spread less by the Brown-Forsythe test."""
    if ensembles is None and (a.ensemble_score is None or b.ensemble_score is None):
        return result
    (name_a, name_b), sign = result.names, 1.0 if a.higher_is_better else -1.0
    what = result.metric or "score"
    if ensembles is not None:
        ensemble = ensembles.sentence.rstrip(".")
    elif a.ensemble_score == b.ensemble_score:
        ensemble = f"their ensembles score the same {what} ({a.ensemble_score:.4g})"
    else:
        better, worse = ((name_a, name_b) if sign * (a.ensemble_score - b.ensemble_score) > 0
                         else (name_b, name_a))
        scores = {name_a: a.ensemble_score, name_b: b.ensemble_score}
        ensemble = (f"as an ensemble of its seeds, {better} scores the better {what} "
                    f"({scores[better]:.4g} against {scores[worse]:.4g}; one ensemble each, "
                    "point values)")
    spread = compare_spreads(a._signed(), b._signed(), names=result.names,
                             confidence_level=result.confidence_level)
    advice = f"To ship: {ensemble}. {spread.sentence}"
    return replace(result, advice=advice, verdict=f"{result.verdict} {advice}")


def _compare_paired(a: SeedStudy, b: SeedStudy, name_a: str, name_b: str, metric,
                    confidence_level: float, power: float) -> Comparison:
    shared = np.intersect1d(a.seeds, b.seeds)
    if shared.size < 2:
        raise ValueError(f"`paired=True` compares the seeds both studies have; {name_a} and "
                         f"{name_b} share {shared.size} seed(s). Train both on the same "
                         "seeds, or compare them unpaired.")
    score_a = dict(zip(a.seeds.tolist(), a.scores.tolist()))
    score_b = dict(zip(b.seeds.tolist(), b.scores.tolist()))
    first = np.array([score_a[s] for s in shared.tolist()])
    second = np.array([score_b[s] for s in shared.tolist()])
    raw = first - second
    signed = raw if a.higher_is_better else -raw  # > 0: A better on that seed
    tolerance = SCORE_RESOLUTION * float(np.max(np.abs(np.concatenate([first, second]))))
    counts = (int(np.sum(signed > tolerance)), int(np.sum(np.abs(signed) <= tolerance)),
              int(np.sum(signed < -tolerance)))
    n, alpha = int(shared.size), 1 - confidence_level
    probability = (counts[0] + 0.5 * counts[1]) / n
    probability_ci = statistics.win_rate_interval(counts[0], counts[1], n, confidence_level)
    p_value = statistics.wilcoxon_p(signed, tolerance)
    difference = float(np.mean(raw))
    difference_ci = statistics.t_interval(raw, confidence_level)
    median, median_ci, achieved = statistics.hodges_lehmann(raw, confidence_level)
    median_level = confidence_level if achieved >= confidence_level - 1e-12 else achieved
    smallest = statistics.smallest_wilcoxon_p(n - counts[1])
    fewest = statistics.fewest_pairs_to_reject(confidence_level)

    winner, to_settle = None, None
    if p_value < alpha:
        winner = name_a if statistics.signed_rank_sum(signed, tolerance) > 0 else name_b
    else:
        to_settle = statistics.pairs_to_detect(difference, _variance(raw) ** 0.5,
                                               confidence_level, power)
    what, level = metric or "score", _percent(confidence_level)
    median_interval = (f"{level} CI {median_ci[0]:+.4g} to {median_ci[1]:+.4g}"
                       if median_level == confidence_level else
                       f"{median_ci[0]:+.4g} to {median_ci[1]:+.4g}: a "
                       f"{_percent(median_level)} CI, the widest {n} pairs allow")
    gain = (f"{name_a} minus {name_b}: median gain {median:+.4g} ({median_interval}), mean "
            f"gain {difference:+.4g}{_signed_interval(difference_ci, level)}")
    p_text = _on_its_side(p_value, alpha)
    if winner is not None:
        better = counts[0] if winner == name_a else counts[2]
        verdict = (f"{winner} beats {name_b if winner == name_a else name_a} beyond seed "
                   f"noise, seed by seed (Wilcoxon signed-rank p = {p_text}; {n} shared "
                   f"seeds): {winner} scores a better {what} on {better} of {n} seeds"
                   f"{_ties(counts[1])}; {gain}.")
    else:
        record = f"{name_a} scores a better {what} on {counts[0]} of {n} seeds{_ties(counts[1])}"
        if smallest >= alpha:
            tied = f" ({counts[1]} of them tied)" if counts[1] else ""
            verdict = (f"{n} shared seeds{tied} are too few for the signed-rank test to tell "
                       f"{name_a} from {name_b} at {alpha:g}: whatever the scores, its "
                       f"smallest attainable p is {smallest:.3g}, and it takes at least "
                       f"{fewest} shared seeds that do not tie to reject. So far: {record}; "
                       f"{gain}.")
        else:
            verdict = (f"No evidence of a difference between {name_a} and {name_b} beyond "
                       f"seed noise on {n} shared seeds (Wilcoxon signed-rank p = {p_text} >= "
                       f"{alpha:g}): {record}; {gain}.")
        no_gap = ("Every seed scores the same: there is no gap for more seeds to settle."
                  if counts[1] == n else
                  "The mean gain is 0: there is no gap for more seeds to settle.")
        verdict += _settling(to_settle, power, "mean gain", f"{difference:+.4g}",
                             "the signed-rank test", "shared seeds", "the gains spread",
                             no_gap)
    return Comparison(names=(name_a, name_b), metric=metric,
                      higher_is_better=a.higher_is_better, n=(n, n),
                      probability=probability, probability_ci=probability_ci,
                      mean_difference=difference, mean_difference_ci=difference_ci,
                      p_value=p_value, confidence_level=confidence_level, winner=winner,
                      seeds_to_settle=to_settle, verdict=verdict, smallest_p=smallest,
                      fewest_to_reject=fewest, paired=True, better_on=counts,
                      median_difference=median, median_difference_ci=median_ci,
                      median_difference_level=median_level)


def _ties(tied: int) -> str:
    return f" ({tied} tied)" if tied else ""


def _percent(level: float) -> str:
    """A level as a percentage with the digits it has: 95%, 87.5%, 93.75%."""
    return f"{100 * level:.4g}%"


def _signed_interval(interval: tuple[float, float], level: str) -> str:
    if not all(math.isfinite(x) for x in interval):
        return ""
    return f" ({level} CI {interval[0]:+.4g} to {interval[1]:+.4g})"


def _on_its_side(p_value: float, alpha: float) -> str:
    """``p_value`` with as few significant digits (at least 2) as keep it printed
    on its side of ``alpha``: 0.0501 against 0.05 is not "0.05".

    Example:

    >>> _on_its_side(0.0499, 0.05), _on_its_side(0.044, 0.05)
    ('0.0499', '0.044')
    """
    for digits in range(2, 8):
        text = f"{p_value:.{digits}g}"
        if (float(text) < alpha) == (p_value < alpha):
            return text
    return repr(p_value)


def _settling(to_settle: int | None, power: float, gap: str, size: str, test: str,
              seeds: str, spread: str, no_gap: str) -> str:
    """The verdict's last sentence: how many seeds give the test ``power``
    against a true gap the size of the observed one."""
    if to_settle is None:
        return " " + no_gap
    if to_settle > _PRACTICAL_SEEDS:
        return (f" A true {gap} of this size ({size}) is too small for any practical number "
                f"of seeds to find with {power:.0%} power (about {to_settle:.2g} {seeds}).")
    return (f" For {power:.0%} power against a true {gap} of this size ({size}), {test} "
            f"needs about {to_settle} {seeds}, if {spread} as these do (normal scores).")


def _from_winners_side(winner: str, names: tuple[str, str], probability: float,
                       interval: tuple[float, float]) -> tuple[str, float, tuple]:
    """The loser, and P(A better) with its interval turned to the winner's side."""
    if winner == names[0]:
        return names[1], probability, interval
    return names[0], 1 - probability, (1 - interval[1], 1 - interval[0])


def _as_study(value, name: str) -> SeedStudy:
    if isinstance(value, SeedStudy):
        return value
    try:
        return SeedStudy(value)
    except (TypeError, ValueError) as error:
        raise type(error)(f"`{name}` must be a SeedStudy or scores: {error}") from None
