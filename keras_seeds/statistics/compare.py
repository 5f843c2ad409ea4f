"""compare: does setup A beat setup B beyond seed noise?

The answer rests on P(a random seed of A beats one of B), with a bootstrap
interval and a Mann-Whitney test, in plain words (:class:`Comparison`).
Imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from keras_seeds.statistics import functions as statistics
from keras_seeds.statistics.study import SeedStudy

# Beyond this many seeds per side a verdict says the gap is too small to settle.
_PRACTICAL_SEEDS = 100_000


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found; ``str()`` gives the verdict in plain words.

    Example:

    >>> result = compare([0.93, 0.94, 0.95, 0.94], [0.90, 0.91, 0.90, 0.89])
    >>> result.winner, result.probability, result.n
    ('A', 1.0, (4, 4))
    >>> import json
    >>> saved = json.loads(json.dumps(result.to_dict()))  # JSON-ready: for a results file
    >>> saved["winner"], saved["n"]
    ('A', [4, 4])

    Attributes:
        probability: P(a random seed of A scores better than one of B), ties 1/2.
        probability_ci: its percentile bootstrap interval.
        mean_difference: mean of A minus mean of B, in the metric's units.
        mean_difference_ci: its percentile bootstrap interval.
        p_value: two-sided Mann-Whitney U test.
        winner: ``"A"``'s or ``"B"``'s name, or ``None`` if not distinguishable.
        seeds_to_settle: when not distinguishable, about how many seeds per
            side would find the observed gap in the means (power 0.8).
        paired: whether A and B were compared seed by seed (``paired=True``);
            then ``probability`` is P(A is better on the same seed), ``p_value``
            the Wilcoxon signed-rank test's, ``n`` the shared seeds twice, and
            ``median_difference`` (with its interval) the Hodges-Lehmann
            estimate of the seed-by-seed gain.
        advice: when both studies have an ensemble score, which setup has the
            higher ensemble score and which the smaller seed range (the one
            to ship as an ensemble, the one to ship as a single seed); it ends
            the verdict.
        split: when there is no winner because the two criteria disagree (the
            test rejects equal scores but the interval of ``probability``
            includes 1/2, or the other way round), the sentence that says so;
            the verdict carries it. ``None`` otherwise.
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
    paired: bool = False
    median_difference: float | None = None
    median_difference_ci: tuple[float, float] | None = None
    advice: str | None = None
    split: str | None = None

    def __str__(self) -> str:
        return self.verdict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(a, b, *, names: tuple[str, str] | None = None, paired: bool = False,
            confidence_level: float = 0.95, n_resamples: int = 9999, random_state=0,
            power: float = 0.8) -> Comparison:
    """Does setup A beat setup B beyond seed noise?

    ``a`` and ``b`` are :class:`SeedStudy` objects (or arrays of scores, then
    higher is better). The answer rests on P(a random seed of A beats one of B)
    (the Mann-Whitney U statistic over ``n_a * n_b``, ties counting 1/2): A
    *beats* B when its bootstrap interval lies above 1/2 and the two-sided
    Mann-Whitney test has ``p < 1 - confidence_level``. Otherwise the two are
    *not distinguishable from seed noise*, and the verdict says about how many
    seeds per side would settle it if the observed gap in the means is real
    (:func:`keras_seeds.statistics.seeds_to_detect`, at least one more than now).

    With ``paired=True`` (two setups trained on the same seeds: same initial
    weights, data order and noise for each seed) the seeds both studies have
    are compared seed by seed, which removes the seed's own luck from the gap
    and needs far fewer seeds: the answer rests on P(A is better on the same
    seed), with a bootstrap interval over the seeds, and the two-sided Wilcoxon
    signed-rank test; the Hodges-Lehmann estimate of the gain comes with its
    interval (:func:`keras_seeds.statistics.hodges_lehmann`).

    Example:

    >>> import keras_seeds as ks
    >>> base = ks.SeedStudy([0.90, 0.91, 0.92, 0.90, 0.91], name="base")
    >>> new = ks.SeedStudy([0.93, 0.94, 0.93, 0.95, 0.94], name="new")
    >>> ks.compare(new, base).winner
    'new'
    >>> print(ks.compare(base, ks.SeedStudy([0.91, 0.90, 0.92, 0.91, 0.90])).verdict)
    ... # doctest: +ELLIPSIS
    base and B are not distinguishable from seed noise with 5 and 5 seeds: ...
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
    if paired:
        return _with_advice(_compare_paired(a, b, name_a, name_b, metric, confidence_level,
                                            n_resamples, random_state, power), a, b)
    sa, sb = a._signed(), b._signed()
    probability = statistics.probability_of_improvement(sa, sb)
    difference = float(np.mean(a.scores) - np.mean(b.scores))
    p_value = statistics.mann_whitney_p(sa, sb, random_state)
    alpha = 1 - confidence_level
    few = min(a.n, b.n) < 2
    if few:
        statistics.warn(f"compare: {a.n} and {b.n} seeds: the intervals need at least 2 "
                        "seeds per side; they are NaN.")
        probability_ci = difference_ci = (math.nan, math.nan)
    else:
        interval = dict(confidence_level=confidence_level, n_resamples=n_resamples,
                        random_state=random_state)
        probability_ci = statistics.two_sample_interval(
            sa, sb, statistics.improvement_statistic, **interval)
        difference_ci = statistics.two_sample_interval(
            a.scores, b.scores, statistics.mean_difference_statistic, **interval)

    winner, to_settle, split = None, None, None
    if not few and probability_ci[0] > 0.5 and p_value < alpha:
        winner = name_a
    elif not few and probability_ci[1] < 0.5 and p_value < alpha:
        winner = name_b
    elif not few:
        split = _split_criteria(p_value, alpha, probability_ci, "Mann-Whitney test",
                                f"P({name_a} better)")
        pooled = math.sqrt((np.var(a.scores, ddof=1) + np.var(b.scores, ddof=1)) / 2)
        to_settle = statistics.seeds_to_detect(difference, pooled, confidence_level, power)
        if to_settle is not None:
            to_settle = max(to_settle, max(a.n, b.n) + 1)

    level = f"{confidence_level:.0%} CI"
    what = metric or "score"
    p_text = _on_its_side(p_value, alpha)
    if winner is not None:
        loser, p, (low, high) = _from_winners_side(winner, names, probability, probability_ci)
        verdict = (f"{winner} beats {loser} beyond seed noise: a random seed of {winner} "
                   f"scores a better {what} than one of {loser} with probability {p:.2f} "
                   f"({level} {low:.2f}-{high:.2f}; Mann-Whitney p = {p_text}; "
                   f"{a.n} and {b.n} seeds).")
    else:
        verdict = (f"{name_a} and {name_b} are not distinguishable from seed noise with "
                   f"{a.n} and {b.n} seeds: P({name_a} better) = {probability:.2f}")
        verdict += "." if few else (f" ({level} {probability_ci[0]:.2f}-"
                                    f"{probability_ci[1]:.2f}; Mann-Whitney p = {p_text}).")
        if split:
            verdict += f" {split}"
        if few:
            verdict += " Train at least 2 seeds per side to judge."
        else:
            verdict += _settling(to_settle, f"the gap in mean {what} ({difference:+.4g})",
                                 "each", "seeds each",
                                 "The means are equal: there is no gap for more seeds to settle.")
    return _with_advice(Comparison(
        names=(name_a, name_b), metric=metric, higher_is_better=a.higher_is_better,
        n=(a.n, b.n), probability=probability, probability_ci=probability_ci,
        mean_difference=difference, mean_difference_ci=difference_ci, p_value=p_value,
        confidence_level=confidence_level, winner=winner, seeds_to_settle=to_settle,
        verdict=verdict, split=split), a, b)


def _with_advice(result: Comparison, a: SeedStudy, b: SeedStudy) -> Comparison:
    """Adds what the seeds advise to ship, when both studies have an ensemble
    score: the ensemble of the setup whose ensemble scores better, or a single
    seed of the setup whose seeds spread least."""
    if a.ensemble_score is None or b.ensemble_score is None:
        return result
    (name_a, name_b), sign = result.names, 1.0 if a.higher_is_better else -1.0
    what = result.metric or "score"
    if a.ensemble_score == b.ensemble_score:
        ensemble = f"their ensembles score the same {what} ({a.ensemble_score:.4g})"
    else:
        better, worse = ((name_a, name_b) if sign * (a.ensemble_score - b.ensemble_score) > 0
                         else (name_b, name_a))
        scores = {name_a: a.ensemble_score, name_b: b.ensemble_score}
        ensemble = (f"as an ensemble of its seeds, {better} scores the better {what} "
                    f"({scores[better]:.4g} against {scores[worse]:.4g})")
    range_a, range_b = float(np.ptp(a.scores)), float(np.ptp(b.scores))
    if range_a == range_b:
        spread = f"their seeds spread over the same range ({range_a:.4g})"
    else:
        narrow, wide = (name_a, name_b) if range_a < range_b else (name_b, name_a)
        ranges = {name_a: range_a, name_b: range_b}
        spread = (f"as a single seed, {narrow} is the safer pick: its seeds span a range of "
                  f"{ranges[narrow]:.4g} against {ranges[wide]:.4g}")
    advice = f"To ship: {ensemble}; {spread}."
    return replace(result, advice=advice, verdict=f"{result.verdict} {advice}")


def _compare_paired(a: SeedStudy, b: SeedStudy, name_a: str, name_b: str, metric,
                    confidence_level: float, n_resamples: int, random_state,
                    power: float) -> Comparison:
    shared = np.intersect1d(a.seeds, b.seeds)
    if shared.size < 2:
        raise ValueError(f"`paired=True` compares the seeds both studies have; {name_a} and "
                         f"{name_b} share {shared.size} seed(s). Train both on the same "
                         "seeds, or compare them unpaired.")
    score_a = dict(zip(a.seeds.tolist(), a.scores.tolist()))
    score_b = dict(zip(b.seeds.tolist(), b.scores.tolist()))
    raw = np.array([score_a[s] - score_b[s] for s in shared.tolist()])
    signed = raw if a.higher_is_better else -raw  # > 0: A better on that seed
    wins = (signed > 0) + 0.5 * (signed == 0)
    probability = float(np.mean(wins))
    p_value = statistics.wilcoxon_p(signed)
    interval = dict(confidence_level=confidence_level, n_resamples=n_resamples,
                    random_state=random_state)
    probability_ci = statistics.bootstrap_interval(wins, method="percentile", **interval)
    difference = float(np.mean(raw))
    difference_ci = statistics.bootstrap_interval(raw, method="percentile", **interval)
    median, median_ci = statistics.hodges_lehmann(raw, confidence_level)
    alpha, n = 1 - confidence_level, int(shared.size)
    winner, to_settle, split = None, None, None
    if probability_ci[0] > 0.5 and p_value < alpha:
        winner = name_a
    elif probability_ci[1] < 0.5 and p_value < alpha:
        winner = name_b
    else:
        split = _split_criteria(p_value, alpha, probability_ci, "Wilcoxon signed-rank test",
                                f"P({name_a} better on the same seed)")
        to_settle = statistics.pairs_to_detect(difference, float(np.std(raw, ddof=1)),
                                               confidence_level, power)
        if to_settle is not None:
            to_settle = max(to_settle, n + 1)
    level, what = f"{confidence_level:.0%} CI", metric or "score"
    p_text = _on_its_side(p_value, alpha)
    gain = (f"median gain {median:+.4g} ({level} {median_ci[0]:+.4g} to {median_ci[1]:+.4g})")
    if winner is not None:
        loser, p, (low, high) = _from_winners_side(winner, (name_a, name_b), probability,
                                                   probability_ci)
        verdict = (f"{winner} beats {loser} beyond seed noise, seed by seed: on the same seed "
                   f"{winner} scores a better {what} with probability {p:.2f} ({level} "
                   f"{low:.2f}-{high:.2f}; Wilcoxon signed-rank p = {p_text}; {n} shared "
                   f"seeds); {name_a} minus {name_b}: {gain}.")
    else:
        verdict = (f"{name_a} and {name_b} are not distinguishable from seed noise on {n} shared "
                   f"seeds: P({name_a} better on the same seed) = {probability:.2f} ({level} "
                   f"{probability_ci[0]:.2f}-{probability_ci[1]:.2f}; Wilcoxon signed-rank "
                   f"p = {p_text}); {name_a} minus {name_b}: {gain}.")
        if split:
            verdict += f" {split}"
        verdict += _settling(to_settle, f"the mean gain ({difference:+.4g})", "shared seeds",
                             "shared seeds", "Every seed scores the same: there is no gap "
                             "for more seeds to settle.")
    return Comparison(names=(name_a, name_b), metric=metric,
                      higher_is_better=a.higher_is_better, n=(n, n),
                      probability=probability, probability_ci=probability_ci,
                      mean_difference=difference, mean_difference_ci=difference_ci,
                      p_value=p_value, confidence_level=confidence_level, winner=winner,
                      seeds_to_settle=to_settle, verdict=verdict, paired=True,
                      median_difference=median, median_difference_ci=median_ci, split=split)


def _split_criteria(p_value: float, alpha: float, interval: tuple[float, float], test: str,
                    probability: str) -> str | None:
    """The sentence for a verdict without a winner whose two criteria disagree:
    the test rejects equal scores while the interval of ``probability``
    includes 1/2, or the interval excludes 1/2 while the test does not reject.
    ``None`` when both say "not distinguishable".

    Example:

    >>> _split_criteria(0.044, 0.05, (0.37, 0.50), "Wilcoxon signed-rank test", "P(A better)")
    ... # doctest: +NORMALIZE_WHITESPACE
    'Borderline: the Wilcoxon signed-rank test alone would call it (p = 0.044 < 0.05), but
    the interval of P(A better) includes 0.50; a verdict needs both.'
    >>> _split_criteria(0.30, 0.05, (0.40, 0.60), "Mann-Whitney test", "P(A better)") is None
    True
    >>> _split_criteria(0.07, 0.05, (0.52, 0.7), "Mann-Whitney test", "P(A better)")
    ... # doctest: +NORMALIZE_WHITESPACE
    'Borderline: the interval of P(A better) excludes 0.50, but the Mann-Whitney test does
    not reject equal scores (p = 0.07 >= 0.05); a verdict needs both.'
    >>> _on_its_side(0.0499, 0.05), _on_its_side(0.044, 0.05)
    ('0.0499', '0.044')
    """
    excludes_half = interval[0] > 0.5 or interval[1] < 0.5
    rejects, p = p_value < alpha, _on_its_side(p_value, alpha)
    if rejects and not excludes_half:
        return (f"Borderline: the {test} alone would call it (p = {p} < {alpha:g}), but the "
                f"interval of {probability} includes 0.50; a verdict needs both.")
    if excludes_half and not rejects:
        return (f"Borderline: the interval of {probability} excludes 0.50, but the {test} does "
                f"not reject equal scores (p = {p} >= {alpha:g}); a verdict needs both.")
    return None


def _on_its_side(p_value: float, alpha: float) -> str:
    """``p_value`` with as few significant digits (at least 2) as keep it printed
    on its side of ``alpha``: 0.0501 against 0.05 is not "0.05"."""
    for digits in range(2, 8):
        text = f"{p_value:.{digits}g}"
        if (float(text) < alpha) == (p_value < alpha):
            return text
    return repr(p_value)


def _settling(to_settle: int | None, gap: str, about: str, seeds: str, no_gap: str) -> str:
    """The verdict's last sentence: how many seeds would settle ``gap``."""
    if to_settle is None:
        return " " + no_gap
    if to_settle > _PRACTICAL_SEEDS:
        return (f" {gap[0].upper()}{gap[1:]} is too small for any practical number of seeds "
                f"to settle (about {to_settle:.2g} {about}).")
    return f" About {to_settle} {seeds} would settle it, if {gap} is real."


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
