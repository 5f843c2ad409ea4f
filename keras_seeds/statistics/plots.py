"""Plots of a :class:`~keras_seeds.SeedStudy`, with matplotlib.

Each function returns a ``matplotlib.figure.Figure`` made without pyplot, so it
renders headless (no display, no global backend switch) and never piles up in
pyplot's figure list; :func:`save` writes it as PNG. In a notebook, show one
with ``display(figure)`` or save it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from keras_seeds.statistics import functions as statistics
from keras_seeds.statistics.metric_names import curve_base, held_out_name

_BAND, _LINE, _MARK = "#9ecae1", "#08519c", "#cb181d"


def _figure(title: str, xlabel: str, ylabel: str, integer_x: bool = False):
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    if integer_x:  # epochs, numbers of seeds
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    return figure, axes


def save(figure, path=None):
    """Writes ``figure`` as a PNG to ``path`` (atomically) when given; returns it."""
    if path is not None:
        from keras_seeds._files import write_file_atomically

        write_file_atomically(path, lambda handle: figure.savefig(handle, format="png",
                                                                  dpi=100), mode="wb")
    return figure


def distribution(study, summary: dict | None = None, **summary_kwargs):
    """Histogram and Gaussian density (``scipy.stats.gaussian_kde``) of the
    scores, each seed as a tick, the mean and its confidence interval, and the
    outliers labelled with their seeds. ``summary`` is ``study.summary()`` when
    the caller already has it (the bootstrap is not run twice).

    Example:

    >>> from keras_seeds import SeedStudy
    >>> figure = distribution(SeedStudy([0.90, 0.91, 0.92, 0.91, 0.70], metric="acc"))
    >>> figure.axes[0].get_title()
    'acc over 5 seeds'
    """
    from scipy import stats

    metric = study.metric or "score"
    summary = summary if summary is not None else study.summary(**summary_kwargs)
    figure, axes = _figure(f"{metric} over {study.n} seeds", metric, "density")
    scores = study.scores
    axes.hist(scores, bins="auto", density=True, color=_BAND, edgecolor="white",
              label="seeds (histogram)")
    if study.n > 1 and np.ptp(scores) > 0:
        grid = np.linspace(scores.min() - 0.1 * np.ptp(scores),
                           scores.max() + 0.1 * np.ptp(scores), 200)
        axes.plot(grid, stats.gaussian_kde(scores)(grid), color=_LINE, label="density")
    axes.plot(scores, np.zeros_like(scores), "|", color="black", markersize=12)
    axes.axvline(summary["mean"], color=_LINE, linestyle="--",
                 label=f"mean {summary['mean']:.4g}")
    low, high = summary["mean_t_ci"]
    if math.isfinite(low):
        axes.axvspan(low, high, color=_LINE, alpha=0.15,
                     label=f"{summary['confidence_level']:.0%} CI of the mean (t)")
    for outlier in study.outliers():
        axes.annotate(f"seed {outlier['seed']}", (outlier["score"], 0), xytext=(0, 18),
                      textcoords="offset points", ha="center", color=_MARK,
                      arrowprops={"arrowstyle": "->", "color": _MARK})
    axes.legend(loc="best", fontsize="small")
    return figure


def curves(study, name: str | None = None):
    """Per-epoch values across seeds: the mean, a +-1 std band and the min-max
    band; the training and validation curves of ``name`` together when both
    were logged (``accuracy`` and ``val_accuracy``).

    Example:

    >>> import numpy as np
    >>> from keras_seeds import SeedStudy
    >>> study = SeedStudy([0.9, 0.8], curves={"val_acc": np.array([[0.5, 0.4], [0.9, 0.8]])})
    >>> curves(study, "val_acc").axes[0].get_ylabel()
    'acc'
    """
    if not study.curves:
        raise ValueError("this study has no learning curves; make it with "
                         "SeedStudy.from_history(history) or "
                         "SeededModel.study(..., history=history).")
    if name is None:
        name = study.metric if study.metric in study.curves else next(iter(study.curves))
    if name not in study.curves:
        raise ValueError(f"`name`: {name!r} has no curves in this study; known names: "
                         f"{sorted(study.curves)}.")
    base = curve_base(name)
    series = [(label, key) for label, key in (("train", base), ("validation", f"val_{base}"))
              if key in study.curves]
    seeds = study.curves[name].shape[1]
    figure, axes = _figure(f"{base} over epochs, {seeds} seeds", "epoch", base,
                           integer_x=True)
    for (label, key), (band, line) in zip(series, ((_BAND, _LINE), ("#fdae6b", "#d94801"))):
        values = study.curves[key]
        epochs = np.arange(1, values.shape[0] + 1)
        with warnings.catch_warnings():
            # An epoch where every seed diverged (all NaN) is plotted as a gap.
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(values, axis=1)
            std = (np.nanstd(values, axis=1, ddof=1) if values.shape[1] > 1
                   else np.zeros_like(mean))
            axes.fill_between(epochs, np.nanmin(values, axis=1), np.nanmax(values, axis=1),
                              color=band, alpha=0.4, label=f"{label} min-max")
            axes.fill_between(epochs, mean - std, mean + std, color=line, alpha=0.25,
                              label=f"{label} mean +- 1 std")
        axes.plot(epochs, mean, color=line, label=f"{label} mean")
    axes.legend(loc="best", fontsize="small")
    return figure


def expected_max(study):
    """The expected best score against the number of seeds tried, +-1 std.

    Example:

    >>> from keras_seeds import SeedStudy
    >>> expected_max(SeedStudy([0.8, 0.85, 0.9])).axes[0].get_xlabel()
    'seeds tried (n)'
    """
    metric = study.metric or "score"
    best = "best" if study.higher_is_better else "best (lowest)"
    ns = np.arange(1, study.n + 1)
    mean, std = np.array([statistics.expected_max(study.scores, int(n), study.higher_is_better)
                          for n in ns]).T
    figure, axes = _figure(f"Expected {best} {metric} of n seeds", "seeds tried (n)",
                           f"expected {best} {metric}", integer_x=True)
    axes.fill_between(ns, mean - std, mean + std, color=_BAND, alpha=0.6, label="+- 1 std")
    axes.plot(ns, mean, "o-", color=_LINE, label=f"expected {best} (with replacement)")
    axes.plot(ns, study.expected_max(estimator="without_replacement"), "--", color=_LINE,
              label="without replacement (Tang et al. 2020)")
    axes.axhline(float(np.mean(study.scores)), color="gray", linestyle="--",
                 label="mean of one seed")
    axes.legend(loc="best", fontsize="small")
    return figure


def val_vs_test(study):
    """Each seed's score against its test score, labelled with the seed, with
    Spearman's rank correlation: does a lucky validation seed stay lucky?

    Example:

    >>> from keras_seeds import SeedStudy
    >>> study = SeedStudy([0.8, 0.9, 0.85], test_scores=[0.79, 0.88, 0.86], metric="acc")
    >>> val_vs_test(study).axes[0].get_ylabel()
    'test_acc'

    With per-example correctness on both sets, the plot also marks what the
    test-set noise model expects (:meth:`keras_seeds.SeedStudy.noise`):

    >>> rng = np.random.default_rng(0)
    >>> skill = rng.normal(0, 0.02, (20, 1))
    >>> val, test = (rng.random((20, 300)) < 0.85 + skill for _ in range(2))
    >>> study = SeedStudy(val.mean(axis=1), test_scores=test.mean(axis=1), correct=val,
    ...                   test_correct=test, metric="acc")
    >>> [t.get_text() for t in val_vs_test(study).axes[0].get_legend().get_texts()][1]
    'expected test score (noise model)'
    """
    from scipy import stats

    if study.test_scores is None:
        raise ValueError("this study has no test scores; pass `test_scores=` or "
                         "SeededModel.study(..., test_data=(x_test, y_test)).")

    metric = study.metric or "score"
    known = np.isfinite(study.test_scores)
    x, y = study.scores[known], study.test_scores[known]
    title = f"{metric}: validation vs test, {int(known.sum())} seeds"
    if known.sum() >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        title += f" (Spearman rho {stats.spearmanr(x, y).statistic:.2f})"
    figure, axes = _figure(title, metric, held_out_name(study.metric))
    axes.scatter(x, y, color=_LINE)
    for seed, xi, yi in zip(study.seeds[known], x, y):
        axes.annotate(str(seed), (xi, yi), xytext=(3, 3), textcoords="offset points",
                      fontsize="x-small")
    low, high = min(x.min(), y.min()), max(x.max(), y.max())
    axes.plot([low, high], [low, high], color="gray", linestyle=":", label="test = validation")
    if study.per_example is not None and study.test_per_example is not None and study.n >= 3:
        _mark_noise_model(axes, study, x)
    axes.legend(loc="best", fontsize="small")
    return figure


def _mark_noise_model(axes, study, x) -> None:
    """What the test-set noise model expects: the seeds share only their
    distribution-wise part, so the expected test score moves with the
    validation score by the validation set's reliability, and the test set
    adds independent noise of its own around that line (the band, +-1.96 std)."""
    from keras_seeds.statistics.noise import variance_parts

    observed, _, distribution = variance_parts(study.per_example)
    reliability = float(np.clip(distribution / observed, 0, 1)) if observed > 0 else 0.0
    grid = np.linspace(x.min(), x.max(), 50)
    line = np.mean(study.test_scores) + reliability * (grid - np.mean(study.scores))
    spread = 1.96 * np.sqrt(variance_parts(study.test_per_example)[1])
    axes.plot(grid, line, color=_MARK, label="expected test score (noise model)")
    axes.fill_between(grid, line - spread, line + spread, color=_MARK, alpha=0.12,
                      label="+-1.96 std of the test set's own noise")


def attribution(result):
    """Each source's variance across seeds (bars, with their intervals), the
    all-sources variance and the independent-errors floor (dashed lines) of an
    :class:`~keras_seeds.statistics.attribution.Attribution`.

    Example: see :func:`keras_seeds.statistics.attribution.attribute_variance`.
    """
    groups = [*result.sources, result.total]
    labels = [group.source if group is not result.total else "all sources" for group in groups]
    title = f"Which source of randomness moves {result.metric or 'the score'}?"
    figure, axes = _figure(title, "variance across seeds", "")
    positions = np.arange(len(groups))[::-1]
    values = np.array([group.variance for group in groups])
    errors = np.array([[group.variance - group.variance_ci[0], group.variance_ci[1]
                        - group.variance] for group in groups]).T
    colors = [_BAND] * len(result.sources) + [_LINE]
    axes.barh(positions, values, xerr=errors, color=colors, capsize=4,
              label=f"variance, {result.confidence_level:.0%} CI")
    for position, group in zip(positions, groups):
        if group.distribution_variance is not None:
            axes.plot(group.distribution_variance, position, marker="D", color=_MARK,
                      linestyle="none")
    if any(group.distribution_variance is not None for group in groups):
        axes.plot([], [], marker="D", color=_MARK, linestyle="none",
                  label="on the data distribution")
    axes.set_yticks(positions, labels)
    axes.axvline(result.total.variance, color=_LINE, linestyle="--", linewidth=1)
    if result.floor is not None:
        axes.axvline(result.floor, color="gray", linestyle=":",
                     label="finite-set noise of the all-sources runs")
    axes.legend(loc="best", fontsize="small")
    return figure


def ensembles_val_vs_test(validation, test, *, k: int, single_validation=None,
                          single_test=None, metric: str | None = None):
    """Validation against test score of k-seed ensembles, one dot each, and
    of the single seeds (k = 1) in another colour, as practitioners draw it:
    do ensembles that look good on validation stay good on test, and how far
    above the single seeds do they sit? Arrays in (from
    :func:`keras_seeds.statistics.ensembles.ensemble_points`); the dashed
    line is test = validation.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> figure = ensembles_val_vs_test(0.95 + rng.normal(0, 0.004, 50),
    ...                                0.94 + rng.normal(0, 0.004, 50), k=5,
    ...                                single_validation=0.92 + rng.normal(0, 0.01, 8),
    ...                                single_test=0.91 + rng.normal(0, 0.01, 8),
    ...                                metric="accuracy")
    >>> figure.axes[0].get_title(), figure.axes[0].get_xlabel()
    ('accuracy, validation vs test: 5-seed ensembles', 'accuracy')
    >>> [text.get_text() for text in figure.axes[0].get_legend().get_texts()][:2]
    ['5-seed ensembles (50)', 'single seeds (8)']
    """
    validation, test = _paired_points(validation, test, "validation", "test")
    singles = None
    if single_validation is not None or single_test is not None:
        singles = _paired_points(single_validation, single_test, "single_validation",
                                 "single_test")
    metric = metric or "score"
    title = f"{metric}, validation vs test: {k}-seed ensembles"
    figure, axes = _figure(title, metric, held_out_name(metric))
    axes.scatter(validation, test, s=14, color=_LINE, alpha=0.5,
                 label=f"{k}-seed ensembles ({validation.size})")
    everything = [validation, test]
    if singles is not None:
        axes.scatter(*singles, s=22, color=_MARK, marker="D",
                     label=f"single seeds ({singles[0].size})")
        everything += list(singles)
    low = min(float(values.min()) for values in everything)
    high = max(float(values.max()) for values in everything)
    axes.plot([low, high], [low, high], color="gray", linestyle=":", label="test = validation")
    axes.legend(loc="best", fontsize="small")
    return figure


def _paired_points(x, y, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` as two finite 1-D arrays of one length."""
    arrays = []
    for values, name in ((x, x_name), (y, y_name)):
        array = None if values is None else np.asarray(values, dtype=float)
        if array is None or array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
            raise ValueError(f"`{name}` must be a non-empty 1-D array of finite scores; "
                             f"received {name}={values!r}.")
        arrays.append(array)
    if arrays[0].size != arrays[1].size:
        raise ValueError(f"`{x_name}` and `{y_name}` must hold one score each per point; "
                         f"received {arrays[0].size} and {arrays[1].size}.")
    return arrays[0], arrays[1]
