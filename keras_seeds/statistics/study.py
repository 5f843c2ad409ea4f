"""SeedStudy: how much of a score is the seed, and does a change beat seed noise.

A study holds one score per seed (validation accuracy of K replicas, say) and
answers what a careful reviewer asks: the spread and its confidence intervals
(:meth:`SeedStudy.summary`), the black-swan seeds (:meth:`SeedStudy.outliers`),
how much picking the best seed inflates a result (:meth:`SeedStudy.expected_max`),
how many seeds a claim needs (:meth:`SeedStudy.seeds_needed`), what the
ensemble gains, and whether one setup beats another beyond seed noise
(:func:`~keras_seeds.statistics.compare.compare`). The statistics themselves are in
:mod:`keras_seeds.statistics.functions`; the plots in :mod:`keras_seeds.statistics.plots`;
from how many seeds each interval is given, and its level, in
:mod:`keras_seeds.statistics.interval_levels`; the JSON form of a study in
:mod:`keras_seeds.statistics.study_json`.

Imports neither Keras nor TensorFlow: a saved study is read, summarised and
reported anywhere.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np
from scipy import stats

from keras_seeds._validation import check_choice, check_int
from keras_seeds.seeding.contract import check_seed_list
from keras_seeds.statistics import functions as statistics
from keras_seeds.statistics import noise as test_set_noise
from keras_seeds.statistics.functions import OUTLIER_THRESHOLD, SeedStudyWarning  # noqa: F401
from keras_seeds.statistics.interval_levels import (  # noqa: F401 (re-exported: public path)
    HEAVY_TAIL_STUDIES,
    INTERVAL_MIN_SEEDS,
    INTERVAL_MISS_RATIO,
    INTERVAL_NAMES,
    SPEARMAN_CI_MIN_SEEDS,
    interval_level,
    spearman_interval,
    t_interval_heavy_tail_level,
)
from keras_seeds.statistics.metric_names import (
    default_metric,
    held_out_name,
    is_higher_better,
    replica_curves,
)
from keras_seeds.statistics.noise import (
    NoiseEstimate,
    check_correct,
    check_per_example,
    rows_match_scores,
)
from keras_seeds.statistics.study_json import (  # noqa: F401 (re-exported: public path)
    FORMAT,
    load_study,
    save_study,
    study_from_dict,
    study_to_dict,
)

DEFAULT_QUANTILES = (0.05, 0.25, 0.75, 0.95)
TAILS = ("both", "worse", "better")


class SeedStudy:
    """Scores of one setup across seeds, and what they say about seed luck.

    Args:
        scores: one score per seed (a sequence of numbers), or a mapping
            ``{seed: score}``. NaN (or ``None``) scores, from diverged runs, are
            dropped with a :class:`SeedStudyWarning` and listed in
            ``dropped_seeds``.
        seeds: the seed of each score, distinct ints in ``[0, 2**32 - 1]``;
            default ``0 .. n-1``. Not allowed with a mapping.
        metric: the score's name (``"val_accuracy"``), used in reports.
        higher_is_better: ``False`` for losses and errors: "best seed",
            ``expected_max``, the black-swan tail and ``compare`` follow it.
        name: a name for the setup, used by ``compare`` and reports.
        test_scores: each seed's score on a second, held-out set (same order),
            for the validation-vs-test plot.
        curves: ``{name: array (epochs, seeds)}``: per-epoch values of each seed
            (learning curves).
        ensemble_score: the score of the seeds' ensemble, for ``ensemble_gain``.
        diversity: how differently the members predict
            (:func:`keras_seeds.statistics.member_diversity`).
        correct: per-example correctness on the evaluation set the scores
            were computed on: 0/1 (or bool) of shape ``(seeds, examples)``,
            one row per score, for :meth:`noise`. Only for accuracy-type
            scores: the mean of each row must be its score.
        test_correct: the same on the test split (with ``test_scores``).
        per_example: instead of ``correct``, any per-example values whose
            row means are the scores, ``(seeds, examples)``: squared errors
            for an MSE, absolute errors for an MAE, per-example losses for a
            mean loss (within float16 rounding, the precision a store keeps).
            For an RMSE, study the MSE (the scores squared) with the squared
            errors.
        test_per_example: the same on the test split.

    Attributes:
        scores, seeds: NumPy arrays in the same order (dropped seeds removed).
        per_example, test_per_example: ``(seeds, examples)`` arrays (boolean
            for correctness, else float64) or ``None``.
        correct, test_correct: ``per_example`` and ``test_per_example`` when
            they are correctness, else ``None``.
        dropped_seeds: seeds whose score was NaN.
        discarded_seeds, failed_seeds: seeds of a store's sweep stopped early
            or failed (:meth:`from_store`); empty otherwise.

    Example:

    >>> import keras_seeds as ks
    >>> study = ks.SeedStudy([0.91, 0.93, 0.92, 0.80, 0.92], seeds=[1, 2, 3, 4, 5],
    ...                      metric="val_accuracy")
    >>> round(study.summary()["mean"], 3), study.summary()["worst_seed"]
    (0.896, 4)
    >>> [o["seed"] for o in study.outliers()]
    [4]
    >>> round(study.expected_max(3), 4)
    0.9234
    >>> study.n, study.robust_z().round(1).tolist()  # seed 4 is 8 robust SDs below
    (5, [-0.7, 0.7, 0.0, -8.1, 0.0])
    """

    def __init__(self, scores, seeds=None, metric: str | None = None,
                 higher_is_better: bool = True, *, name: str | None = None,
                 test_scores=None, curves: Mapping | None = None,
                 ensemble_score: float | None = None, diversity: Mapping | None = None,
                 correct=None, test_correct=None, per_example=None, test_per_example=None):
        if isinstance(scores, Mapping):
            if seeds is not None:
                raise ValueError("`seeds` must be None when `scores` is a mapping "
                                 "{seed: score}; the keys are the seeds.")
            seeds, scores = list(scores.keys()), list(scores.values())
        scores = _numbers(scores, "scores")
        if scores.size == 0:
            raise ValueError("`scores` is empty; a study needs at least one score.")
        seeds = np.arange(scores.size) if seeds is None else np.asarray(
            check_seed_list(seeds, "seeds"), dtype=np.int64)
        if seeds.size != scores.size:
            raise ValueError(f"`seeds` and `scores` must have the same length; received "
                             f"{seeds.size} seeds and {scores.size} scores.")
        if metric is not None and not isinstance(metric, str):
            raise TypeError(f"`metric` must be a str or None; received metric={metric!r}.")
        if not isinstance(higher_is_better, (bool, np.bool_)):
            raise TypeError("`higher_is_better` must be True or False; received "
                            f"higher_is_better={higher_is_better!r}.")
        if test_scores is not None:
            test_scores = _numbers(test_scores, "test_scores")
            if test_scores.size != scores.size:
                raise ValueError(f"`test_scores` must hold one score per seed ({scores.size});"
                                 f" received {test_scores.size}.")
        curves = {str(k): _curve(v, k, scores.size) for k, v in (curves or {}).items()}
        if ensemble_score is not None:
            ensemble_score = float(_numbers([ensemble_score], "ensemble_score")[0])

        per_example = _per_example(correct, per_example, "", scores, higher_is_better, metric)
        if (test_correct is not None or test_per_example is not None) and test_scores is None:
            name = "test_correct" if test_correct is not None else "test_per_example"
            raise ValueError(f"`{name}` needs `test_scores`: the per-example values on the test "
                             "split go with the seeds' test scores.")
        test_per_example = _per_example(test_correct, test_per_example, "test_", test_scores,
                                        higher_is_better, metric)
        kept = np.isfinite(scores)
        if not kept.any():
            raise ValueError(f"`scores`: every score is NaN or infinite ({scores.size} "
                             "seeds); there is nothing to study.")
        self.dropped_seeds = seeds[~kept]
        # Seeds a sweep stopped early or that failed (SeedStudy.from_store).
        self.discarded_seeds = np.array([], dtype=np.int64)
        self.failed_seeds = np.array([], dtype=np.int64)
        if self.dropped_seeds.size:
            statistics.warn(
                f"SeedStudy: dropped {self.dropped_seeds.size} NaN or infinite score(s) "
                f"(seeds {', '.join(map(str, self.dropped_seeds))}); the statistics use "
                f"the other {int(kept.sum())}.")
        self.scores = scores[kept]
        self.seeds = seeds[kept]
        self.metric = metric
        self.higher_is_better = bool(higher_is_better)
        self.name = name
        self.test_scores = None if test_scores is None else test_scores[kept]
        self.curves = {k: v[:, kept] for k, v in curves.items()}
        self.ensemble_score = ensemble_score
        self.diversity = None if diversity is None else {
            str(k): math.nan if v is None else float(v) for k, v in diversity.items()}
        self.per_example = None if per_example is None else per_example[kept]
        self.test_per_example = None if test_per_example is None else test_per_example[kept]
        # noise() by its arguments: summary, report, test_agreement and the
        # val-vs-test plot ask for the same bootstrap.
        self._noise: dict = {}

    # ------------------------------------------------------------ basics
    @property
    def correct(self) -> np.ndarray | None:
        """Per-example correctness, ``(seeds, examples)`` bool, or ``None`` (no
        per-example values, or values that are not 0/1).

        Example:

        >>> study = SeedStudy([0.5, 1.0], correct=[[1, 0], [1, 1]])
        >>> study.correct.tolist(), SeedStudy([0.5, 1.0], per_example=[[0.2, 0.8], [1, 1]]).correct
        ([[True, False], [True, True]], None)
        """
        return _if_correctness(self.per_example)

    @property
    def test_correct(self) -> np.ndarray | None:
        """``correct`` on the test split.

        Example:

        >>> SeedStudy([0.5, 1.0], test_scores=[1.0, 0.5],
        ...           test_correct=[[1, 1], [0, 1]]).test_correct.sum(axis=1).tolist()
        [2, 1]
        """
        return _if_correctness(self.test_per_example)

    @property
    def n(self) -> int:
        """The number of seeds with a score."""
        return int(self.scores.size)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        spread = f", std={np.std(self.scores, ddof=1):.4g}" if self.n > 1 else ""
        return (f"SeedStudy({self.metric or 'score'}: n={self.n}, "
                f"mean={np.mean(self.scores):.4g}{spread})")

    def _signed(self) -> np.ndarray:
        """Scores with larger always better."""
        return self.scores if self.higher_is_better else -self.scores

    # ------------------------------------------------------- statistics
    def summary(self, confidence_level: float = 0.95, n_resamples: int = 9999,
                random_state=0, quantiles: Sequence[float] = DEFAULT_QUANTILES,
                method: str = "BCa") -> dict[str, Any]:
        """The numbers a reviewer asks for.

        ``std`` and ``sem`` are sample statistics (``ddof=1``); ``iqm`` is the
        25%-trimmed mean; ``quantiles`` are NumPy's (linear). ``mean_t_ci`` is
        Student's t interval of the mean, the one reports lead with.
        ``mean_ci`` and ``iqm_ci`` are ``scipy.stats.bootstrap`` intervals
        (``method``, BCa by default) drawn with ``random_state``: the same
        ``random_state`` gives the same intervals, in any process.

        Every interval is given only from the number of seeds at which it
        keeps its level in simulation (``benchmarks/calibration/summary.py``:
        normal, t(4), black-swan and logistic scores, 3 to 64 seeds; the
        numbers are in ``INTERVAL_MIN_SEEDS``): below, it is NaN and
        ``withheld`` maps its name to the reason; ``levels`` maps each given
        interval to the level it has (:func:`interval_level`:
        ``confidence_level``, except the IQM's, which misses 1.4 times as
        often: 93% at a nominal 95%). A bootstrap interval cannot
        reach 95% with 5 seeds or fewer at all: the most extreme resample
        means are the lowest and highest score, and the true mean lies
        outside them with probability ``2 * 0.5**n`` (6.25% at 5). The BCa
        interval of the mean covers 88-93% under heavy tails up to 100 seeds
        (the t interval is the one to read); that of the IQM 92-93% of normal
        scores at 20 seeds and 93-94% from 30, where it is given as a 93%
        interval.

        The t interval keeps ``confidence_level`` for near-normal scores;
        under heavy tails it keeps ``mean_t_ci_heavy_tail_level``
        (:func:`t_interval_heavy_tail_level`: 91-92% with 8 to 30 seeds, when
        one seed in 16 can be a black swan), which reports state next to it.

        With per-example values (``per_example``) and 3 seeds or more,
        ``noise`` is :meth:`noise`'s sentence: how much of the spread is the
        finite evaluation set.

        With 1 seed, ``std`` and ``sem`` are NaN too. A
        :class:`SeedStudyWarning` says what is missing with fewer than 3 seeds.

        Example:

        >>> s = SeedStudy([0.80, 0.82, 0.85, 0.90]).summary()
        >>> s["n"], round(s["median"], 3), round(s["range"], 2), s["best_seed"]
        (4, 0.835, 0.1, 3)
        >>> [round(end, 3) for end in s["mean_t_ci"]], sorted(s["withheld"])
        ([0.773, 0.912], ['iqm_ci', 'mean_ci'])
        >>> print(s["withheld"]["mean_ci"])
        a bootstrap interval of the mean keeps its level from 200 seeds; this study has 4
        """
        confidence_level = statistics.check_confidence_level(confidence_level)
        scores, n = self.scores, self.n
        nan_pair = (math.nan, math.nan)
        signed = self._signed()
        result = {
            "n": n, "n_dropped": int(self.dropped_seeds.size),
            "n_discarded": int(self.discarded_seeds.size),
            "n_failed": int(self.failed_seeds.size),
            "mean": float(np.mean(scores)),
            "std": float(np.std(scores, ddof=1)) if n > 1 else math.nan,
            "sem": float(np.std(scores, ddof=1) / np.sqrt(n)) if n > 1 else math.nan,
            "median": float(np.median(scores)),
            "iqm": float(statistics.iqm(scores)),
            "min": float(np.min(scores)), "max": float(np.max(scores)),
            "range": float(np.ptp(scores)),
            "quantiles": {float(q): float(np.quantile(scores, q)) for q in quantiles},
            "best_seed": int(self.seeds[np.argmax(signed)]),
            "worst_seed": int(self.seeds[np.argmin(signed)]),
            "mean_ci": nan_pair, "iqm_ci": nan_pair, "mean_t_ci": nan_pair,
            "confidence_level": confidence_level, "n_resamples": n_resamples,
            "random_state": (int(random_state) if isinstance(random_state, numbers.Integral)
                             else None),
            "method": method, "levels": {}, "withheld": {},
        }
        interval = dict(confidence_level=confidence_level, n_resamples=n_resamples,
                        random_state=random_state, method=method)
        computations = {
            "mean_t_ci": lambda: statistics.t_interval(scores, confidence_level),
            "mean_ci": lambda: statistics.bootstrap_interval(scores, np.mean, **interval),
            "iqm_ci": lambda: statistics.bootstrap_interval(scores, statistics.iqm, **interval),
        }
        result["mean_t_ci_heavy_tail_level"] = (
            t_interval_heavy_tail_level(n, confidence_level) if n >= 2 else math.nan)
        for name, compute in computations.items():
            fewest = INTERVAL_MIN_SEEDS[name]
            if n >= fewest:
                result[name] = compute()
                result["levels"][name] = interval_level(name, confidence_level)
            else:
                result["withheld"][name] = (f"{INTERVAL_NAMES[name]} keeps its level from "
                                            f"{fewest} seeds; this study has {n}")
        if n < 3:
            statistics.warn(
                "SeedStudy.summary: 1 seed: std, sem and every interval need more seeds; "
                "they are NaN." if n == 1 else
                "SeedStudy.summary: 2 seeds: the bootstrap intervals need more seeds; "
                "they are NaN (mean_t_ci is given).")
        if self.per_example is not None and n >= 3:
            result["noise"] = self.noise(confidence_level=confidence_level).sentence()
        return result

    def robust_z(self) -> np.ndarray:
        """Each seed's modified z-score (:func:`keras_seeds.statistics.robust_z`),
        positive = better than the median whichever way the metric points.

        Example: see :class:`SeedStudy`.
        """
        return statistics.robust_z(self._signed())

    def outliers(self, threshold: float = OUTLIER_THRESHOLD, tail: str = "both") -> list[dict]:
        """The black-swan seeds: ``|robust z| > threshold`` (3.5, Iglewicz & Hoaglin).

        The robust z-score uses the median and the median absolute deviation,
        so the outliers cannot hide themselves by inflating the spread. With
        per-example values (``per_example``, 3 seeds or more), each outlier
        is also judged against what the finite evaluation set alone would
        produce (:func:`keras_seeds.statistics.noise.set_noise_z`): its
        distance from the other seeds' median in stds of the independent
        per-example errors. Beyond ``threshold`` there, the seed differs
        beyond the set's noise; within it, it stands out only on this set.

        Args:
            threshold: the ``|z|`` above which a seed is an outlier (both rules).
            tail: ``"worse"`` (black swans), ``"better"`` (lucky seeds) or ``"both"``.

        Returns:
            ``[{"seed", "score", "z", "tail", "set_z", "beyond_set_noise"}, ...]``,
            most extreme first; ``z > 0`` and ``tail == "better"`` mean better
            than the median. ``set_z`` and ``beyond_set_noise`` are ``None``
            without per-example values.

        Example:

        >>> SeedStudy([0.9, 0.91, 0.9, 0.92, 0.1], seeds=[5, 6, 7, 8, 9]).outliers()[0]["seed"]
        9

        Seven seeds right on 269 to 271 of 300 examples and one on 262 (errors
        at random places): a black swan by the median/MAD rule, but 8 examples
        are 1.4 stds of what independent per-example errors give:

        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> counts = [270, 270, 271, 270, 269, 270, 270, 262]
        >>> correct = np.array([rng.permutation(300) < count for count in counts])
        >>> study = SeedStudy(correct.mean(axis=1), correct=correct)
        >>> [(o["seed"], round(o["z"], 1), round(o["set_z"], 1), o["beyond_set_noise"])
        ...  for o in study.outliers()]
        [(7, -5.1, -1.4, False)]
        """
        check_choice(tail, "tail", TAILS)
        if isinstance(threshold, bool) or not (isinstance(threshold, numbers.Real)
                                               and threshold > 0):
            raise ValueError(f"`threshold` must be a positive number; received "
                             f"threshold={threshold!r}.")
        z = self.robust_z()
        set_z = None
        if self.per_example is not None and self.n >= 3:
            sign = 1.0 if self.higher_is_better else -1.0
            set_z = sign * test_set_noise.set_noise_z(self.per_example)
        found = []
        for index in np.argsort(-np.abs(z), kind="stable"):
            side = "better" if z[index] > 0 else "worse"
            if abs(z[index]) > threshold and tail in ("both", side):
                found.append({"seed": int(self.seeds[index]), "score": float(self.scores[index]),
                              "z": float(z[index]), "tail": side,
                              "set_z": None if set_z is None else float(set_z[index]),
                              "beyond_set_noise": (None if set_z is None else
                                                   bool(abs(set_z[index]) > threshold))})
        return found

    def expected_max(self, n=None, estimator: str = "with_replacement"):
        """The expected best score if you tried ``n`` seeds and kept the best:
        how much "picking the best seed" inflates a result.

        Args:
            n: a number of seeds (int), or ``None`` for the curve ``n = 1..N``.
            estimator: ``"with_replacement"`` (Dodge et al. 2019: ``n`` draws
                from the observed seeds, any ``n``) or ``"without_replacement"``
                (Tang et al. 2020: ``n`` distinct observed seeds, the unbiased
                estimate of ``n`` fresh seeds' best, ``n <= N``); see
                :func:`keras_seeds.statistics.expected_max`.

        Returns:
            A float for an int ``n``; an array of ``N`` values for ``None``.
            ``n = 1`` is the mean; "best" is the minimum when
            ``higher_is_better=False``.

        Example:

        >>> SeedStudy([0.80, 0.82, 0.85, 0.90]).expected_max().round(4)
        array([0.8425, 0.8631, 0.8748, 0.8822])
        >>> SeedStudy([0.80, 0.82, 0.85, 0.90]).expected_max(
        ...     estimator="without_replacement").round(4)
        array([0.8425, 0.87  , 0.8875, 0.9   ])
        """
        if n is None:
            return np.array([self.expected_max(k, estimator) for k in range(1, self.n + 1)])
        n = check_int(n, "n", minimum=1, constraint="an int >= 1 (a number of seeds)")
        return statistics.expected_max(self.scores, n, self.higher_is_better, estimator)[0]

    def seeds_needed(self, width: float, confidence_level: float = 0.95,
                     assurance: float = 0.8) -> int:
        """How many seeds make the t confidence interval of the mean narrower than
        ``width`` (full width, in the metric's units) with probability
        ``assurance``: :func:`keras_seeds.statistics.seeds_needed` with this
        study's sample std as a pilot of ``n`` seeds, so the answer allows for
        that std being uncertain too. The probability holds over this pilot and
        the planned study together, for normal scores; with heavy tails (t(4)
        scores, or one black-swan seed in 16) it is about 0.7 when 0.8 is asked.

        Example:

        >>> SeedStudy([0.80, 0.82, 0.85, 0.90]).seeds_needed(width=0.02)
        220
        """
        if not (isinstance(width, numbers.Real) and width > 0):
            raise ValueError(f"`width` must be a positive number; received width={width!r}.")
        if self.n < 2:
            raise ValueError("seeds_needed: a study of 1 seed has no spread to go by; "
                             "it needs at least 2 scores.")
        return statistics.seeds_needed(float(np.std(self.scores, ddof=1)), float(width),
                                       statistics.check_confidence_level(confidence_level),
                                       assurance=assurance, pilot_seeds=self.n)

    def ensemble_gain(self) -> dict[str, float]:
        """What the ensemble of the seeds gains over its members.

        ``over_mean`` and ``over_best`` are positive when the ensemble is
        better (whichever way the metric points) than the mean member and the
        best member; the diversity measures are included when known.

        Example:

        >>> study = SeedStudy([0.90, 0.92], ensemble_score=0.95)
        >>> {k: round(v, 3) for k, v in study.ensemble_gain().items()}
        {'ensemble': 0.95, 'mean_member': 0.91, 'best_member': 0.92, 'over_mean': 0.04,
         'over_best': 0.03}
        """
        if self.ensemble_score is None:
            raise ValueError("ensemble_gain: this study has no ensemble score; make it with "
                             "SeededModel.study(...) or pass `ensemble_score=`.")
        sign = 1.0 if self.higher_is_better else -1.0
        mean, best = float(np.mean(self.scores)), float(sign * np.max(self._signed()))
        return {"ensemble": self.ensemble_score, "mean_member": mean, "best_member": best,
                "over_mean": sign * (self.ensemble_score - mean),
                "over_best": sign * (self.ensemble_score - best),
                **(self.diversity or {})}

    # ------------------------------------------------- seed or test set?
    def noise(self, n: int | None = None, split: str = "validation",
              confidence_level: float = 0.95, method: str = "bonett",
              n_resamples: int = 9999, random_state=0) -> NoiseEstimate:
        """How much of the spread between seeds is this finite evaluation set,
        and how much the seeds differ on the data distribution (Jordan, ICLR
        2024): :func:`keras_seeds.statistics.noise.noise_estimate` of
        ``per_example`` (or ``test_per_example`` with ``split="test"``), the
        per-example correctness of an accuracy or the per-example values of
        any score that is their mean (an MSE, an MAE, a mean loss).

        Args:
            n: the number of seeds the best is picked from, for
                ``best_above_median`` (default: this study's seeds).
            split: ``"validation"`` or ``"test"``.
            confidence_level, method: of the intervals
                (:func:`keras_seeds.statistics.noise.distribution_variance_interval`:
                Bonett's by default, which keeps its level from 3 seeds in
                ``benchmarks/calibration/noise.py``).
            n_resamples, random_state: of ``method="percentile"`` only.

        Returns:
            A :class:`~keras_seeds.statistics.noise.NoiseEstimate`:
            ``observed_std``, ``independent_errors_std``, the shares of the
            variance, ``distribution_std`` with ``distribution_std_ci``, and
            what they mean for the best seed; ``.sentence()`` says it in words.

        Example (seeds that differ only in which examples they get wrong):

        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> correct = rng.random((40, 360)) < 0.9
        >>> study = SeedStudy(correct.mean(axis=1), metric="val_accuracy", correct=correct)
        >>> estimate = study.noise()
        >>> round(estimate.observed_std / estimate.independent_errors_std, 1)
        1.0
        >>> estimate.distribution_std_ci[0]
        0.0
        """
        check_choice(split, "split", ("validation", "test"))
        values = self.per_example if split == "validation" else self.test_per_example
        if values is None:
            prefix = "" if split == "validation" else "test_"
            raise ValueError(
                f"`{prefix}per_example`: this study has no per-example values on its {split} "
                f"data; make it with SeededModel.study or sweep (a store keeps an accuracy's "
                f"per-example correctness, and a loss score's per-example losses) or pass "
                f"`{prefix}correct=` (0/1) or `{prefix}per_example=` (values whose means are "
                f"the scores).")
        if self.n < 3:
            raise ValueError(f"`per_example`: the noise analysis needs at least 3 seeds; this "
                             f"study has {self.n}.")
        key = (split, n, confidence_level, method, n_resamples, random_state)
        cacheable = isinstance(random_state, (int, np.integer)) and not isinstance(
            random_state, bool)
        if cacheable and key in self._noise:
            return self._noise[key]
        estimate = test_set_noise.noise_estimate(
            values, seeds=self.seeds, n=n, confidence_level=confidence_level, method=method,
            n_resamples=n_resamples, random_state=random_state, split=split,
            higher_is_better=self.higher_is_better)
        if cacheable:
            self._noise[key] = estimate
        return estimate

    def test_agreement(self, confidence_level: float = 0.95) -> dict[str, Any]:
        """Whether the seeds' ranking on the validation data carries over to
        the test data: Spearman's rank correlation of the two scores across
        seeds with its confidence interval, and (with per-example values on
        both splits) the correlation the test-set noise alone allows
        (:func:`keras_seeds.statistics.noise.expected_rank_correlation`).

        The interval is Fisher's z with Bonett and Wright's (2000) standard
        error for Spearman's rho, ``tanh(atanh(r) +- z sqrt((1 + r**2 / 2) /
        (S - 3)))``. It keeps its level from 10 seeds in simulation
        (bivariate normal scores, correlations 0 to 0.8, and the logistic
        validation/test scenario of ``benchmarks/calibration/noise.py``);
        with fewer it is withheld (NaN) and ``withheld`` says why: a
        percentile bootstrap there covers far less than it claims.

        Returns:
            ``{"spearman", "spearman_ci", "expected", "confidence_level",
            "withheld"}``; ``withheld`` maps a withheld interval's name to
            the reason.

        Example:

        >>> study = SeedStudy([0.90, 0.80, 0.85, 0.87], metric="acc",
        ...                   test_scores=[0.88, 0.81, 0.86, 0.83])
        >>> agreement = study.test_agreement()
        >>> round(agreement["spearman"], 2), agreement["expected"], agreement["spearman_ci"]
        (0.8, None, (nan, nan))
        >>> print(agreement["withheld"]["spearman_ci"])
        the interval of Spearman's rho keeps its level from 10 seeds; this study has 4
        """
        if self.test_scores is None:
            raise ValueError("test_agreement: this study has no `test_scores`; give the "
                             "sweep a test split (or SeededModel.study `test_data=`).")
        confidence_level = statistics.check_confidence_level(confidence_level)
        rho = float(stats.spearmanr(self.scores, self.test_scores).statistic)
        interval, withheld = (math.nan, math.nan), {}
        if self.n >= SPEARMAN_CI_MIN_SEEDS:
            interval = spearman_interval(rho, self.n, confidence_level)
        else:
            withheld["spearman_ci"] = (f"the interval of Spearman's rho keeps its level from "
                                       f"{SPEARMAN_CI_MIN_SEEDS} seeds; this study has {self.n}")
        expected = None
        if (self.per_example is not None and self.test_per_example is not None
                and self.n >= 3):
            expected = test_set_noise.expected_rank_correlation(self.noise(),
                                                                self.noise(split="test"))
        return {"spearman": rho, "spearman_ci": interval, "expected": expected,
                "confidence_level": confidence_level, "withheld": withheld}

    # ------------------------------------------------------------ plots
    def plot_distribution(self, path=None, **summary_kwargs):
        """Histogram and density of the scores, mean and its CI, outliers
        labelled with their seeds. Returns the matplotlib Figure (saved as
        PNG when ``path`` is given); the other ``plot_*`` methods likewise.

        Example:

        >>> figure = SeedStudy([0.91, 0.93, 0.92, 0.80], seeds=[1, 2, 3, 4]).plot_distribution()
        >>> [text.get_text() for text in figure.axes[0].texts]
        ['seed 4']
        """
        from keras_seeds.statistics import plots

        return plots.save(plots.distribution(self, **summary_kwargs), path)

    def plot_curves(self, name: str | None = None, path=None):
        """Learning curves over epochs: mean, +-1 std band and min-max band
        across seeds. ``name`` defaults to the study's metric.

        Example:

        >>> history = {"loss_replica_0": [0.9, 0.5], "loss_replica_1": [0.8, 0.6],
        ...            "val_loss_replica_0": [1.0, 0.7], "val_loss_replica_1": [0.9, 0.8]}
        >>> figure = SeedStudy.from_history(history, "val_loss").plot_curves()
        >>> axes = figure.axes[0]
        >>> axes.get_title(), [text.get_text() for text in axes.get_legend().get_texts()][::3]
        ('loss over epochs, 2 seeds', ['train min-max', 'validation min-max'])
        """
        from keras_seeds.statistics import plots

        return plots.save(plots.curves(self, name), path)

    def plot_expected_max(self, path=None):
        """The expected best score against the number of seeds tried.

        Example:

        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     figure = SeedStudy([0.80, 0.82, 0.85, 0.90], metric="acc").plot_expected_max(
        ...         os.path.join(folder, "expected_max.png"))
        ...     print(os.listdir(folder))
        ['expected_max.png']
        >>> figure.axes[0].get_title()
        'Expected best acc of n seeds'
        """
        from keras_seeds.statistics import plots

        return plots.save(plots.expected_max(self), path)

    def plot_val_vs_test(self, path=None):
        """Each seed's score against its test score (needs ``test_scores``).

        Example:

        >>> study = SeedStudy([0.90, 0.80, 0.85], seeds=[4, 2, 7], metric="acc",
        ...                   test_scores=[0.88, 0.81, 0.86])
        >>> study.plot_val_vs_test().axes[0].get_title()
        'acc: validation vs test, 3 seeds (Spearman rho 1.00)'
        """
        from keras_seeds.statistics import plots

        return plots.save(plots.val_vs_test(self), path)

    def report(self, path, title: str | None = None, **summary_kwargs) -> None:
        """Writes a report: ``.md`` (with its PNG figures in ``<stem>_figures/``)
        or ``.html`` (one self-contained file, figures embedded).

        Example:

        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> SeedStudy([0.91, 0.93, 0.92, 0.80]).report(os.path.join(folder, "report.md"))
        >>> sorted(os.listdir(os.path.join(folder, "report_figures")))
        ['distribution.png', 'expected_max.png']
        """
        from keras_seeds.statistics.report import write_report

        write_report(self, path, title=title, **summary_kwargs)

    # --------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as ``None``); :meth:`from_dict` reads it back.

        Example:

        >>> SeedStudy({7: 0.9, 3: 0.8}).to_dict()["seeds"]
        [7, 3]
        """
        return study_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> SeedStudy:
        """The study :meth:`to_dict` described.

        Example:

        >>> import json
        >>> text = json.dumps(SeedStudy([0.9, 0.8], seeds=[4, 2], metric="acc",
        ...                             name="mlp").to_dict())
        >>> study = SeedStudy.from_dict(json.loads(text))
        >>> study, study.name, study.seeds.tolist()
        (SeedStudy(acc: n=2, mean=0.85, std=0.07071), 'mlp', [4, 2])
        """
        return study_from_dict(data, cls)

    def save(self, path) -> None:
        """Writes :meth:`to_dict` as JSON to ``path``, atomically; every float
        reads back to the same bits.

        Example:

        >>> import os, tempfile
        >>> study = SeedStudy([0.1 + 0.2, 0.7], seeds=[3, 9], metric="acc")
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     study.save(os.path.join(folder, "study.json"))
        ...     again = SeedStudy.load(os.path.join(folder, "study.json"))
        >>> again.scores.tolist() == study.scores.tolist(), again.seeds.tolist()
        (True, [3, 9])
        """
        save_study(self, path)

    @classmethod
    def load(cls, path) -> SeedStudy:
        """Reads a study :meth:`save` wrote.

        Example:

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "study.json")
        >>> SeedStudy([0.9, 0.8], seeds=[4, 2], metric="acc").save(path)
        >>> SeedStudy.load(path)
        SeedStudy(acc: n=2, mean=0.85, std=0.07071)
        """
        return load_study(path, cls)

    def to_frame(self):
        """One row per seed (index ``seed``): the score, and the test score when
        known. Needs pandas (``pip install keras-seeds[pandas]``).

        Example:

        >>> study = SeedStudy([0.90, 0.80, 0.85], seeds=[4, 2, 7], metric="acc",
        ...                   test_scores=[0.88, 0.81, 0.86])
        >>> study.to_frame().round(2)
               acc  test_acc  robust_z
        seed
        4     0.90      0.88      0.67
        2     0.80      0.81     -0.67
        7     0.85      0.86      0.00
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("SeedStudy.to_frame needs pandas, which is not installed; "
                              "`pip install pandas` (or keras-seeds[pandas]).") from None
        columns = {self.metric or "score": self.scores}
        if self.test_scores is not None:
            columns[held_out_name(self.metric)] = self.test_scores
        columns["robust_z"] = self.robust_z()
        return pd.DataFrame(columns, index=pd.Index(self.seeds, name="seed"))

    # ----------------------------------------------------- constructors
    @classmethod
    def from_store(cls, path, config: str | None = None) -> SeedStudy:
        """The study of one configuration in a seed store (:mod:`keras_seeds.sweeps.store`).

        Args:
            path: the store's SQLite file (or an open
                :class:`~keras_seeds.sweeps.store.SeedStore`).
            config: the configuration's name or hash (prefix); may be left out
                when the store holds one configuration.

        The score of each seed that finished (``done``) and of each that
        diverged (a NaN score, dropped with a warning); seeds discarded early
        or failed are left out and counted in ``discarded_seeds`` and
        ``failed_seeds``. The metric, its direction, the learning curves and
        the per-example values on the validation and test data come from the
        store: an accuracy's per-example correctness, or a loss score's
        per-example losses when they average to the scores (not when the score
        is another metric, or the loss adds a regularisation term).

        Example:

        >>> import os, tempfile
        >>> from keras_seeds.sweeps.store import SeedRun, SeedStore
        >>> store = SeedStore(os.path.join(tempfile.mkdtemp(), "seeds.db"))
        >>> key = store.add_config({"metric": "val_accuracy", "units": 64}, name="mlp")
        >>> _ = store.write(key, [SeedRun(s, "done", score=0.9 + s / 100) for s in range(4)])
        >>> SeedStudy.from_store(store.path)
        SeedStudy(val_accuracy: n=4, mean=0.915, std=0.01291)
        """
        from keras_seeds.sweeps.read import read_study

        return read_study(path, config, cls)

    @classmethod
    def from_history(cls, history, metric: str | None = None, *, seeds=None,
                     epoch: int = -1, higher_is_better: bool | None = None,
                     name: str | None = None) -> SeedStudy:
        """A study of the per-replica values in a ``SeededModel.fit`` History.

        Args:
            history: the History (or its ``.history`` dict) of a SeededModel's fit.
            metric: which logged value is the score; default the first
                validation metric other than the loss (``val_accuracy``), else
                ``val_loss``, else the first training metric.
            seeds: the replicas' seeds; default the model's ``replica_seeds``.
            epoch: which epoch's value is the score (default the last).
            higher_is_better: default from the metric's name (losses and
                errors are lower-is-better).

        Every per-replica value becomes a learning curve (``curves``).

        Example (``history.history`` of a two-replica fit, or the History itself):

        >>> history = {"loss": [0.85, 0.55], "loss_replica_0": [0.9, 0.5],
        ...            "loss_replica_1": [0.8, 0.6], "val_accuracy": [0.65, 0.85],
        ...            "val_accuracy_replica_0": [0.7, 0.8],
        ...            "val_accuracy_replica_1": [0.6, 0.9]}
        >>> study = SeedStudy.from_history(history, seeds=[11, 12])
        >>> study, study.seeds.tolist(), sorted(study.curves)
        (SeedStudy(val_accuracy: n=2, mean=0.85, std=0.07071), [11, 12], ['loss', 'val_accuracy'])
        >>> SeedStudy.from_history(history, "loss", epoch=0).higher_is_better
        False
        """
        curves = replica_curves(getattr(history, "history", history))
        if not curves:
            raise ValueError("`history` holds no per-replica values (`<name>_replica_<i>`); "
                             "pass the History that a SeededModel's `fit` returned.")
        metric = metric if metric is not None else default_metric(list(curves))
        if metric not in curves:
            raise ValueError(f"`metric`: {metric!r} has no per-replica values in this history;"
                             f" known names: {sorted(curves)}.")
        epochs = curves[metric].shape[0]
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or not (
                -epochs <= epoch < epochs):
            raise ValueError(f"`epoch` must be an int index into the {epochs} epochs; "
                             f"received epoch={epoch!r}.")
        if seeds is None:
            seeds = getattr(getattr(history, "model", None), "replica_seeds", None)
        return cls(curves[metric][epoch], seeds, metric=metric, name=name,
                   higher_is_better=(is_higher_better(metric) if higher_is_better is None
                                     else higher_is_better),
                   curves=curves)


# ---------------------------------------------------------------- helpers
def _per_example(correct, values, prefix: str, scores, higher_is_better,
                 metric) -> np.ndarray | None:
    """``correct`` (0/1) or ``values`` (any per-example values) as a ``(seeds,
    examples)`` array whose rows average to ``scores``; ``prefix`` is ``""`` or
    ``"test_"``, for the arguments' names."""
    if correct is not None and values is not None:
        raise ValueError(f"`{prefix}correct` and `{prefix}per_example` are two ways to give the "
                         "same per-example values; pass one.")
    if correct is None and values is None:
        return None
    if correct is not None:
        name = f"{prefix}correct"
        if not higher_is_better:
            raise ValueError(
                f"`{name}`: per-example correctness goes with an accuracy (a higher-is-better "
                f"score in [0, 1]); this study's score {metric or 'score'!r} is lower-is-better "
                f"(a loss or an error): pass its per-example errors as `{prefix}per_example`.")
        values = check_correct(correct, name, seeds=scores.size)
    else:
        name = f"{prefix}per_example"
        values = check_per_example(values, name, seeds=scores.size)
    means = values.mean(axis=1)
    finite = np.isfinite(scores)
    off = np.flatnonzero(finite & ~rows_match_scores(values, scores))
    if off.size:
        row = int(off[0])
        what = ("per-example correctness must be on the examples the scores were computed "
                "on, unweighted" if values.dtype == bool else
                "per-example values must average to the scores (squared errors for an MSE, "
                "absolute errors for an MAE; for an RMSE, study the MSE), on the examples "
                "the scores were computed on, unweighted")
        raise ValueError(
            f"`{name}`: row {row} has mean {means[row]:.6g} but its score is "
            f"{scores[row]:.6g}; {what}, one row per seed in the scores' order "
            f"({off.size} rows differ).")
    return values


def _if_correctness(values) -> np.ndarray | None:
    return values if values is not None and values.dtype == bool else None


def _numbers(values, name: str) -> np.ndarray:
    """``values`` as a 1-D float array; ``None`` becomes NaN; anything that is not
    a real number (strings, bools, objects) is a ``TypeError`` naming it."""
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        raise TypeError(f"`{name}` must be a sequence of numbers; received {name}={values!r}.")
    array = np.asarray(values) if isinstance(values, np.ndarray) else None
    if array is not None and array.dtype.kind in "iuf":
        if array.ndim != 1:
            raise ValueError(f"`{name}` must be one-dimensional (one score per seed); "
                             f"received shape {array.shape}.")
        return array.astype(float)
    items = list(values)
    for index, item in enumerate(items):
        if item is None:
            continue
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Real):
            raise TypeError(f"`{name}` must hold numbers; received {name}[{index}]={item!r} "
                            f"of type {type(item).__name__}.")
    return np.array([math.nan if item is None else float(item) for item in items], dtype=float)


def _curve(values, name, seeds: int) -> np.ndarray:
    array = np.array([[math.nan if v is None else v for v in row] for row in values],
                     dtype=float) if not isinstance(values, np.ndarray) else values.astype(float)
    if array.ndim != 2 or array.shape[1] != seeds:
        raise ValueError(f"`curves[{name!r}]` must have shape (epochs, {seeds}) (one "
                         f"column per seed); received shape {array.shape}.")
    return array
