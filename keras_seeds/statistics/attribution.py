"""Attribution by source: how much of the spread between seeds each source of
randomness (weight initialisation, data order, Dropout noise, augmentation,
the train/validation split) causes on its own.

Each source's group of runs varies that one sub-seed while the others stay
pinned; a last group varies them all. Dodge et al. (2020) found weight
initialisation and data order contribute comparably; Bouthillier et al.
(2021) that the data split often moves a benchmark more than the seed. Both
measured one source at a time by hand; :func:`keras_seeds.attribute` runs the
groups as fused replicas and this module reads them.

For each group: the variance of its scores across seeds with the chi-square
interval (exact for normally spread scores: with 8 to 32 seeds a bootstrap
interval of a variance covers the truth only 84-90% of the time at a nominal
95%); its share of the all-sources variance, with the F interval of a ratio
of two independent variances; and, with per-example correctness, its
distribution-wise variance (:mod:`keras_seeds.statistics.noise`): what is
left once the finite evaluation set's part (independent per-example errors) is
taken out. That part differs between groups (runs that share their weights
err on the same examples more often), so each group's is its own; the table's
floor row is the all-sources group's. Shares need not add up to one: sources
can interact.

Imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import stats

from keras_seeds.statistics.functions import check_confidence_level
from keras_seeds.statistics.noise import variance_parts

ALL_SOURCES = "all"


def variance_interval(scores, confidence_level: float = 0.95) -> tuple[float, float]:
    """The chi-square interval of the variance of ``scores`` (``ddof=1``):
    ``(n - 1) s**2 / chi2.ppf(1 - a/2, n - 1)`` to ``... / chi2.ppf(a/2, n - 1)``.

    Example:

    >>> low, high = variance_interval([0.90, 0.92, 0.91, 0.88, 0.93])
    >>> round(low * 1e4, 2), round(high * 1e4, 2)
    (1.33, 30.55)
    """
    scores = np.asarray(scores, dtype=float)
    n = scores.size
    variance = float(np.var(scores, ddof=1))
    alpha = 1 - check_confidence_level(confidence_level)
    return ((n - 1) * variance / float(stats.chi2.ppf(1 - alpha / 2, n - 1)),
            (n - 1) * variance / float(stats.chi2.ppf(alpha / 2, n - 1)))


def share_interval(scores, total_scores, confidence_level: float = 0.95) -> tuple[float, float]:
    """The interval of ``var(scores) / var(total_scores)`` (independent groups):
    the ratio of the sample variances over the F quantiles of
    ``(len(scores) - 1, len(total_scores) - 1)`` degrees of freedom.

    Example:

    >>> low, high = share_interval([0.90, 0.92, 0.91, 0.88], [0.80, 0.92, 0.85, 0.95, 0.88])
    >>> round(low, 3), round(high, 3)
    (0.008, 1.277)
    """
    a, b = (np.asarray(v, dtype=float) for v in (scores, total_scores))
    ratio = float(np.var(a, ddof=1) / np.var(b, ddof=1))
    alpha = 1 - check_confidence_level(confidence_level)
    dfs = (a.size - 1, b.size - 1)
    return (ratio / float(stats.f.ppf(1 - alpha / 2, *dfs)),
            ratio / float(stats.f.ppf(alpha / 2, *dfs)))


@dataclass(frozen=True)
class SourceVariance:
    """One group of an attribution: the runs in which ``source`` alone varied
    (``"all"``: every source varied).

    Attributes:
        source: the sub-seed name, or ``"all"``.
        seeds: the number of runs.
        variance, variance_ci: of the score across the runs (chi-square CI).
        share, share_ci: ``variance`` over the all-sources variance (F CI).
        distribution_variance, distribution_ci: the part that is not the
            finite evaluation set (clipped at zero), when per-example
            correctness is known; else ``None``.
    """

    source: str
    seeds: int
    variance: float
    variance_ci: tuple[float, float]
    share: float
    share_ci: tuple[float, float]
    distribution_variance: float | None = None
    distribution_ci: tuple[float, float] | None = None


@dataclass(frozen=True)
class Attribution:
    """Per-source variance of a score across seeds (:func:`attribute_variance`).

    Attributes:
        metric: the score's name.
        sources: one :class:`SourceVariance` per source, in the order run.
        total: the all-sources group.
        floor: the independent-errors variance of the all-sources group
            (the finite evaluation set's noise, from its per-example
            correctness), or ``None``.
        confidence_level: of every interval.
    """

    metric: str | None
    sources: list
    total: SourceVariance
    floor: float | None
    confidence_level: float = 0.95

    def rows(self) -> list[tuple]:
        """The table: one row per source, then the all-sources row and the floor:
        ``(group, seeds, variance, CI, std, share, CI, on the distribution)``."""
        from keras_seeds.statistics.report import interval, number

        rows = []
        for group in [*self.sources, self.total]:
            on_distribution = ("n/a" if group.distribution_variance is None else
                               f"{number(group.distribution_variance)} "
                               f"({interval(tuple(max(v, 0.0) for v in group.distribution_ci))})")
            whole = group.source == ALL_SOURCES
            rows.append(("all sources" if whole else group.source,
                         str(group.seeds), number(group.variance),
                         interval(group.variance_ci), number(math.sqrt(group.variance)),
                         f"{group.share:.0%}",
                         "" if whole else f"{group.share_ci[0]:.0%} to {group.share_ci[1]:.0%}",
                         on_distribution))
        if self.floor is not None:
            rows.append(("finite-set noise (all sources)", "", number(self.floor), "",
                         number(math.sqrt(self.floor)), f"{self.floor / self.total.variance:.0%}",
                         "", "0 by definition"))
        return rows

    def header(self) -> tuple:
        level = f"{self.confidence_level:.0%} CI"
        return ("source varied", "seeds", "variance", level, "std", "share of all", level,
                "variance on the distribution (CI)")

    def text(self) -> str:
        """The table as aligned text (what the command line prints).

        Example: see :func:`attribute_variance`.
        """
        table = [self.header(), *self.rows()]
        widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
        return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths))
                         .rstrip() for row in table)

    def sentence(self) -> str:
        """The finding in one sentence: each source's share, largest first.

        Example: see :func:`attribute_variance`.
        """
        ranked = sorted(self.sources, key=lambda group: -group.share)
        parts = [f"{group.source} {group.share:.0%} ({group.share_ci[0]:.0%} to "
                 f"{group.share_ci[1]:.0%})" for group in ranked]
        text = (f"Varied alone, each source gives this share of the variance with every "
                f"source varied ({self.total.seeds} seeds, std "
                f"{math.sqrt(self.total.variance):.3g}): {', '.join(parts)}.")
        if self.floor is not None:
            text += (f" Independent per-example errors, the finite evaluation set, make "
                     f"{self.floor / self.total.variance:.0%} of the all-sources variance; "
                     "what each group varies on the data distribution is that group's "
                     "variance with its own such part taken out (the last column).")
        return text

    def plot(self, path=None):
        """One figure: each source's variance with its interval, the
        all-sources variance and the independent-errors floor. Returns the
        matplotlib Figure (saved as PNG when ``path`` is given).

        Example: see :func:`attribute_variance`.
        """
        from keras_seeds.statistics import plots

        return plots.save(plots.attribution(self), path)

    def to_dict(self) -> dict:
        """JSON-ready fields.

        Example: see :func:`attribute_variance`.
        """
        def group(g: SourceVariance) -> dict:
            return {name: (list(value) if isinstance(value, tuple) else value)
                    for name, value in g.__dict__.items()}

        return {"metric": self.metric, "confidence_level": self.confidence_level,
                "floor": self.floor, "total": group(self.total),
                "sources": [group(g) for g in self.sources]}


def _group(source: str, study, total_scores, confidence_level, n_resamples,
           random_state) -> SourceVariance:
    if study.n < 2:
        raise ValueError(f"`seeds_per_source`: the {source!r} group has {study.n} seed(s) with "
                         "a score; a variance needs at least 2 per source.")
    distribution = interval = None
    if study.correct is not None and study.n >= 3:
        estimate = study.noise(confidence_level=confidence_level, n_resamples=n_resamples,
                               random_state=random_state)
        distribution, interval = estimate.distribution_std ** 2, estimate.distribution_ci
    share = float(np.var(study.scores, ddof=1) / np.var(total_scores, ddof=1))
    return SourceVariance(source, study.n, float(np.var(study.scores, ddof=1)),
                          variance_interval(study.scores, confidence_level), share,
                          share_interval(study.scores, total_scores, confidence_level),
                          distribution, interval)


def attribute_variance(studies: Mapping, total, confidence_level: float = 0.95,
                       n_resamples: int = 9999, random_state=0) -> Attribution:
    """The :class:`Attribution` of per-source studies.

    Args:
        studies: ``{source: SeedStudy}``, each of runs in which only that
            source's sub-seed varied.
        total: the :class:`~keras_seeds.SeedStudy` of runs in which every
            source varied.
        confidence_level, n_resamples, random_state: of the intervals (the
            last two for the distribution-wise bootstrap).

    Example (a synthetic additive model: init has std 0.02, data 0.01):

    >>> import numpy as np
    >>> from keras_seeds import SeedStudy
    >>> rng = np.random.default_rng(0)
    >>> init, data = rng.normal(0, 0.02, 32), rng.normal(0, 0.01, 32)
    >>> everything = rng.normal(0, 0.02, 32) + rng.normal(0, 0.01, 32)
    >>> result = attribute_variance({"init": SeedStudy(0.9 + init), "data": SeedStudy(0.9 + data)},
    ...                             SeedStudy(0.9 + everything))
    >>> [round(group.variance * 1e4, 1) for group in result.sources], round(result.total.variance * 1e4, 1)
    ([2.6, 1.0], 4.8)
    >>> print(result.sentence())
    Varied alone, each source gives this share of the variance with every source varied (32 seeds, std 0.0218): init 55% (27% to 113%), data 20% (10% to 41%).
    >>> print(result.text())
    source varied  seeds  variance   95% CI                  std       share of all  95% CI        variance on the distribution (CI)
    init           32     0.0002634  0.0001693 to 0.0004655  0.01623   55%           27% to 113%   n/a
    data           32     9.599e-05  6.169e-05 to 0.0001697  0.009797  20%           10% to 41%    n/a
    all sources    32     0.0004757  0.0003057 to 0.0008408  0.02181   100%                        n/a
    >>> result.plot().axes[0].get_xlabel()
    'variance across seeds'
    >>> sorted(result.to_dict())
    ['confidence_level', 'floor', 'metric', 'sources', 'total']
    """
    confidence_level = check_confidence_level(confidence_level)
    if not studies:
        raise ValueError("`sources` must name at least one source to vary; received none.")
    if total.n < 2:
        raise ValueError("`seeds_per_source`: the all-sources group has fewer than 2 seeds "
                         "with a score; a variance needs at least 2.")
    options = (confidence_level, n_resamples, random_state)
    groups = [_group(source, study, total.scores, *options) for source, study in studies.items()]
    whole = _group(ALL_SOURCES, total, total.scores, *options)
    floor = None
    if total.correct is not None and total.n >= 3:
        floor = variance_parts(total.correct)[1]
    metrics = {study.metric for study in [*studies.values(), total]}
    return Attribution(metrics.pop() if len(metrics) == 1 else None, groups, whole, floor,
                       confidence_level)
