"""SeedStudy: every statistic against an independent computation."""

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats

import keras_seeds as ks
from keras_seeds.statistics import member_diversity

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
    for key, statistic in (("mean_ci", np.mean),
                           ("iqm_ci", lambda x, axis: stats.trim_mean(x, 0.25, axis=axis))):
        expected = stats.bootstrap((SCORES,), statistic, rng=np.random.default_rng(3),
                                   n_resamples=9999, method="BCa", batch=1000
                                   ).confidence_interval
        assert s[key] == (expected.low, expected.high)
    assert s["mean_ci"][0] < s["mean"] < s["mean_ci"][1]
    t_low, t_high = stats.t.interval(0.95, 7, loc=SCORES.mean(), scale=stats.sem(SCORES))
    assert s["mean_t_ci"] == (pytest.approx(t_low), pytest.approx(t_high))


def test_two_distinct_values_give_intervals_without_numpy_or_scipy_warnings():
    import warnings

    scores = [0.9] * 8 + [0.91] * 2      # every jackknife IQM is equal: BCa is undefined
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

    with pytest.warns(ks.SeedStudyWarning, match=r"2 seeds: the bootstrap intervals need at "
                                                 r"least 3 seeds; they are NaN \(mean_t_ci "):
        two = ks.SeedStudy([0.9, 0.8]).summary()
    assert two["std"] == pytest.approx(0.1 / math.sqrt(2))
    assert math.isnan(two["mean_ci"][0]) and math.isnan(two["iqm_ci"][1])
    assert two["mean_t_ci"][0] == pytest.approx(0.85 - stats.t.ppf(0.975, 1) * 0.05)

    flat = ks.SeedStudy([0.75] * 6)
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
    here = study().summary(random_state=7)
    assert here == study().summary(random_state=7)
    out = run_python("-c", BOOTSTRAP_SCRIPT.format(scores=SCORES.tolist())).stdout
    there = json.loads(out.strip().splitlines()[-1])
    assert [tuple(pair) for pair in there] == [here["mean_ci"], here["iqm_ci"]]  # exact
    assert study().summary(random_state=8)["mean_ci"] != here["mean_ci"]


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
    from keras_seeds.store import SeedRun, SeedStore

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
