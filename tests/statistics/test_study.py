"""SeedStudy and compare: every statistic against an independent computation."""

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


def test_seeds_needed_equals_searching_t_intervals():
    s = study()
    std = np.std(SCORES, ddof=1)
    for width in (0.05, 0.02, 0.01):
        n = 2
        while np.diff(stats.t.interval(0.95, n - 1, scale=std / np.sqrt(n)))[0] >= width:
            n += 1
        assert s.seeds_needed(width) == n
    assert s.seeds_needed(0.02, confidence_level=0.99) > s.seeds_needed(0.02)
    with pytest.raises(ValueError, match=r"`width` must be a positive number; received "
                                         r"width=0\."):
        s.seeds_needed(0)


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


# ------------------------------------------------------------------ compare
RNG = np.random.default_rng(20261122)
SAME_A, SAME_B = RNG.normal(0.90, 0.01, 10), RNG.normal(0.90, 0.01, 10)
SHIFTED = RNG.normal(0.92, 0.01, 10)


def test_compare_same_distribution_is_not_distinguishable():
    result = ks.compare(ks.SeedStudy(SAME_A, name="base"), ks.SeedStudy(SAME_B, name="new"))
    assert result.winner is None
    assert str(result).startswith("base and new are not distinguishable from seed noise "
                                  "with 10 and 10 seeds: P(base better) = ")
    assert result.seeds_to_settle > 10
    # These two samples' means differ by 5.6e-5 (0.006 std): no practical number settles it.
    assert result.verdict.endswith("The gap in mean score (+5.633e-05) is too small for any "
                                   "practical number of seeds to settle (about 7.7e+05 each).")
    near = ks.compare(SAME_A, SAME_B[:6] + 0.004)
    assert near.winner is None and 10 < near.seeds_to_settle < 1000
    assert f"About {near.seeds_to_settle} seeds each would settle it" in near.verdict
    assert result.probability_ci[0] < 0.5 < result.probability_ci[1]


def test_compare_shifted_distribution_beats():
    result = ks.compare(ks.SeedStudy(SHIFTED, name="new"), ks.SeedStudy(SAME_A, name="base"))
    assert result.winner == "new" and result.seeds_to_settle is None
    assert result.verdict.startswith("new beats base beyond seed noise: a random seed of new "
                                     "scores a better score than one of base with "
                                     "probability ")
    flipped = ks.compare(SAME_A, SHIFTED)                         # arrays work too
    assert flipped.winner == "B" and flipped.verdict.startswith("B beats A beyond seed noise")


def test_compare_statistics_equal_an_independent_computation():
    a, b = np.array([0.90, 0.91, 0.91, 0.93]), np.array([0.91, 0.89, 0.90, 0.90, 0.92])
    result = ks.compare(a, b, random_state=5)
    pairs = [1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b]
    assert result.probability == pytest.approx(np.mean(pairs))      # ties count 1/2
    assert result.mean_difference == pytest.approx(a.mean() - b.mean())
    # Tied scores: an exact permutation test, here by enumerating all 126 splits.
    pooled = np.concatenate([a, b])
    u = [sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in pooled[list(left)]
             for y in np.delete(pooled, list(left)))
         for left in itertools.combinations(range(9), 4)]
    observed = np.mean(pairs) * 20
    one_sided = min(np.mean(np.array(u) >= observed), np.mean(np.array(u) <= observed))
    assert result.p_value == pytest.approx(min(1.0, 2 * one_sided))
    expected = stats.bootstrap(
        (a, b), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        method="percentile", batch=1000, rng=np.random.default_rng(5)).confidence_interval
    assert result.mean_difference_ci == (expected.low, expected.high)
    # Lower is better: the same losses with the sign turned compare the other way.
    losses = ks.compare(ks.SeedStudy(-a, higher_is_better=False),
                        ks.SeedStudy(-b, higher_is_better=False), random_state=5)
    assert losses.probability == pytest.approx(result.probability)


def test_compare_few_tied_or_constant_seeds_cannot_win():
    # 3 against 3 can at best reach p = 0.1 (the exact test); ties must not make it 0.047.
    tied = ks.compare([0.9] * 3, [0.8] * 3)
    assert tied.p_value == pytest.approx(0.1) and tied.winner is None
    assert tied.seeds_to_settle == 4 and "About 4 seeds each would settle it, if the gap " \
        "in mean score (+0.1) is real." in tied.verdict
    assert ks.compare([0.9] * 4, [0.8] * 4).winner == "A"
    tiny = ks.compare([0.90, 0.91, 0.92, 0.93], [0.9000001, 0.91, 0.92, 0.93])
    assert "too small for any practical number of seeds to settle" in tiny.verdict


def test_compare_refuses_different_metrics_or_directions():
    with pytest.raises(ValueError, match=r"measure different metrics \('acc' and 'loss'\)"):
        ks.compare(ks.SeedStudy([1, 2], metric="acc"), ks.SeedStudy([1, 2], metric="loss"))
    with pytest.raises(ValueError, match=r"disagree on `higher_is_better` \(True and False\)"):
        ks.compare(ks.SeedStudy([1, 2]), ks.SeedStudy([1, 2], higher_is_better=False))
    with pytest.raises(TypeError, match=r"`b` must be a SeedStudy or scores: `scores` must "):
        ks.compare([1, 2], "x")
    with pytest.raises(ValueError, match=r"`names` must be two different strings \(A's, "
                                         r"B's\); received names=\('x', 'x'\)\. Name the "):
        ks.compare(ks.SeedStudy([1, 2], name="x"), ks.SeedStudy([1, 3], name="x"))


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


# ------------------------------------------------------------ paired compare
def test_signed_rank_distribution_and_interval_equal_brute_force():
    from keras_seeds.statistics.functions import hodges_lehmann, signed_rank_cdf

    n = 10
    signs = np.array(list(itertools.product([0, 1], repeat=n)))
    w_plus = signs @ np.arange(1, n + 1)  # every sign pattern, equally likely under H0
    brute = np.array([np.mean(w_plus <= w) for w in range(n * (n + 1) // 2 + 1)])
    np.testing.assert_allclose(signed_rank_cdf(n), brute, rtol=0, atol=1e-15)
    d = np.random.default_rng(3).normal(0.2, 1.0, n)
    walsh = np.sort([(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)])
    k = int(np.argmax(brute >= 0.025))  # R's qsignrank(0.025, 10) = 9 (1-based index)
    assert k == 9
    estimate, (low, high) = hodges_lehmann(d, 0.95)
    assert estimate == np.median(walsh)
    assert (low, high) == (walsh[k - 1], walsh[len(walsh) - k])


def test_the_hodges_lehmann_interval_covers_the_median_as_often_as_it_says():
    from keras_seeds.statistics.functions import hodges_lehmann

    rng = np.random.default_rng(0)
    covered = [low <= 0.3 <= high for low, high in
               (hodges_lehmann(rng.normal(0.3, 1.0, 12), 0.9)[1] for _ in range(2000))]
    assert 0.89 <= np.mean(covered) <= 0.93  # exact intervals hold at least their level


SEED_LUCK = np.array([0.91, 0.86, 0.95, 0.88, 0.93, 0.84, 0.90, 0.97])  # each seed's own luck


def test_paired_compare_finds_a_gain_that_seed_luck_hides_from_the_unpaired_one():
    seeds = [3, 1, 4, 15, 9, 2, 6, 5]
    gain = np.array([0.011, 0.009, 0.012, 0.010, 0.008, 0.010, 0.011, 0.009])
    new = ks.SeedStudy(SEED_LUCK + gain, seeds, metric="val_accuracy", name="new")
    base = ks.SeedStudy(SEED_LUCK, seeds, metric="val_accuracy", name="base")
    unpaired = ks.compare(new, base)
    assert unpaired.winner is None and not unpaired.paired
    paired = ks.compare(new, base, paired=True)
    assert paired.paired and paired.winner == "new" and paired.n == (8, 8)
    assert paired.probability == 1.0
    assert paired.p_value == stats.wilcoxon(gain).pvalue == 2 / 2 ** 8
    assert paired.mean_difference == pytest.approx(gain.mean(), abs=1e-12)
    assert paired.median_difference == pytest.approx(np.median(
        [(gain[i] + gain[j]) / 2 for i in range(8) for j in range(i, 8)]), abs=1e-12)
    assert paired.verdict.startswith(
        "new beats base beyond seed noise, seed by seed: on the same seed new scores a better "
        "val_accuracy with probability 1.00")


def test_a_paired_verdict_whose_criteria_disagree_says_which_and_why_there_is_no_winner():
    seeds, index = list(range(40)), np.arange(40)
    base = 0.9 + 0.01 * np.sin(index)
    # a gains a lot on 18 seeds and loses a little on 22: the signed-rank test
    # (which weighs the sizes) rejects equal scores, P(a better) is under 1/2.
    gain = np.where(index % 20 < 9, 0.05 + 0.001 * index, -0.001 - 0.00001 * index)
    result = ks.compare(ks.SeedStudy(base + gain, seeds, name="a"),
                        ks.SeedStudy(base, seeds, name="b"), paired=True)
    p = stats.wilcoxon(gain).pvalue
    assert result.p_value == p < 0.05 and result.probability == 18 / 40
    low, high = result.probability_ci
    assert low < 0.5 < high and result.winner is None
    assert result.split == (
        f"Borderline: the Wilcoxon signed-rank test alone would call it (p = {p:.2g} < 0.05), "
        "but the interval of P(a better on the same seed) includes 0.50; a verdict needs both.")
    assert result.split in result.verdict and result.verdict.startswith(
        "a and b are not distinguishable from seed noise on 40 shared seeds")
    # The other way round: a wins a little on 30 seeds, loses a lot on 10.
    gain = np.where(index % 4 == 0, -0.05 - 0.001 * index, 0.001 + 0.00001 * index)
    result = ks.compare(ks.SeedStudy(base + gain, seeds, name="a"),
                        ks.SeedStudy(base, seeds, name="b"), paired=True)
    assert result.probability == 0.75 and result.probability_ci[0] > 0.5
    assert result.p_value == stats.wilcoxon(gain).pvalue > 0.05 and result.winner is None
    assert result.split.startswith("Borderline: the interval of P(a better on the same seed) "
                                   "excludes 0.50, but the Wilcoxon signed-rank test does not "
                                   "reject equal scores (p = 0.47 >= 0.05)")
    # Both criteria agree: no split sentence, either way.
    assert ks.compare(ks.SeedStudy(base + 0.01, seeds), ks.SeedStudy(base, seeds),
                      paired=True).split is None
    assert ks.compare(study(), study(), paired=True).split is None


def test_paired_compare_follows_the_metric_direction_and_needs_shared_seeds():
    losses = ks.SeedStudy(1 - SEED_LUCK, list(range(8)), higher_is_better=False, name="a")
    lower = ks.SeedStudy(1 - SEED_LUCK - 0.01, list(range(8)), higher_is_better=False,
                         name="b")
    assert ks.compare(losses, lower, paired=True).winner == "b"
    same = ks.compare(losses, ks.SeedStudy(1 - SEED_LUCK, list(range(8)),
                                           higher_is_better=False, name="c"), paired=True)
    assert same.winner is None and same.p_value == 1.0 and same.seeds_to_settle is None
    with pytest.raises(ValueError, match=r"^`paired=True` compares the seeds both studies "
                                         r"have; a and d share 0 seed\(s\)\."):
        ks.compare(losses, ks.SeedStudy([0.1, 0.2], seeds=[100, 101], higher_is_better=False,
                                        name="d"), paired=True)


def test_compare_advises_the_ensemble_and_the_single_seed_to_ship():
    a = ks.SeedStudy([0.90, 0.91, 0.95, 0.92], name="wide", ensemble_score=0.96)
    b = ks.SeedStudy([0.90, 0.905, 0.91, 0.908], name="narrow", ensemble_score=0.93)
    advice = ("To ship: as an ensemble of its seeds, wide scores the better score (0.96 "
              "against 0.93); as a single seed, narrow is the safer pick: its seeds span a "
              "range of 0.01 against 0.05.")
    for paired in (False, True):
        result = ks.compare(a, b, paired=paired)
        assert result.advice == advice and result.verdict.endswith(advice)
    # Lower is better: the lower ensemble loss is the better one.
    low_a = ks.SeedStudy([0.3, 0.2], metric="loss", higher_is_better=False, name="a",
                         ensemble_score=0.25)
    low_b = ks.SeedStudy([0.3, 0.28], metric="loss", higher_is_better=False, name="b",
                         ensemble_score=0.27)
    assert ks.compare(low_a, low_b).advice.startswith(
        "To ship: as an ensemble of its seeds, a scores the better loss (0.25 against 0.27); "
        "as a single seed, b is the safer pick")
    assert ks.compare(ks.SeedStudy([0.9, 0.8]), low_a.scores).advice is None
