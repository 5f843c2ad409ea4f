"""SeedStudy: every statistic against an independent computation."""

import itertools
import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats

import keras_seeds as ks
from keras_seeds.statistics import member_diversity
from keras_seeds.statistics import study as study_module

from conftest import run_python

SCORES = np.array([0.91, 0.93, 0.92, 0.80, 0.92, 0.90, 0.94, 0.91])   # ties, one black swan
SEEDS = [11, 3, 7, 42, 5, 8, 13, 21]


def study(scores=SCORES, seeds=SEEDS, **kwargs):
    return ks.SeedStudy(scores, seeds, metric="val_accuracy", **kwargs)


def test_summary_equals_an_independent_computation():
    s = study().summary(random_state=3)
    ordered = np.sort(SCORES)
    assert s["n"] == 8 and s["n_dropped"] == 0
    assert s["mean"] == pytest.approx(SCORES.sum() / 8, abs=1e-15)
    assert s["std"] == pytest.approx(math.sqrt(((SCORES - SCORES.mean()) ** 2).sum() / 7))
    assert s["sem"] == pytest.approx(stats.sem(SCORES))
    assert s["median"] == pytest.approx((ordered[3] + ordered[4]) / 2)
    assert s["iqm"] == pytest.approx(ordered[2:6].mean())          # 25% cut from each end
    assert (s["min"], s["max"]) == (0.80, 0.94)
    assert s["range"] == pytest.approx(0.14)
    assert s["quantiles"] == {q: pytest.approx(np.percentile(SCORES, 100 * q))
                              for q in (0.05, 0.25, 0.75, 0.95)}
    assert (s["best_seed"], s["worst_seed"]) == (13, 42)
    t_low, t_high = stats.t.interval(0.95, 7, loc=SCORES.mean(), scale=stats.sem(SCORES))
    assert s["mean_t_ci"] == (pytest.approx(t_low), pytest.approx(t_high))
    # 8 seeds: the bootstrap intervals would not keep their level; withheld.
    assert all(math.isnan(v) for v in s["mean_ci"] + s["iqm_ci"])
    assert s["withheld"] == {
        "mean_ci": "a bootstrap interval of the mean keeps its level from 200 seeds; this "
                   "study has 8",
        "iqm_ci": "a bootstrap interval of the IQM keeps its level from 30 seeds; this "
                  "study has 8"}
    # From 200 seeds (the IQM's from 30) they are scipy's BCa intervals.
    many = np.concatenate([SCORES + 0.001 * k for k in range(25)])
    s = ks.SeedStudy(many).summary(random_state=3)
    assert s["withheld"] == {}
    # The IQM's BCa interval misses 7% of the time at a nominal 95%: it says 93%.
    assert s["levels"] == {"mean_t_ci": 0.95, "mean_ci": 0.95, "iqm_ci": 0.93}
    for key, statistic in (("mean_ci", np.mean),
                           ("iqm_ci", lambda x, axis: stats.trim_mean(x, 0.25, axis=axis))):
        expected = stats.bootstrap((many,), statistic, rng=np.random.default_rng(3),
                                   n_resamples=9999, method="BCa", batch=1000
                                   ).confidence_interval
        assert s[key] == (expected.low, expected.high)
    assert s["mean_ci"][0] < s["mean"] < s["mean_ci"][1]


def test_summary_withholds_each_interval_below_the_seeds_it_keeps_its_level_from():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 10, 29, 30, 64, 199, 200):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ks.SeedStudyWarning)
            s = ks.SeedStudy(rng.normal(0.9, 0.01, n)).summary()
        for name, fewest in study_module.INTERVAL_MIN_SEEDS.items():
            assert (name in s["withheld"]) == (n < fewest), (n, name)
            assert (name in s["levels"]) == (n >= fewest), (n, name)
            assert math.isnan(s[name][0]) == (n < fewest), (n, name)
        assert s["mean_t_ci_heavy_tail_level"] == study_module.t_interval_heavy_tail_level(n)


def test_two_distinct_values_give_intervals_without_numpy_or_scipy_warnings():
    scores = [0.9] * 24 + [0.91] * 6     # every jackknife IQM is equal: BCa is undefined
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = ks.SeedStudy(scores).summary()
    assert 0.9 <= s["iqm_ci"][0] <= s["iqm_ci"][1] <= 0.91
    with pytest.raises(ValueError, match=r"`confidence_level` must be a number between 0 and "
                                         r"1 \(0.95 for 95%\); received confidence_level=95\."):
        ks.SeedStudy(scores).summary(confidence_level=95)


def test_lower_is_better_turns_best_tails_and_expected_max_around():
    losses = 1 - SCORES
    s = ks.SeedStudy(losses, SEEDS, metric="val_loss", higher_is_better=False)
    assert (s.summary()["best_seed"], s.summary()["worst_seed"]) == (13, 42)
    (outlier,) = s.outliers()
    assert (outlier["seed"], outlier["tail"]) == (42, "worse") and outlier["z"] < -3.5
    assert s.expected_max(3) == pytest.approx(1 - study().expected_max(3))
    assert s.expected_max(8) < losses.mean()


def test_expected_max_equals_enumerating_every_draw():
    values = [0.80, 0.83, 0.83, 0.90]
    s = ks.SeedStudy(values)
    for n in (1, 2, 3):
        draws = list(itertools.product(values, repeat=n))          # with replacement
        assert s.expected_max(n) == pytest.approx(np.mean([max(d) for d in draws]))
        low = ks.SeedStudy(values, higher_is_better=False)
        assert low.expected_max(n) == pytest.approx(np.mean([min(d) for d in draws]))
    assert s.expected_max(1) == pytest.approx(np.mean(values))
    np.testing.assert_allclose(s.expected_max(), [s.expected_max(n) for n in (1, 2, 3, 4)])
    with pytest.raises(ValueError, match=r"`n` must be an int >= 1 \(a number of seeds\); "
                                         r"received n=0\."):
        s.expected_max(0)


def test_expected_max_without_replacement_equals_every_subset_and_is_unbiased():
    values = [0.80, 0.83, 0.83, 0.90, 0.71]
    s = ks.SeedStudy(values)
    low = ks.SeedStudy(values, higher_is_better=False)
    for n in range(1, 6):
        subsets = list(itertools.combinations(values, n))          # n distinct seeds
        assert s.expected_max(n, "without_replacement") == pytest.approx(
            np.mean([max(c) for c in subsets]))
        assert low.expected_max(n, "without_replacement") == pytest.approx(
            np.mean([min(c) for c in subsets]))
    # Never below the with-replacement figure, which may draw one seed twice.
    assert (s.expected_max(estimator="without_replacement") >= s.expected_max() - 1e-12).all()
    # Unbiased: over many studies of 6 seeds from N(0, 1), it averages to the
    # best of 3 fresh seeds, 3 / (2 sqrt(pi)); the with-replacement one falls short.
    samples = np.random.default_rng(1).normal(size=(4000, 6))
    truth = 3 / (2 * np.sqrt(np.pi))
    tang = np.mean([ks.SeedStudy(x).expected_max(3, "without_replacement") for x in samples])
    dodge = np.mean([ks.SeedStudy(x).expected_max(3) for x in samples])
    assert abs(tang - truth) < 0.03 < truth - dodge
    # Thousands of seeds: weights from log-gamma, no overflow.
    weights = ks.statistics.max_of_n_weights_without_replacement(5000, 300)
    assert weights.sum() == pytest.approx(1.0) and np.isfinite(weights).all()
    with pytest.raises(ValueError, match=r"`n`: without replacement at most the 5 observed "
                                         r"values can be drawn; received n=6\."):
        s.expected_max(6, "without_replacement")
    with pytest.raises(ValueError, match=r"`estimator` must be one of \['with_replacement', "
                                         r"'without_replacement'\]; received estimator='tang'"):
        s.expected_max(2, "tang")


def test_outliers_are_the_median_mad_rule_on_both_tails():
    z = study().robust_z()
    median = np.median(SCORES)
    mad = np.median(np.abs(SCORES - median)) * 1.482602218505602
    np.testing.assert_allclose(z, (SCORES - median) / max(mad, 0.01))  # 0.01: the score step
    assert [o["seed"] for o in study().outliers()] == [42]
    assert study().outliers()[0]["tail"] == "worse"
    assert study().outliers(tail="better") == []
    # A lower threshold also finds the lucky seed 13 (z = +1.69).
    found = study().outliers(threshold=1.5)
    assert [(o["seed"], o["tail"]) for o in found] == [(42, "worse"), (13, "better")]
    with pytest.raises(ValueError, match=r"`tail` must be one of 'both', 'worse', 'better'; "
                                         r"received tail='low'\."):
        study().outliers(tail="low")


def test_tied_scores_do_not_invent_black_swans():
    # Accuracy on 360 examples moves in steps of 1/360; half the seeds tie, so the
    # MAD (half a step) would call seeds 3 steps away black swans.
    counts = np.array([341, 340, 337, 340, 343, 340, 340, 338])
    assert stats.median_abs_deviation(counts) == 0.5
    assert ks.SeedStudy(counts / 360).outliers() == []
    # More than half equal (MAD = 0): the mean-absolute-deviation fallback.
    flat = ks.SeedStudy([0.9] * 7 + [0.1])
    expected_scale = 1.253314 * np.mean(np.abs(np.array([0.9] * 7 + [0.1]) - 0.9))
    assert flat.robust_z()[-1] == pytest.approx(-0.8 / expected_scale)
    assert [o["seed"] for o in flat.outliers()] == [7]


def test_one_two_and_constant_scores():
    with pytest.warns(ks.SeedStudyWarning, match=r"1 seed: std, sem and every interval need "
                                                 r"more seeds; they are NaN\."):
        one = ks.SeedStudy([0.9]).summary()
    assert one["mean"] == one["median"] == one["iqm"] == 0.9
    assert math.isnan(one["std"]) and math.isnan(one["sem"]) and math.isnan(one["mean_ci"][0])
    with pytest.raises(ValueError, match="a study of 1 seed has no spread"):
        ks.SeedStudy([0.9]).seeds_needed(0.01)

    with pytest.warns(ks.SeedStudyWarning, match=r"2 seeds: the bootstrap intervals need more "
                                                 r"seeds; they are NaN \(mean_t_ci "):
        two = ks.SeedStudy([0.9, 0.8]).summary()
    assert two["std"] == pytest.approx(0.1 / math.sqrt(2))
    assert math.isnan(two["mean_ci"][0]) and math.isnan(two["iqm_ci"][1])
    assert two["mean_t_ci"][0] == pytest.approx(0.85 - stats.t.ppf(0.975, 1) * 0.05)

    flat = ks.SeedStudy([0.75] * 200)
    s = flat.summary()
    assert s["std"] == s["sem"] == s["range"] == 0
    assert s["mean_ci"] == s["iqm_ci"] == s["mean_t_ci"] == (0.75, 0.75)
    assert flat.outliers() == [] and flat.expected_max(4) == 0.75
    assert flat.seeds_needed(0.001) == 2


def test_nan_scores_are_dropped_with_a_warning_and_counted():
    scores = [0.9, float("nan"), 0.8, None, 0.85]
    with pytest.warns(ks.SeedStudyWarning, match=r"dropped 2 NaN or infinite score\(s\) "
                                                 r"\(seeds 6, 8\); the statistics use the "
                                                 r"other 3\."):
        s = ks.SeedStudy(scores, seeds=[5, 6, 7, 8, 9], test_scores=[1, 2, 3, 4, 5])
    assert s.seeds.tolist() == [5, 7, 9] and s.dropped_seeds.tolist() == [6, 8]
    assert s.test_scores.tolist() == [1, 3, 5]
    summary = s.summary()
    assert summary["n"] == 3 and summary["n_dropped"] == 2
    assert summary["mean"] == pytest.approx(0.85)
    with pytest.raises(ValueError, match="every score is NaN or infinite"):
        ks.SeedStudy([float("nan")] * 3)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"scores": []}, ValueError, "`scores` is empty; a study needs at least one score."),
    ({"scores": [0.9, 0.8], "seeds": [1, 2, 3]}, ValueError,
     "`seeds` and `scores` must have the same length; received 3 seeds and 2 scores."),
    ({"scores": [0.9, 0.8, 0.7], "seeds": [1, 2, 1]}, ValueError,
     "`seeds` must not repeat a seed (one seed is one run); received seeds=[1, 2, 1], "
     "where 1 repeats."),
    ({"scores": [0.9, "0.8"]}, TypeError,
     "`scores` must hold numbers; received scores[1]='0.8' of type str."),
    ({"scores": [0.9, True]}, TypeError,
     "`scores` must hold numbers; received scores[1]=True of type bool."),
    ({"scores": "0.9"}, TypeError, "`scores` must be a sequence of numbers; received "
                                   "scores='0.9'."),
    ({"scores": np.ones((2, 3))}, ValueError, "`scores` must be one-dimensional (one score "
                                              "per seed); received shape (2, 3)."),
    ({"scores": [0.9], "seeds": [-1]}, ValueError,
     "`seeds[0]` must be an int in [0, 2**32 - 1]; received seeds[0]=-1."),
    ({"scores": {1: 0.9}, "seeds": [1]}, ValueError,
     "`seeds` must be None when `scores` is a mapping {seed: score}; the keys are the seeds."),
    ({"scores": [0.9], "higher_is_better": "yes"}, TypeError,
     "`higher_is_better` must be True or False; received higher_is_better='yes'."),
    ({"scores": [0.9, 0.8], "test_scores": [0.9]}, ValueError,
     "`test_scores` must hold one score per seed (2); received 1."),
])
def test_bad_input_gets_a_clear_error(kwargs, error, message):
    with pytest.raises(error) as raised:
        ks.SeedStudy(**kwargs)
    assert str(raised.value) == message


def test_a_mapping_gives_seeds_and_scores():
    s = ks.SeedStudy({7: 0.9, 3: 0.8, 12: 0.85})
    assert s.seeds.tolist() == [7, 3, 12] and s.scores.tolist() == [0.9, 0.8, 0.85]


BOOTSTRAP_SCRIPT = """
import json, keras_seeds as ks
s = ks.SeedStudy({scores}).summary(random_state=7)
print(json.dumps([s["mean_ci"], s["iqm_ci"]]))
"""


def test_bootstrap_intervals_repeat_for_the_same_random_state_across_processes():
    scores = np.concatenate([SCORES + 0.001 * k for k in range(25)])  # 200: not withheld
    here = study(scores, seeds=None).summary(random_state=7)
    assert here == study(scores, seeds=None).summary(random_state=7)
    out = run_python("-c", BOOTSTRAP_SCRIPT.format(scores=scores.tolist())).stdout
    there = json.loads(out.strip().splitlines()[-1])
    assert [tuple(pair) for pair in there] == [here["mean_ci"], here["iqm_ci"]]  # exact
    assert study(scores, seeds=None).summary(random_state=8)["mean_ci"] != here["mean_ci"]


# --------------------------------------------------------- ensemble, diversity
def test_ensemble_gain_and_diversity_equal_loops():
    s = ks.SeedStudy([0.90, 0.92, 0.88], ensemble_score=0.935, diversity={"pairwise_kl": 0.2})
    gain = s.ensemble_gain()
    assert gain["over_mean"] == pytest.approx(0.035) and gain["over_best"] == pytest.approx(0.015)
    assert gain["pairwise_kl"] == 0.2
    loss = ks.SeedStudy([0.30, 0.25], higher_is_better=False, ensemble_score=0.2)
    assert loss.ensemble_gain()["over_best"] == pytest.approx(0.05)   # lower loss: a gain
    with pytest.raises(ValueError, match="this study has no ensemble score"):
        ks.SeedStudy([0.9]).ensemble_gain()

    p = np.random.default_rng(1).dirichlet(np.ones(3), size=(4, 20))  # K=4, 20 examples
    votes = p.argmax(-1)
    chosen = p.mean(0).argmax(-1)
    pairs = [(i, j) for i in range(4) for j in range(4) if i != j]
    expected = {
        "disagreement": np.mean([[votes[k, e] != chosen[e] for k in range(4)]
                                 for e in range(20)]),
        "pairwise_disagreement": np.mean([np.mean(votes[i] != votes[j]) for i, j in pairs]),
        "pairwise_kl": np.mean([np.mean(np.sum(p[i] * np.log(p[i] / p[j]), axis=-1))
                                for i, j in pairs]),
    }
    assert member_diversity(p) == pytest.approx(expected)


def _store_with_two_configs(path):
    from keras_seeds.sweeps.store import SeedRun, SeedStore

    store = SeedStore(path)
    wide = store.add_config({"units": 64, "metric": "val_loss"}, name="wide")
    narrow = store.add_config({"units": 8, "metric": "val_accuracy"}, name="narrow")
    runs = [SeedRun(seed, "done", score=float(score), history={"val_loss": [1.0, score]})
            for seed, score in zip(SEEDS, SCORES)]
    runs += [SeedRun(60, "diverged", score=float("nan"), history={"val_loss": [1.0, 9.0]}),
             SeedRun(61, "discarded", score=0.5), SeedRun(62, "failed", error="OOM")]
    store.write(wide, runs)
    store.write(narrow, [SeedRun(1, "done", score=0.7), SeedRun(2, "done", score=0.8)])
    return store


def test_a_study_read_from_a_store_is_the_study_of_its_scores(tmp_path):
    _store_with_two_configs(tmp_path / "seeds.db")
    with pytest.warns(ks.SeedStudyWarning, match=r"dropped 1 NaN .*\(seeds 60\)"):
        read = ks.SeedStudy.from_store(tmp_path / "seeds.db", config="wide")
    order = np.argsort(SEEDS)  # a store gives its seeds in order
    expected = ks.SeedStudy(SCORES[order], np.array(SEEDS)[order], metric="val_loss",
                            higher_is_better=False)
    assert read.name == "wide" and read.metric == "val_loss" and not read.higher_is_better
    assert read.seeds.tolist() == expected.seeds.tolist()
    assert read.scores.tolist() == expected.scores.tolist()
    summary = read.summary(random_state=1)
    # The diverged seed, and the discarded and failed ones, counted apart.
    assert (summary.pop("n_dropped"), summary.pop("n_discarded"), summary.pop("n_failed")) \
        == (1, 1, 1)
    assert summary == {k: v for k, v in expected.summary(random_state=1).items()
                       if k not in ("n_dropped", "n_discarded", "n_failed")}
    assert read.dropped_seeds.tolist() == [60]
    assert read.discarded_seeds.tolist() == [61] and read.failed_seeds.tolist() == [62]
    assert read.curves["val_loss"][1].tolist() == SCORES[order].tolist()


def test_a_store_of_several_configs_needs_the_config_named(tmp_path):
    _store_with_two_configs(tmp_path / "seeds.db")
    with pytest.raises(ValueError, match=r"`config`: '.*seeds\.db' holds 2 configurations "
                                         r"\(wide, narrow\); name the one to use\."):
        ks.SeedStudy.from_store(tmp_path / "seeds.db")
    assert ks.SeedStudy.from_store(tmp_path / "seeds.db", config="narrow").n == 2
    with pytest.raises(ValueError, match=r"'.*absent\.db' does not exist"):
        ks.SeedStudy.from_store(tmp_path / "absent.db")


# ---------------------------------------------------- black swans, test agreement
def test_a_black_swan_is_judged_against_the_finite_sets_noise():
    rng = np.random.default_rng(0)
    # Seven seeds right on 269 to 271 of 300 examples, at random places, and
    # an eighth on 262 or on 230.
    rows = [rng.permutation(300) < count for count in (270, 270, 271, 270, 269, 270, 270)]
    for count, beyond in ((262, False), (230, True)):
        correct = np.array(rows + [rng.permutation(300) < count])
        swan = ks.SeedStudy(correct.mean(axis=1), seeds=range(8), correct=correct)
        (outlier,) = swan.outliers()
        scores, others = correct.mean(axis=1), correct[:7].astype(float)
        # The set's noise: the others' per-example variances over 300**2, and
        # the median of 7 others varying pi/2 times as much as their mean.
        spread = math.sqrt(others.var(axis=0, ddof=1).sum() / 300 ** 2 * (1 + math.pi / 14))
        assert outlier["seed"] == 7 and outlier["tail"] == "worse"
        assert outlier["set_z"] == pytest.approx((scores[7] - np.median(scores[:7])) / spread)
        assert outlier["beyond_set_noise"] is beyond
    # Without per-example values, the median/MAD rule alone.
    assert study().outliers()[0]["set_z"] is None
    assert study().outliers()[0]["beyond_set_noise"] is None
    # A loss: a higher error is worse, set_z negative.
    errors = np.random.default_rng(1).normal(size=(12, 200)) ** 2
    errors[3] *= 1.6
    loss = ks.SeedStudy(errors.mean(axis=1), higher_is_better=False, per_example=errors)
    (outlier,) = loss.outliers()
    assert (outlier["seed"], outlier["tail"]) == (3, "worse") and outlier["set_z"] < -3.5


def test_the_interval_of_spearmans_rho_is_fishers_z_and_is_withheld_below_10_seeds():
    rng = np.random.default_rng(2)
    validation = rng.normal(size=12)
    test = validation + rng.normal(size=12)
    agreement = ks.SeedStudy(validation, test_scores=test).test_agreement()
    rho = stats.spearmanr(validation, test).statistic
    half = stats.norm.ppf(0.975) * math.sqrt((1 + rho ** 2 / 2) / 9)   # Bonett & Wright
    assert agreement["spearman"] == pytest.approx(rho)
    assert agreement["spearman_ci"] == pytest.approx(
        (math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half)))
    assert agreement["withheld"] == {}
    few = ks.SeedStudy(validation[:9], test_scores=test[:9]).test_agreement()
    assert math.isnan(few["spearman_ci"][0]) and few["withheld"] == {
        "spearman_ci": "the interval of Spearman's rho keeps its level from 10 seeds; this "
                       "study has 9"}


def test_the_interval_of_spearmans_rho_keeps_its_level_from_10_seeds():
    # 1000 bivariate normal studies of 10 seeds with correlation 0.6: Spearman's
    # rho is 6/pi asin(0.3); the interval covers it in at least 0.95 - 3 *
    # sqrt(0.95 * 0.05 / 1000) = 0.929 of them.
    rng = np.random.default_rng(3)
    truth = 6 / math.pi * math.asin(0.3)
    covered = 0
    for _ in range(1000):
        x = rng.normal(size=10)
        y = 0.6 * x + 0.8 * rng.normal(size=10)
        low, high = study_module.spearman_interval(stats.spearmanr(x, y).statistic, 10)
        covered += low <= truth <= high
    assert covered >= 929, covered


def test_the_t_intervals_heavy_tail_level_holds_on_studies_of_its_own():
    # 4000 studies of 10 normal scores, each seed a black swan 5 stds below with
    # probability 1/16 (seeds other than the package's own simulation): the
    # t interval covers the true mean in at least the stated level less 3
    # Monte-Carlo SE, sqrt(0.92 * 0.08 / 4000) = 0.0043, and in fewer than 95%.
    rng = np.random.default_rng(4)
    stated = study_module.t_interval_heavy_tail_level(10)
    scores = rng.normal(size=(4000, 10)) - 5.0 * (rng.random((4000, 10)) < 1 / 16)
    covered = np.mean([low <= -5 / 16 <= high for low, high in map(
        ks.statistics.t_interval, scores)])
    assert stated - 3 * 0.0043 <= covered < 0.95 - 3 * 0.0034, (stated, covered)
    assert stated == 0.92 and study_module.t_interval_heavy_tail_level(2) == 0.95
