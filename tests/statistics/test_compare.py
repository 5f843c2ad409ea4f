"""compare and the seed counts it asks for: every statistic against an
independent computation (exact enumeration, scipy, statsmodels), and a fast
seeded subset of the calibration simulations of
``benchmarks/calibration/compare.py``."""

import itertools
import math
import re

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower, TTestPower

import keras_seeds as ks
from keras_seeds.statistics import functions as F
from keras_seeds.statistics import rank_tests

SCORES = np.array([0.91, 0.93, 0.92, 0.80, 0.92, 0.90, 0.94, 0.91])   # ties, one black swan
SEEDS = [11, 3, 7, 42, 5, 8, 13, 21]


def study(scores=SCORES, seeds=SEEDS, **kwargs):
    return ks.SeedStudy(scores, seeds, metric="val_accuracy", **kwargs)


def monte_carlo_se(p, reps):
    return math.sqrt(p * (1 - p) / reps)


# ----------------------------------------------------- the exact paired test
def brute_force_wilcoxon_p(d):
    """Every one of the 2^n sign patterns of the midranks, zeros dropped."""
    d = np.asarray(d, dtype=float)
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    ranks = stats.rankdata(np.abs(d))
    observed, center = ranks[d > 0].sum(), ranks.sum() / 2
    signs = np.array(list(itertools.product([0, 1], repeat=d.size)))
    w_plus = signs @ ranks
    return float(np.mean(np.abs(w_plus - center) >= abs(observed - center) - 1e-9))


def test_wilcoxon_p_with_ties_and_zeros_equals_enumerating_every_sign_pattern():
    rng = np.random.default_rng(7)
    worst_scipy = 0.0
    for n in (3, 5, 8, 11, 14):
        for _ in range(4):
            # Gains in accuracy on 300 examples: multiples of 1/300, ties and zeros.
            d = rng.integers(-3, 6, n) / 300
            exact = brute_force_wilcoxon_p(d)
            assert F.wilcoxon_p(d) == pytest.approx(exact, abs=1e-12)
            if np.count_nonzero(d) > 0:
                worst_scipy = max(worst_scipy, abs(stats.wilcoxon(d).pvalue - exact))
    assert worst_scipy > 0.02  # scipy's normal approximation is what this replaces
    # A known case: 7 non-zero gains, two tie groups; 10 of the 128 patterns as extreme.
    assert F.wilcoxon_p([0.01, 0.01, 0.02, 0.02, 0.0, -0.01, 0.01, 0.03]) == 10 / 128


def test_wilcoxon_p_without_ties_equals_scipys_exact_test():
    rng = np.random.default_rng(8)
    for n in (4, 9, 20, 40):
        d = rng.normal(0.3, 1.0, n)
        assert F.wilcoxon_p(d) == pytest.approx(stats.wilcoxon(d, method="exact").pvalue,
                                                rel=1e-12)


def test_float32_accuracies_tie_as_the_counts_they_came_from():
    # Keras reports accuracies in float32: equal gains then differ in the 8th digit.
    rng = np.random.default_rng(9)
    right_a, right_b = rng.integers(255, 275, 12), rng.integers(255, 275, 12)
    a = (right_a / 300).astype(np.float32).astype(float)
    b = (right_b / 300).astype(np.float32).astype(float)
    result = ks.compare(ks.SeedStudy(a, list(range(12))), ks.SeedStudy(b, list(range(12))),
                        paired=True)
    assert result.p_value == pytest.approx(brute_force_wilcoxon_p(right_a - right_b), abs=1e-12)
    assert result.better_on == (int(np.sum(right_a > right_b)), int(np.sum(right_a == right_b)),
                                int(np.sum(right_a < right_b)))


def test_beyond_the_exact_limit_the_approximations_agree_with_the_exact_distribution():
    n = F.EXACT_SIGNED_RANK_PAIRS + 1
    rng = np.random.default_rng(10)
    for shift in (0.0, 0.1, 0.2):
        d = (rng.integers(-6, 7, n) + shift * 6).round() / 300  # tied, few zeros
        approx = F.wilcoxon_p(d)
        nonzero = d[d != 0]
        weights = np.rint(2 * stats.rankdata(np.abs(nonzero))).astype(int)
        pmf = rank_tests._sign_flip_pmf(weights)
        total, observed = weights.sum(), weights[nonzero > 0].sum()
        exact = pmf[np.abs(2 * np.arange(total + 1) - total) >= abs(2 * observed - total)].sum()
        assert approx == pytest.approx(exact, abs=0.002)
    # The interval's index: the Edgeworth expansion gives the exact one.
    for n in (F.EXACT_SIGNED_RANK_PAIRS + 1, 420):
        cdf, edgeworth = F.signed_rank_cdf(n), rank_tests._signed_rank_edgeworth_cdf(n)
        for level in (0.8, 0.9, 0.95, 0.99):
            tail = (1 - level) / 2
            k = int(np.searchsorted(cdf, tail - 1e-12))
            assert edgeworth(k) >= tail > edgeworth(k - 1)


def test_signed_rank_distribution_and_interval_equal_brute_force():
    n = 10
    signs = np.array(list(itertools.product([0, 1], repeat=n)))
    w_plus = signs @ np.arange(1, n + 1)  # every sign pattern, equally likely under H0
    brute = np.array([np.mean(w_plus <= w) for w in range(n * (n + 1) // 2 + 1)])
    np.testing.assert_allclose(F.signed_rank_cdf(n), brute, rtol=0, atol=1e-15)
    d = np.random.default_rng(3).normal(0.2, 1.0, n)
    walsh = np.sort([(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)])
    k = int(np.argmax(brute >= 0.025))  # R's qsignrank(0.025, 10) = 9 (1-based index)
    assert k == 9
    estimate, (low, high), level = F.hodges_lehmann(d, 0.95)
    assert estimate == np.median(walsh)
    assert (low, high) == (walsh[k - 1], walsh[len(walsh) - k])
    assert level == 1 - 2 * brute[k - 1] == 1 - 2 * 25 / 1024   # R's achieved level, 0.951


def test_signed_rank_cdf_does_not_overflow_past_1023_pairs():
    cdf = F.signed_rank_cdf(1030)  # counts over 2^1030 overflow a float
    assert np.all(np.isfinite(cdf)) and cdf[-1] == pytest.approx(1.0, abs=1e-12)
    # Symmetric: P(W <= w) + P(W <= M - w - 1) = 1.
    np.testing.assert_allclose(cdf[:100] + cdf[::-1][1:101], 1.0, atol=1e-12)


@pytest.mark.parametrize("n, level", [(3, 0.75), (4, 0.875), (5, 0.9375)])
def test_hodges_lehmann_with_too_few_pairs_gives_the_widest_interval_and_its_level(n, level):
    d = np.array([0.012, -0.003, 0.007, 0.02, 0.001])[:n]
    walsh = [(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)]
    estimate, interval, achieved = F.hodges_lehmann(d, 0.95)
    assert interval == (min(walsh), max(walsh)) and achieved == level == 1 - 2.0 ** (1 - n)
    assert estimate == np.median(walsh)


def test_the_hodges_lehmann_interval_covers_the_median_as_often_as_it_says():
    rng = np.random.default_rng(0)
    reps = 2000
    covered = [low <= 0.3 <= high for low, high in
               (F.hodges_lehmann(rng.normal(0.3, 1.0, 12), 0.9)[1] for _ in range(reps))]
    # Exact level at 12 pairs: 1 - 2 P(W+ <= 17) = 1 - 2 * 189 / 4096; 3 Monte-Carlo SE = 0.019.
    stated = F.hodges_lehmann(np.arange(12.0), 0.9)[2]
    assert stated == 1 - 2 * 189 / 4096
    assert abs(np.mean(covered) - stated) < 3 * monte_carlo_se(stated, reps)
    # At 4 pairs the widest interval, labelled 87.5%, covers 87.5% (3 SE = 0.022).
    covered = [low <= 0 <= high for low, high in
               (F.hodges_lehmann(rng.standard_t(4, 4), 0.95)[1] for _ in range(reps))]
    assert abs(np.mean(covered) - 0.875) < 3 * monte_carlo_se(0.875, reps)


def test_the_paired_test_keeps_its_level_on_tied_accuracies():
    # Shared seed skill, each setup its own per-example errors on 300 examples:
    # the gains are multiples of 1/300 and symmetric about 0.
    rng, reps, n = np.random.default_rng(11), 2000, 10
    p = 1 / (1 + np.exp(-(1.7 + rng.normal(0, 0.15, (reps, n, 1))
                          - rng.normal(0, 1.5, (reps, 1, 300)))))
    a = (rng.random(p.shape) < p).mean(axis=2)
    b = (rng.random(p.shape) < p).mean(axis=2)
    rejected = np.mean([F.wilcoxon_p(x - y, 1e-6) < 0.05 for x, y in zip(a, b)])
    assert rejected <= 0.05 + 3 * monte_carlo_se(0.05, reps)   # 3 SE = 0.015


# ------------------------------------------------------- seeds asked for
def test_t_test_sizes_equal_statsmodels():
    for effect in (0.2, 0.5, 1.0, 1.5, 2.0):
        assert F.t_test_size(effect) == math.ceil(
            TTestPower().solve_power(effect_size=effect, power=0.8, alpha=0.05))
        assert F.t_test_size(effect, samples=2) == math.ceil(
            TTestIndPower().solve_power(effect_size=effect, power=0.8, alpha=0.05))


def test_the_counts_deliver_their_power_with_the_test_the_verdict_uses():
    reps = 4000   # 3 Monte-Carlo SE at power 0.8: 0.019
    slack = 3 * monte_carlo_se(0.8, reps)
    rng = np.random.default_rng(12)

    def paired_power(n, effect):
        d = rng.normal(effect, 1.0, (reps, n))
        return np.mean(stats.wilcoxon(d, axis=1, method="exact").pvalue < 0.05)

    def unpaired_power(n, effect):
        a, b = rng.normal(effect, 1.0, (reps, n)), rng.normal(0.0, 1.0, (reps, n))
        return np.mean(stats.mannwhitneyu(a, b, axis=1).pvalue < 0.05)

    # A gain of 1 std: the t test needs 10 pairs, the signed-rank test 11.
    pairs = F.pairs_to_detect(0.01, 0.01)
    assert (F.t_test_size(1.0), pairs) == (10, 11)
    assert paired_power(pairs, 1.0) >= 0.8 - slack and paired_power(pairs - 1, 1.0) < 0.8
    # A gap of 2 std: the old count, 5 per side, gives 0.67; 6 are needed.
    seeds = F.seeds_to_detect(0.02, 0.01)
    assert seeds == 6 and seeds >= F.t_test_size(2.0, samples=2)
    assert unpaired_power(seeds, 2.0) >= 0.8 - slack
    assert unpaired_power(5, 2.0) == pytest.approx(0.67, abs=slack)
    # A rank test never needs fewer than the t test on normal data.
    for effect in (0.3, 0.7, 1.2):
        assert F.pairs_to_detect(effect, 1.0) >= F.t_test_size(effect)
        assert F.seeds_to_detect(effect, 1.0) >= F.t_test_size(effect, samples=2)
    assert F.pairs_to_detect(0.0, 1.0) is None and F.seeds_to_detect(0.0, 1.0) is None
    # Beyond SIMULATED_SEEDS the t test's size over 3/pi.
    assert F.pairs_to_detect(0.1, 1.0) == math.ceil(F.t_test_size(0.1) * math.pi / 3)


def test_seeds_needed_delivers_its_assurance():
    width, std = 0.01, 0.01
    # Known std: the planned interval is narrower than width with probability
    # chi2.cdf at the count (>= 0.8) and not at one seed fewer.
    n = F.seeds_needed(std, width)
    rng, reps = np.random.default_rng(13), 4000
    assert n == 22 and F.seeds_needed(std, width, assurance=0.5) == 18

    def narrower(count, true_std):
        s = np.std(rng.normal(0, true_std, (reps, count)), axis=1, ddof=1)
        return np.mean(2 * stats.t.ppf(0.975, count - 1) * s / np.sqrt(count) < width)

    slack = 3 * monte_carlo_se(0.8, reps)    # 0.019
    assert narrower(n, std) >= 0.8 - slack and narrower(n - 1, std) < 0.8 + slack
    # The old answer (the std taken as the truth, no assurance) is narrower only ~56% of the time.
    old = 18
    assert narrower(old, std) == pytest.approx(0.56, abs=3 * monte_carlo_se(0.56, reps))
    # A pilot of m seeds: over the pilot and the planned study together.
    for pilot in (3, 5, 10):
        reps_pilot = 600   # 3 SE at 0.8: 0.049
        pilots = np.std(rng.normal(0, std, (reps_pilot, pilot)), axis=1, ddof=1)
        hits = 0
        for s in pilots:
            count = F.seeds_needed(float(s), width, pilot_seeds=pilot)
            planned = np.std(rng.normal(0, std, count), ddof=1)
            hits += 2 * stats.t.ppf(0.975, count - 1) * planned / np.sqrt(count) < width
        assert hits / reps_pilot >= 0.8 - 3 * monte_carlo_se(0.8, reps_pilot)
    with pytest.raises(ValueError, match=r"`pilot_seeds` must be the number of seeds `std` "
                                         r"came from, an int >= 2, or None for a known std; "
                                         r"received pilot_seeds=1\."):
        F.seeds_needed(std, width, pilot_seeds=1)
    with pytest.raises(ValueError, match=r"`assurance` must be a probability from 0\.5 to 1 "
                                         r"\(excluded\); received assurance=80\."):
        F.seeds_needed(std, width, assurance=80)
    with pytest.raises(ValueError, match=r"`width` must be a finite number > 0; received "
                                         r"width=0\."):
        F.seeds_needed(std, 0)
    with pytest.raises(ValueError, match=r"`width` must be a positive number; received "
                                         r"width=0\."):
        study().seeds_needed(0)


# ------------------------------------------------------------------ compare
RNG = np.random.default_rng(20261122)
SAME_A, SAME_B = RNG.normal(0.90, 0.01, 10), RNG.normal(0.90, 0.01, 10)
SHIFTED = RNG.normal(0.92, 0.01, 10)


def test_compare_same_distribution_finds_no_evidence_of_a_difference():
    result = ks.compare(ks.SeedStudy(SAME_A, name="base"), ks.SeedStudy(SAME_B, name="new"))
    assert result.winner is None
    assert str(result).startswith("No evidence of a difference between base and new beyond "
                                  "seed noise with 10 and 10 seeds (Mann-Whitney p = 0.79 >= "
                                  "0.05): P(base better) = 0.54 (95% CI 0.27-0.79)")
    # These two samples' means differ by 5.6e-5 (0.006 std): no practical number finds it.
    assert result.seeds_to_settle > 100_000
    assert result.verdict.endswith("A true gap of this size (+5.633e-05 in mean score) is too "
                                   "small for any practical number of seeds to find with 80% "
                                   "power (about 7.7e+05 seeds each).")
    near = ks.compare(SAME_A, SAME_B[:6] + 0.004)
    assert near.winner is None and near.seeds_to_settle == 118
    assert near.verdict.endswith(
        "For 80% power against a true gap of this size (-0.00494 in mean score), the "
        "Mann-Whitney test needs about 118 seeds each, if seeds spread as these do (normal "
        "scores).")
    pooled = math.sqrt((np.var(SAME_A, ddof=1) + np.var(SAME_B[:6], ddof=1)) / 2)
    assert near.seeds_to_settle == F.seeds_to_detect(near.mean_difference, pooled)
    assert not hasattr(result, "split")   # no second criterion to disagree with the test


def test_compare_shifted_distribution_beats():
    result = ks.compare(ks.SeedStudy(SHIFTED, name="new"), ks.SeedStudy(SAME_A, name="base"))
    assert result.winner == "new" and result.seeds_to_settle is None
    assert result.verdict == (
        "new beats base beyond seed noise (Mann-Whitney p = 0.0036; 10 and 10 seeds): a random "
        "seed of new scores a better score than one of base with probability 0.89 (95% CI "
        "0.58-0.98); mean score, new minus base: +0.01539 (95% CI +0.005266 to +0.02551).")
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
    # Welch's t interval of the gap in the means.
    welch = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert result.mean_difference_ci == pytest.approx((welch.low, welch.high), rel=1e-12)
    # P(A better): the Wilson interval at the largest variance, theta (1 - theta) / 4.
    theta, k, z = np.mean(pairs), 4, stats.norm.ppf(0.975)
    roots = np.roots([1 + z * z / k, -(2 * theta + z * z / k), theta * theta])
    assert result.probability_ci == pytest.approx(tuple(sorted(roots)), rel=1e-9)
    # Lower is better: the same losses with the sign turned compare the other way.
    losses = ks.compare(ks.SeedStudy(-a, higher_is_better=False),
                        ks.SeedStudy(-b, higher_is_better=False), random_state=5)
    assert losses.probability == pytest.approx(result.probability)


def test_compare_with_too_few_seeds_says_so_instead_of_a_verdict():
    # 3 against 3 can at best reach p = 0.1 (the exact test); ties must not make it 0.047.
    tied = ks.compare([0.9] * 3, [0.8] * 3)
    assert tied.p_value == pytest.approx(0.1) and tied.winner is None
    assert (tied.smallest_p, tied.fewest_to_reject, tied.seeds_to_settle) == (0.1, 4, 4)
    assert tied.verdict == (
        "3 and 3 seeds are too few for the Mann-Whitney test to tell A from B at 0.05: "
        "whatever the scores, its smallest attainable p is 0.1, and it takes at least 4 seeds "
        "per side to reject. So far: P(A better) = 1.00 (95% CI 0.44-1.00); mean score, A minus "
        "B: +0.1 (95% CI +0.1 to +0.1). For 80% power against a true gap of this size (+0.1 in "
        "mean score), the Mann-Whitney test needs about 4 seeds each, if seeds spread as these "
        "do (normal scores).")
    assert ks.compare([0.9] * 4, [0.8] * 4).winner == "A"
    tiny = ks.compare([0.90, 0.91, 0.92, 0.93], [0.9000001, 0.91, 0.92, 0.93])
    assert "too small for any practical number of seeds to find" in tiny.verdict


LEVEL_IN_TEXT = re.compile(r"(\d+(?:\.\d+)?)% CI")


@pytest.mark.parametrize("n", [3, 5, 10])
def test_verdicts_at_3_5_and_10_seeds_claim_no_level_or_verdict_the_seeds_cannot_give(n):
    rng = np.random.default_rng(n)
    luck = rng.normal(0.9, 0.01, n)
    gain = np.abs(rng.normal(0.01, 0.002, n))   # A better on every seed
    a = ks.SeedStudy(luck + gain, list(range(n)), name="a")
    b = ks.SeedStudy(luck, list(range(n)), name="b")
    for result in (ks.compare(a, b), ks.compare(a, b, paired=True)):
        levels = {float(x) / 100 for x in LEVEL_IN_TEXT.findall(result.verdict)}
        achieved = {0.95, result.median_difference_level}
        assert levels <= achieved, result.verdict
        assert "Borderline" not in result.verdict
        if result.smallest_p >= 0.05:   # no test at this n could reject: no verdict
            assert result.winner is None and "are too few for the" in result.verdict
        assert (result.winner is not None) == (result.p_value < 0.05)
    paired = ks.compare(a, b, paired=True)
    assert paired.better_on == (n, 0, 0)
    if n == 3:
        assert paired.median_difference_level == 0.75 and paired.verdict.startswith(
            "3 shared seeds are too few for the signed-rank test to tell a from b at 0.05: "
            "whatever the scores, its smallest attainable p is 0.25, and it takes at least 6 "
            "shared seeds that do not tie to reject. So far: a scores a better score on 3 of 3 "
            "seeds; a minus b: median gain ")
        assert ": a 75% CI, the widest 3 pairs allow), mean gain" in paired.verdict
    if n == 5:
        assert paired.median_difference_level == 0.9375 and paired.winner is None
        assert ": a 93.75% CI, the widest 5 pairs allow)" in paired.verdict
    if n == 10:
        assert paired.median_difference_level == 0.95 and paired.winner == "a"
        assert paired.verdict.startswith(
            "a beats b beyond seed noise, seed by seed (Wilcoxon signed-rank p = 0.002; 10 "
            "shared seeds): a scores a better score on 10 of 10 seeds; a minus b: median gain ")


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


def test_the_unpaired_intervals_hold_their_level_at_3_and_5_seeds():
    reps = 2000   # 3 Monte-Carlo SE at 0.95: 0.015
    rng = np.random.default_rng(14)
    truth = stats.norm.cdf(1 / math.sqrt(2))   # P(A better), A 1 std ahead
    for n in (3, 5):
        a, b = rng.normal(1.0, 1.0, (reps, n)), rng.normal(0.0, 1.0, (reps, n))
        low, high = F.improvement_interval(a, b)
        assert np.mean((low <= truth) & (truth <= high)) >= 0.95 - 3 * monte_carlo_se(0.95, reps)
        low, high = F.welch_interval(a, b)
        assert np.mean((low <= 1) & (1 <= high)) >= 0.95 - 3 * monte_carlo_se(0.95, reps)
    # What compare returns is these functions' answer.
    result = ks.compare(a[0], b[0])
    assert result.probability_ci == F.improvement_interval(a[0], b[0])
    assert result.mean_difference_ci == F.welch_interval(a[0], b[0])


# ------------------------------------------------------------ paired compare
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
    assert paired.probability == 1.0 and paired.better_on == (8, 0, 0)
    assert paired.p_value == brute_force_wilcoxon_p(np.round(gain * 1000)) == 2 / 2 ** 8
    assert paired.mean_difference == pytest.approx(gain.mean(), abs=1e-12)
    walsh = [(gain[i] + gain[j]) / 2 for i in range(8) for j in range(i, 8)]
    assert paired.median_difference == pytest.approx(np.median(walsh), abs=1e-12)
    assert paired.median_difference_level == 0.95
    assert paired.mean_difference_ci == pytest.approx(F.t_interval(gain), abs=1e-12)
    assert paired.probability_ci == pytest.approx(
        (stats.binomtest(8, 8).proportion_ci(0.95, method="exact").low, 1.0), rel=1e-9)
    assert paired.verdict.startswith(
        "new beats base beyond seed noise, seed by seed (Wilcoxon signed-rank p = 0.0078; 8 "
        "shared seeds): new scores a better val_accuracy on 8 of 8 seeds; new minus base: "
        "median gain +0.01 (95% CI ")


def test_win_rate_interval_is_clopper_pearson_and_brackets_ties():
    ci = stats.binomtest(9, 10).proportion_ci(0.95, method="exact")
    assert F.win_rate_interval(9, 0, 10) == pytest.approx((ci.low, ci.high), rel=1e-9)
    low, _ = F.win_rate_interval(6, 2, 10)   # P(better) from 6 of 10, P(not worse) from 8
    _, high = F.win_rate_interval(8, 0, 10)
    assert F.win_rate_interval(6, 2, 10) == (low, high)
    assert low == pytest.approx(stats.binomtest(6, 10).proportion_ci(0.95, "exact").low)


def test_one_test_decides_a_paired_verdict():
    seeds, index = list(range(40)), np.arange(40)
    base = 0.9 + 0.01 * np.sin(index)
    # a gains a lot on 18 seeds and loses a little on 22: the signed-rank test
    # (which weighs the sizes) rejects equal setups; a wins though it is better
    # on fewer than half the seeds, and the verdict says both.
    gain = np.where(index % 20 < 9, 0.05 + 0.001 * index, -0.001 - 0.00001 * index)
    result = ks.compare(ks.SeedStudy(base + gain, seeds, name="a"),
                        ks.SeedStudy(base, seeds, name="b"), paired=True)
    p = stats.wilcoxon(gain, method="exact").pvalue
    assert result.p_value == pytest.approx(p, rel=1e-9) and p < 0.05
    assert result.winner == "a" and result.better_on == (18, 0, 22)
    assert "a scores a better score on 18 of 40 seeds" in result.verdict
    # The other way round: a wins a little on 30 seeds, loses a lot on 10: no evidence.
    gain = np.where(index % 4 == 0, -0.05 - 0.001 * index, 0.001 + 0.00001 * index)
    result = ks.compare(ks.SeedStudy(base + gain, seeds, name="a"),
                        ks.SeedStudy(base, seeds, name="b"), paired=True)
    assert result.p_value == pytest.approx(stats.wilcoxon(gain, method="exact").pvalue)
    assert result.p_value > 0.05 and result.winner is None
    assert result.verdict.startswith(
        "No evidence of a difference between a and b beyond seed noise on 40 shared seeds "
        "(Wilcoxon signed-rank p = 0.47 >= 0.05): a scores a better score on 30 of 40 seeds")


def test_paired_compare_follows_the_metric_direction_and_needs_shared_seeds():
    losses = ks.SeedStudy(1 - SEED_LUCK, list(range(8)), higher_is_better=False, name="a")
    lower = ks.SeedStudy(1 - SEED_LUCK - 0.01, list(range(8)), higher_is_better=False,
                         name="b")
    assert ks.compare(losses, lower, paired=True).winner == "b"
    same = ks.compare(losses, ks.SeedStudy(1 - SEED_LUCK, list(range(8)),
                                           higher_is_better=False, name="c"), paired=True)
    assert same.winner is None and same.p_value == 1.0 and same.seeds_to_settle is None
    assert same.better_on == (0, 8, 0) and same.verdict.endswith(
        "Every seed scores the same: there is no gap for more seeds to settle.")
    with pytest.raises(ValueError, match=r"^`paired=True` compares the seeds both studies "
                                         r"have; a and d share 0 seed\(s\)\."):
        ks.compare(losses, ks.SeedStudy([0.1, 0.2], seeds=[100, 101], higher_is_better=False,
                                        name="d"), paired=True)


def test_compare_advises_the_ensemble_and_the_single_seed_to_ship():
    from keras_seeds.statistics.ensembles import compare_spreads

    a = ks.SeedStudy([0.90, 0.91, 0.95, 0.92], name="wide", ensemble_score=0.96)
    b = ks.SeedStudy([0.90, 0.905, 0.91, 0.908], name="narrow", ensemble_score=0.93)
    spreads = compare_spreads(a.scores, b.scores, names=("wide", "narrow"))
    assert spreads.p_value == pytest.approx(stats.levene(a.scores, b.scores,
                                                         center="median").pvalue)
    advice = ("To ship: as an ensemble of its seeds, wide scores the better score (0.96 "
              "against 0.93; one ensemble each, point values). " + spreads.sentence)
    for paired in (False, True):
        result = ks.compare(a, b, paired=paired)
        assert result.advice == advice and result.verdict.endswith(advice)
    # Lower is better: the lower ensemble loss is the better one.
    low_a = ks.SeedStudy([0.3, 0.2], metric="loss", higher_is_better=False, name="a",
                         ensemble_score=0.25)
    low_b = ks.SeedStudy([0.3, 0.28], metric="loss", higher_is_better=False, name="b",
                         ensemble_score=0.27)
    assert ks.compare(low_a, low_b).advice.startswith(
        "To ship: as an ensemble of its seeds, a scores the better loss (0.25 against 0.27; "
        "one ensemble each, point values).")
    assert ks.compare(ks.SeedStudy([0.9, 0.8]), low_a.scores).advice is None


def test_compare_ships_by_the_k_seed_ensembles_when_given_them():
    from keras_seeds.statistics.ensembles import ensemble_comparison

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 150)

    def predictions(noise):
        p = 1 / (1 + np.exp(-(0.8 + rng.normal(0, noise, (6, 150)))))
        return np.where(labels == 1, p, 1 - p)[..., None]

    wide, narrow = predictions(2.0), predictions(0.5)
    ensembles = ensemble_comparison(wide, narrow, labels, names=("wide", "narrow"))
    a = ks.SeedStudy(((wide[..., 0] > 0.5) == labels).mean(axis=1), name="wide")
    b = ks.SeedStudy(((narrow[..., 0] > 0.5) == labels).mean(axis=1), name="narrow")
    result = ks.compare(a, b, ensembles=ensembles)
    assert result.advice.startswith(f"To ship: {ensembles.sentence.rstrip('.')}. As a single "
                                    "seed")
    with pytest.raises(ValueError, match=r"^`ensembles` compares \('wide', 'narrow'\), this "
                                         r"comparison \('narrow', 'wide'\); compare the same "
                                         r"two setups, in the same order\.$"):
        ks.compare(b, a, ensembles=ensembles)
    with pytest.raises(TypeError, match=r"^`ensembles` must be an EnsembleComparison"):
        ks.compare(a, b, ensembles=0.9)
