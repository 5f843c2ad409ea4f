"""The seed-study report: tables and plots in one Markdown or HTML document.

The report is built once as a list of blocks (headings, paragraphs, tables,
figures) and rendered either as Markdown, with its PNG figures in a folder
beside it, or as one self-contained HTML file with the figures embedded.
Everything is written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from pathlib import Path

import numpy as np

from keras_seeds._files import write_directory_atomically, write_file_atomically
from keras_seeds.statistics import functions as statistics
from keras_seeds.statistics import plots
from keras_seeds.statistics.metric_names import curve_base, held_out_name

FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}
_EXPECTED_MAX_NS = (1, 2, 3, 5, 10, 20, 50, 100)


def number(value) -> str:
    """A statistic as text: 4 significant digits, NaN as "n/a".

    Example:

    >>> number(0.953125), number(float("nan")), number(12)
    ('0.9531', 'n/a', '12')
    """
    if isinstance(value, (int, np.integer)):
        return str(value)
    return "n/a" if not math.isfinite(value) else f"{value:.4g}"


def interval(pair) -> str:
    """``(low, high)`` as text."""
    return "n/a" if not math.isfinite(pair[0]) else f"{number(pair[0])} to {number(pair[1])}"


def reported_interval(result: dict, name: str) -> str:
    """``result[name]`` as text with its level, or why it is withheld
    (``result["withheld"]``), as :meth:`~keras_seeds.SeedStudy.summary` and
    ``test_agreement`` give them; the level is ``result["levels"][name]``,
    else ``result["confidence_level"]``.

    Example:

    >>> reported_interval({"iqm_ci": (0.5, 0.75), "confidence_level": 0.95, "withheld": {},
    ...                    "levels": {"iqm_ci": 0.93}}, "iqm_ci")
    '93% CI 0.5 to 0.75'
    >>> reported_interval({"iqm_ci": (float("nan"),) * 2, "confidence_level": 0.95,
    ...                    "withheld": {"iqm_ci": "needs 30 seeds"}}, "iqm_ci")
    '95% CI withheld: needs 30 seeds'
    """
    level = result.get("levels", {}).get(name, result["confidence_level"])
    reason = result.get("withheld", {}).get(name)
    return f"{level:.0%} CI " + (f"withheld: {reason}" if reason else interval(result[name]))


def black_swan_verdict(outlier: dict) -> str:
    """What a black swan (:meth:`~keras_seeds.SeedStudy.outliers`) is, judged
    against the finite evaluation set's noise when per-example values exist.

    Example:

    >>> print(black_swan_verdict({"set_z": -1.4, "beyond_set_noise": False}))
    a black swan on this set; within what the set's noise alone gives (1.4 stds of it)
    >>> print(black_swan_verdict({"set_z": None, "beyond_set_noise": None}))
    an outlier by the median/MAD rule (no per-example values to judge the set's noise)
    """
    if outlier.get("beyond_set_noise") is None:
        return "an outlier by the median/MAD rule (no per-example values to judge the set's noise)"
    distance = f"{abs(outlier['set_z']):.1f} stds of it"
    if outlier["beyond_set_noise"]:
        return f"beyond what the set's noise alone gives ({distance})"
    return f"a black swan on this set; within what the set's noise alone gives ({distance})"


def build_blocks(study, title: str | None = None, **summary_kwargs) -> list[tuple]:
    """The report's content: ``("h1"|"h2"|"p", text)``, ``("table", header, rows)``
    and ``("figure", file name, PNG bytes, caption)`` blocks."""
    from keras_seeds import __version__

    metric = study.metric or "score"
    summary = study.summary(**summary_kwargs)
    n = study.n
    blocks: list[tuple] = [("h1", title or f"Seed study: {metric} over {n} seeds"
                            + (f" ({study.name})" if study.name else ""))]
    direction = "higher" if study.higher_is_better else "lower"
    headline = (f"Mean {metric} {number(summary['mean'])} over {n} seeds ({direction} is "
                f"better). Seeds alone move it from {number(summary['min'])} to "
                f"{number(summary['max'])}, a range of {number(summary['range'])}; "
                f"the best seed is {summary['best_seed']}, the worst {summary['worst_seed']}.")
    if math.isfinite(summary["mean_t_ci"][0]):
        headline += (f" The {summary['confidence_level']:.0%} confidence interval of the mean "
                     f"is {interval(summary['mean_t_ci'])} (t interval)")
        heavy = summary["mean_t_ci_heavy_tail_level"]
        headline += (f"; if seeds can be black swans (one in 16, five stds below the others) "
                     f"it covers {heavy:.0%}." if heavy < summary["confidence_level"] else ".")
    if summary["withheld"]:
        headline += (" Intervals that would not keep their level with this many seeds are "
                     "withheld: " + "; ".join(f"{name}, {reason}" for name, reason
                                             in summary["withheld"].items()) + ".")
    if study.dropped_seeds.size:
        headline += (f" {study.dropped_seeds.size} seed(s) with NaN scores were left out: "
                     f"{', '.join(map(str, study.dropped_seeds))}.")
    if study.discarded_seeds.size:
        headline += (f" {study.discarded_seeds.size} more seed(s) were discarded early, for "
                     f"scores in the worst fraction after the first epochs, and are not in "
                     f"these statistics (which therefore describe the seeds that survived).")
    if study.failed_seeds.size:
        headline += f" {study.failed_seeds.size} seed(s) failed and are left out."
    blocks.append(("p", headline))

    level = f"{summary['confidence_level']:.0%} CI"
    rows = [("seeds (n)", str(n)), ("left out (NaN)", str(summary["n_dropped"])),
            ("discarded early", str(summary["n_discarded"])),
            ("failed", str(summary["n_failed"])),
            ("mean", number(summary["mean"])),
            (f"{level} of the mean (t)", interval(summary["mean_t_ci"])),
            ("level of that interval with black-swan seeds",
             f"{summary['mean_t_ci_heavy_tail_level']:.0%}"
             if math.isfinite(summary["mean_t_ci_heavy_tail_level"]) else "n/a"),
            ("CI of the mean (bootstrap)", reported_interval(summary, "mean_ci")),
            ("std (ddof=1)", number(summary["std"])), ("sem", number(summary["sem"])),
            ("median", number(summary["median"])),
            ("IQM (25% trimmed mean)", number(summary["iqm"])),
            ("CI of the IQM (bootstrap)", reported_interval(summary, "iqm_ci")),
            ("min", number(summary["min"])), ("max", number(summary["max"])),
            ("range", number(summary["range"]))]
    rows += [(f"quantile {q:g}", number(v)) for q, v in summary["quantiles"].items()]
    blocks += [("h2", "Summary"), ("table", ("statistic", "value"), rows)]

    blocks += _noise_blocks(study, summary)

    blocks.append(("h2", "Black-swan seeds"))
    found = study.outliers()
    if found:
        blocks.append(("table", ("seed", metric, "robust z", "tail", "against the set's noise"),
                       [(str(o["seed"]), number(o["score"]), f"{o['z']:+.2f}", o["tail"],
                         black_swan_verdict(o)) for o in found]))
    else:
        blocks.append(("p", f"None: no seed's robust z-score (median/MAD) exceeds "
                            f"{statistics.OUTLIER_THRESHOLD}."))

    blocks.append(("h2", "Picking the best seed"))
    ns = [k for k in _EXPECTED_MAX_NS if k < n] + [n]
    mean = summary["mean"]
    sign = 1 if study.higher_is_better else -1
    blocks.append(("p", f"The expected best {metric} if you tried n seeds and reported the "
                        f"best, and how far that is from a typical seed, by two estimators: "
                        f"with replacement ({statistics.EXPECTED_MAX_ESTIMATORS['with_replacement']}) "
                        f"and without ({statistics.EXPECTED_MAX_ESTIMATORS['without_replacement']})."))
    best = {k: (study.expected_max(k), study.expected_max(k, "without_replacement")) for k in ns}
    blocks.append(("table", ("seeds tried", f"expected best {metric} (with replacement)",
                             "(without replacement)", "better than the mean by (without)"),
                   [(str(k), number(dodge), number(tang),
                     number(0.0 if k == 1 else sign * (tang - mean)))
                    for k, (dodge, tang) in best.items()]))

    if n >= 2 and summary["std"] > 0:
        width = summary["mean_t_ci"][1] - summary["mean_t_ci"][0]
        widths = [width / 2, width / 4]
        blocks += [("h2", "How many seeds"),
                   ("p", f"Seeds needed for a {level} of the mean (t interval) narrower "
                         f"than each width with probability 80%, allowing for the spread of "
                         f"these {n} seeds being uncertain itself (normal scores; about "
                         f"{statistics.HEAVY_TAILED_ASSURANCE:.0%} with heavy tails)."),
                   ("table", ("CI width", "seeds"),
                    [(number(w), str(study.seeds_needed(float(w), summary["confidence_level"])))
                     for w in widths])]

    if study.ensemble_score is not None:
        gain = study.ensemble_gain()
        blocks += [("h2", "Ensemble"),
                   ("table", ("", "value"), [(key.replace("_", " "), number(value))
                                             for key, value in gain.items()])]

    tested = study.test_scores is not None
    header = ["seed", metric] + ([held_out_name(study.metric)] if tested else [])
    order = np.argsort(-sign * study.scores, kind="stable")
    z = study.robust_z()
    blocks += [("h2", "Every seed"),
               ("table", tuple(header) + ("robust z",),
                [tuple([str(study.seeds[i]), number(study.scores[i])]
                       + ([number(study.test_scores[i])] if tested else [])
                       + [f"{z[i]:+.2f}"]) for i in order])]

    blocks.append(("h2", "Figures"))
    blocks.append(_figure("distribution.png", plots.distribution(study, summary),
                          f"Distribution of {metric} across seeds"))
    for base in _curve_bases(study):
        name = base if base in study.curves else f"val_{base}"
        blocks.append(_figure(f"curves_{base}.png", plots.curves(study, name),
                              f"{base} over epochs"))
    if n > 1:
        blocks.append(_figure("expected_max.png", plots.expected_max(study),
                              "Expected best score against seeds tried"))
    if study.test_scores is not None:
        blocks.append(_figure("val_vs_test.png", plots.val_vs_test(study),
                              "Validation against test score, per seed"))

    blocks += [("h2", "Method"),
               ("p", f"Bootstrap intervals: scipy.stats.bootstrap, {summary['method']}, "
                     f"{summary['n_resamples']} resamples, random_state "
                     f"{summary['random_state']}, withheld below the number of seeds at "
                     f"which they keep their level in simulation. Outliers: modified z-score "
                     f"(median and MAD, Iglewicz and Hoaglin), threshold "
                     f"{statistics.OUTLIER_THRESHOLD}, judged against the finite set's "
                     f"independent per-example errors when per-example values exist. "
                     f"Distribution-wise std: Bonett's (2006) interval of the variance less "
                     f"the finite set's part. Expected best of n: Dodge et al. "
                     f"2019 (with replacement) and Tang et al. 2020 (without). Made by keras-seeds {__version__}.")]
    return blocks


def _noise_blocks(study, summary: dict) -> list[tuple]:
    """Seed or evaluation set: the test-set noise analysis, when the study has
    per-example values, and whether the ranking carries over to test."""
    if study.per_example is None or study.n < 3:
        return []
    estimate = study.noise(confidence_level=summary["confidence_level"])
    level = f"{estimate.confidence_level:.0%} CI"

    def bounds(pair) -> str:
        return f"withheld: {estimate.withheld}" if estimate.withheld else interval(pair)

    blocks = [("h2", "Seed or evaluation set?"), ("p", estimate.sentence()),
              ("table", ("", "value"), [
                  (f"std between seeds on these {estimate.examples} examples",
                   number(estimate.observed_std)),
                  ("std from independent per-example errors (the finite set)",
                   number(estimate.independent_errors_std)),
                  ("share of the variance: the finite set", f"{estimate.finite_set_share:.0%}"),
                  ("share of the variance: seeds on the data distribution",
                   f"{estimate.distribution_share:.0%}"),
                  ("std between seeds on the data distribution", number(estimate.distribution_std)
                   + (" (clipped from a negative estimate)" if estimate.clipped else "")),
                  (f"{level} of that std (Bonett)", bounds(estimate.distribution_std_ci)),
                  ("reliability (distribution-wise share of the variance)",
                   f"{number(estimate.reliability)} ({level} "
                   f"{bounds(estimate.reliability_ci)})"),
                  (f"best seed ({estimate.best_seed}) over the median seed, on new data",
                   f"{number(estimate.best_gap)} ({level} {bounds(estimate.best_gap_ci)})"),
                  (f"P(best of {estimate.n} here is above the median on new data)",
                   f"{number(estimate.best_above_median)} ({level} "
                   f"{bounds(estimate.best_above_median_ci)})")])]
    if study.test_scores is not None and study.n >= 4:
        agreement = study.test_agreement(confidence_level=summary["confidence_level"])
        text = (f"Spearman's rank correlation of the seeds' validation and test scores is "
                f"{number(agreement['spearman'])} ({reported_interval(agreement, 'spearman_ci')}).")
        if agreement["expected"] is not None:
            text += (f" With this much noise on each set, the noise model expects about "
                     f"{number(agreement['expected'])}: the seeds share only their "
                     "distribution-wise part between the two sets.")
        blocks += [("h2", "Does the validation ranking carry over to test?"), ("p", text)]
    return blocks


def _curve_bases(study) -> list[str]:
    """What the learning-curve figures show: the study's metric and the loss."""
    bases = []
    for name in [study.metric or "", "loss", *study.curves]:
        base = curve_base(name)
        if base not in bases and (base in study.curves or f"val_{base}" in study.curves):
            bases.append(base)
    return bases[:2]


def _figure(name: str, figure, caption: str) -> tuple:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return ("figure", name, buffer.getvalue(), caption)


def to_markdown(blocks: list[tuple], figure_dir: str) -> str:
    """Renders blocks as Markdown; figures are linked as ``figure_dir/name``."""
    lines = []
    for block in blocks:
        kind = block[0]
        if kind == "h1":
            lines += [f"# {block[1]}", ""]
        elif kind == "h2":
            lines += [f"## {block[1]}", ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines.append("| " + " | ".join(map(_cell, header)) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
            lines.append("")
        elif kind == "figure":
            lines += [f"![{block[3]}]({figure_dir}/{block[1]})", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_html(blocks: list[tuple]) -> str:
    """Renders blocks as one HTML page with the figures embedded (base64 PNG)."""
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                           for row in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "figure":
            data = base64.b64encode(block[2]).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(block[3])}" '
                        f'src="data:image/png;base64,{data}"><figcaption>'
                        f"{html.escape(block[3])}</figcaption></figure>")
    title = html.escape(blocks[0][1])
    style = ("body{font-family:sans-serif;max-width:52em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
             "padding:.2em .6em;text-align:right}img{max-width:100%}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(study, path, title: str | None = None, **summary_kwargs) -> Path:
    """Writes ``study``'s report to ``path``: ``.md`` (figures in
    ``<stem>_figures/`` beside it) or ``.html`` (self-contained). Returns the path."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a file path (str or os.PathLike); received "
                        f"path={path!r}.")
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"`path` must end in {', '.join(FORMATS)} (the report's format); "
                         f"received path='{path}'.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"`path`: directory '{path.parent}' does not exist "
                                f"(path='{path}').")
    blocks = build_blocks(study, title=title, **summary_kwargs)
    if kind == "html":
        text = to_html(blocks)
    else:
        figure_dir = f"{path.stem}_figures"

        def write_figures(directory):
            os.makedirs(directory)
            for block in blocks:
                if block[0] == "figure":
                    Path(directory, block[1]).write_bytes(block[2])

        write_directory_atomically(path.parent / figure_dir, write_figures)
        text = to_markdown(blocks, figure_dir)
    write_file_atomically(path, lambda handle: handle.write(text))
    return path
