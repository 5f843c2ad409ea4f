"""compare and the seed counts it asks for: every statistic against an
independent computation."""

import itertools

import numpy as np
import pytest
from scipy import stats

import keras_seeds as ks

SCORES = np.array([0.91, 0.93, 0.92, 0.80, 0.92, 0.90, 0.94, 0.91])   # ties, one black swan
SEEDS = [11, 3, 7, 42, 5, 8, 13, 21]


def study(scores=SCORES, seeds=SEEDS, **kwargs):
    return ks.SeedStudy(scores, seeds, metric="val_accuracy", **kwargs)


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
