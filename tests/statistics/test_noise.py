"""Test-set noise against simulated studies whose truth is known (NumPy only, seeded).

Each simulated study: 64 seeds, 300 examples; example i has difficulty p_i
(uniform in [0.5, 0.95]) and seed s a run-level effect d_s ~ N(0, tau^2), and
seed s gets example i right with probability p_i + d_s, independently. The
score of seed s on the whole distribution is then mean(p) + d_s, so the true
distribution-wise variance across seeds is tau^2 (no clipping happens: the
effects stay far from 0 and 1).

The logistic studies (``logistic``) are the calibration benchmark's
(``benchmarks/calibration/scenarios.py``): examples of varying difficulty on the
logit scale, seeds of varying skill, a fresh set of examples per study; their
truth by Gauss-Hermite quadrature. The regression studies (``regression``):
per-example squared errors of seeds whose error scale varies.
"""

import math

import numpy as np
import pytest
from scipy import special, stats

from keras_seeds.statistics.noise import (
    best_above_median,
    bonett_variance_interval,
    check_correct,
    check_per_example,
    distribution_variance_interval,
    example_variance,
    noise_estimate,
    rows_match_scores,
    set_noise_z,
    variance_parts,
)

SEEDS, EXAMPLES = 64, 300
# The independent-errors std of these studies: sqrt(E[p(1-p)] / n) for p ~ U(0.5, 0.95).
_P = np.linspace(0.5, 0.95, 100001)
INDEPENDENT_STD = math.sqrt(float(np.mean(_P * (1 - _P))) / EXAMPLES)


def simulate(rng, tau, seeds=SEEDS, examples=EXAMPLES):
    difficulty = rng.uniform(0.5, 0.95, examples)
    effect = rng.normal(0.0, tau, (seeds, 1))
    return rng.random((seeds, examples)) < difficulty + effect


def test_the_estimate_is_the_mean_covariance_of_distinct_examples():
    correct = simulate(np.random.default_rng(0), 0.02, seeds=20, examples=30)
    observed, independent, distribution = variance_parts(correct)
    covariance = np.cov(correct.astype(float), rowvar=False)  # (examples, examples), ddof=1
    off_diagonal = covariance[~np.eye(30, dtype=bool)]
    assert distribution == pytest.approx(off_diagonal.mean(), rel=1e-12)
    assert independent == pytest.approx(np.trace(covariance) / 30 ** 2, rel=1e-12)
    assert observed == pytest.approx(np.var(correct.mean(axis=1), ddof=1), rel=1e-12)
    assert observed == pytest.approx(independent + 29 / 30 * distribution, rel=1e-12)


BASE, DIFFICULTY, SKILL = float(special.logit(0.85)), 1.5, 0.15
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(60)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def logistic(rng, seeds, examples=300):
    """Seed k gets example i right with probability sigmoid(BASE + s_k - b_i)."""
    p = special.expit(BASE + rng.normal(0, SKILL, (seeds, 1))
                      - rng.normal(0, DIFFICULTY, examples))
    return rng.random(p.shape) < p


def logistic_truth():
    """Var_s E_b[sigmoid(BASE + s - b)], by quadrature over both."""
    f = special.expit(BASE + SKILL * _NODES[:, None] - DIFFICULTY * _NODES[None, :]) @ _WEIGHTS
    return float(f ** 2 @ _WEIGHTS - (f @ _WEIGHTS) ** 2)


def regression(rng, seeds, scale=0.05, examples=300):
    """Squared errors (1 + d_k) * (u_i + w_ki): example i's own difficulty u_i
    (std 0.8), seed k's error scale 1 + d_k (d_k ~ N(0, scale**2)) and
    independent noise w (std 0.6). Seed k's MSE on the distribution is
    (1 + d_k)**2, whose variance across seeds is 4 scale**2 + 2 scale**4."""
    errors = (1 + rng.normal(0, scale, (seeds, 1))) * (
        rng.normal(0, 0.8, examples) + rng.normal(0, 0.6, (seeds, examples)))
    return errors ** 2


def test_without_a_seed_effect_the_interval_covers_zero_in_90_of_100_studies():
    rng = np.random.default_rng(20)
    covered = 0
    for study in range(100):
        low, high = distribution_variance_interval(simulate(rng, 0.0),
                                                   random_state=study)
        covered += low <= 0.0 <= high
    assert covered >= 90, covered


def test_the_estimate_is_unbiased_over_1000_studies():
    rng = np.random.default_rng(21)
    tau = 0.02
    estimates = np.array([variance_parts(simulate(rng, tau))[2] for _ in range(1000)])
    error = estimates.std(ddof=1) / math.sqrt(estimates.size)
    assert abs(estimates.mean() - tau ** 2) < 3 * error, (estimates.mean(), tau ** 2, error)
    # And the naive answer, the observed variance, is not: it carries the
    # independent-errors part on top.
    observed = np.array([variance_parts(simulate(rng, tau))[0] for _ in range(200)])
    assert observed.mean() > tau ** 2 + 0.5 * INDEPENDENT_STD ** 2


def test_an_effect_as_large_as_the_noise_is_found_in_75_of_100_studies():
    rng = np.random.default_rng(22)
    found = 0
    for study in range(100):
        low, _ = distribution_variance_interval(simulate(rng, INDEPENDENT_STD),
                                                random_state=study)
        found += low > 0.0
    assert found >= 75, found


def test_resampling_examples_with_replacement_would_be_biased_upwards():
    # Why the interval resamples seeds: a duplicated example is counted as a
    # second example perfectly correlated with the first.
    rng = np.random.default_rng(23)
    shifts = []
    for _ in range(20):
        correct = simulate(rng, 0.0)
        columns = rng.integers(0, EXAMPLES, (50, EXAMPLES))
        resampled = [variance_parts(correct[:, c])[2] for c in columns]
        shifts.append(np.mean(resampled) - variance_parts(correct)[2])
    # About n same-example pairs per resample, each adding an example's variance
    # (n * I) over n * (n - 1) pairs: a bias of about I, as large as the noise.
    assert np.mean(shifts) > 0.5 * INDEPENDENT_STD ** 2


def test_the_interval_keeps_its_level_with_10_seeds_where_the_seed_bootstrap_did_not():
    # 400 logistic studies of 10 seeds. The 95% interval must cover in at least
    # 0.95 - 3 * sqrt(0.95 * 0.05 / 400) = 0.917 of them (3 Monte-Carlo SE):
    # 367. The percentile bootstrap over seeds it replaces covers 302 (0.755).
    rng = np.random.default_rng(5)
    truth = logistic_truth()
    studies = [logistic(rng, 10) for _ in range(400)]
    bonett = sum(low <= truth <= high for low, high in map(distribution_variance_interval,
                                                             studies))
    percentile = sum(low <= truth <= high for low, high in (
        distribution_variance_interval(c, method="percentile", n_resamples=999,
                                       random_state=i) for i, c in enumerate(studies)))
    assert bonett >= 367, bonett
    assert percentile < 0.9 * 400, percentile  # 0.90: 2.6 SE above its 0.85 in the issue


def test_the_examples_part_of_the_error_is_what_other_sets_of_examples_give():
    # The truth: the variance, over 400 fresh sets of 300 examples, of the
    # distribution-wise variance on that set with infinitely many seeds (by
    # quadrature over the skill). The estimate, from 40 studies of 64 seeds,
    # must agree within 3 Monte-Carlo SE of both (the variance of 400 draws
    # has a relative SE of sqrt(2 / 399)).
    rng = np.random.default_rng(12)
    on_sets = []
    for _ in range(400):
        q = special.expit(BASE + SKILL * _NODES[:, None] - rng.normal(0, DIFFICULTY, 300))
        centred = q - _WEIGHTS @ q                       # (skill nodes, examples)
        # The sum of the examples' covariances across skill, less their variances.
        pairs = _WEIGHTS @ centred.sum(axis=1) ** 2 - _WEIGHTS @ (centred ** 2).sum(axis=1)
        on_sets.append(pairs / (300 * 299))
    truth = np.var(on_sets, ddof=1)
    estimates = np.array([example_variance(logistic(rng, 64)) for _ in range(40)])
    se = math.hypot(truth * math.sqrt(2 / 399), estimates.std(ddof=1) / math.sqrt(40))
    assert abs(estimates.mean() - truth) < 3 * se, (estimates.mean(), truth, se)
    assert example_variance(logistic(rng, 5)) == 0.0  # too few seeds to split


def test_bonett_interval_is_bonetts_own_example():
    # Bonett (2006), the example of his Table 2: std 0.5168 and the std's
    # intervals at 90%, 95% and 99%.
    scores = [15.83, 16.01, 16.24, 16.42, 15.33, 15.44, 16.88, 16.31]
    for level, expected in ((0.90, (0.3592, 0.9359)), (0.95, (0.3263, 1.0841)),
                            (0.99, (0.2607, 1.5109))):
        low, high = bonett_variance_interval(scores, level)
        assert (round(math.sqrt(low), 4), round(math.sqrt(high), 4)) == expected
    # Normal scores: close to the chi-square interval (its kurtosis is 3).
    normal = np.random.default_rng(0).normal(size=400)
    chi2 = (399 * normal.var(ddof=1) / stats.chi2.ppf([0.975, 0.025], 399))
    assert bonett_variance_interval(normal) == pytest.approx(tuple(chi2), rel=0.05)
    assert bonett_variance_interval([0.9, 0.8, 0.85], 0.999) == (0.0, math.inf)


def test_regression_errors_decompose_and_their_interval_keeps_its_level():
    # Per-example squared errors of 20 seeds, 300 studies: D is unbiased for
    # the variance of the seeds' MSE on the distribution, 4 * 0.05**2 + 2 *
    # 0.05**4, within 3 Monte-Carlo SE of the 300 estimates' mean; the 95%
    # interval covers in at least 0.95 - 3 * sqrt(0.95 * 0.05 / 300) = 0.912.
    rng = np.random.default_rng(7)
    truth = 4 * 0.05 ** 2 + 2 * 0.05 ** 4
    studies = [regression(rng, 20) for _ in range(300)]
    estimates = np.array([variance_parts(errors)[2] for errors in studies])
    error = estimates.std(ddof=1) / math.sqrt(estimates.size)
    assert abs(estimates.mean() - truth) < 3 * error, (estimates.mean(), truth, error)
    covered = sum(low <= truth <= high for low, high in map(distribution_variance_interval,
                                                              studies))
    assert covered >= 0.912 * 300, covered
    # V = I + (n - 1) / n * D for any values, and D is the mean covariance of
    # distinct examples.
    observed, independent, distribution = variance_parts(studies[0][:, :40])
    covariance = np.cov(studies[0][:, :40], rowvar=False)
    assert distribution == pytest.approx(covariance[~np.eye(40, dtype=bool)].mean(), rel=1e-10)
    assert observed == pytest.approx(independent + 39 / 40 * distribution, rel=1e-12)


def test_lower_is_better_values_name_the_lowest_seed_best_and_speak_in_their_units():
    errors = regression(np.random.default_rng(8), 30, scale=0.1)
    estimate = noise_estimate(errors, seeds=range(100, 130), higher_is_better=False)
    mse = errors.mean(axis=1)
    assert estimate.best_seed == 100 + int(np.argmin(mse))
    assert estimate.best_gap == pytest.approx(estimate.reliability * (np.median(mse) - mse.min()))
    assert not estimate.correctness and "points" not in estimate.sentence()
    assert f"(std {estimate.observed_std:.4g})" in estimate.sentence()
    higher = noise_estimate(errors, seeds=range(100, 130))
    assert higher.best_seed == 100 + int(np.argmax(mse))


def test_the_sentence_splits_the_variance_and_the_intervals_are_on_their_scales():
    estimate = noise_estimate(logistic(np.random.default_rng(9), 30))
    observed, independent, distribution = variance_parts(logistic(np.random.default_rng(9), 30))
    assert estimate.finite_set_share == pytest.approx(independent / observed)
    assert estimate.distribution_share == pytest.approx(299 / 300 * distribution / observed)
    assert estimate.finite_set_share + estimate.distribution_share == pytest.approx(1.0)
    low, high = estimate.distribution_variance_ci
    assert estimate.distribution_std_ci == (math.sqrt(max(low, 0)), math.sqrt(high))
    assert not hasattr(estimate, "distribution_ci")  # a std's name on a variance: gone
    assert estimate.reliability_ci == pytest.approx(
        tuple(min(max(end / (independent + 299 / 300 * end), 0), 1) for end in (low, high)))
    assert estimate.best_above_median_ci == tuple(best_above_median(r, 30)
                                                  for r in estimate.reliability_ci)
    sentence = estimate.sentence()
    assert (f"about {estimate.finite_set_share:.0%} is what independent per-example errors "
            f"give (the finite set) and {estimate.distribution_share:.0%} is the seeds "
            "differing on the data distribution") in sentence
    assert f"(95% CI {100 * estimate.distribution_std_ci[0]:.2f} to " in sentence


def test_set_noise_z_is_a_standard_normal_without_a_seed_effect_and_finds_a_real_swan():
    # 200 studies of 30 seeds making independent errors only: z**2 averages 1
    # (the median of 29 others varies about pi/2 times their mean), within 3
    # Monte-Carlo SE of the 200 study averages.
    rng = np.random.default_rng(10)
    squares = np.array([np.mean(set_noise_z(rng.random((30, 300)) < rng.uniform(0.5, 0.95, 300))
                                ** 2) for _ in range(200)])
    assert abs(squares.mean() - 1) < 3 * squares.std(ddof=1) / math.sqrt(200), squares.mean()
    correct = rng.random((30, 300)) < 0.85
    correct[4] = rng.random(300) < 0.7          # 15 points worse: 7 stds of the set's noise
    z = set_noise_z(correct)
    assert z[4] < -5 and np.abs(np.delete(z, 4)).max() < 3.5
    estimate = noise_estimate(correct, seeds=range(50, 80))
    assert estimate.black_swans == (54,)
    assert ("Seed 54 stands out beyond the set's noise: with such a black swan among the "
            "seeds, the interval covers less than 95%.") in estimate.sentence()
    with pytest.raises(ValueError, match=r"`per_example` needs at least 3 seeds \(rows\) to "
                                         r"judge one against the others; received 2\."):
        set_noise_z(correct[:2])


def test_per_example_values_are_checked_and_matched_to_their_scores():
    values = check_per_example([[0.5, 1.5], [2, 2]])
    assert values.dtype == np.float64 and values.tolist() == [[0.5, 1.5], [2.0, 2.0]]
    assert check_per_example(np.array([[True, False]])).dtype == bool
    with pytest.raises(ValueError, match=r"`per_example` must hold finite numbers; row 1 "
                                         r"holds inf\."):
        check_per_example([[0.5, 1.5], [2, np.inf]])
    with pytest.raises(TypeError, match=r"`per_example` must hold numbers \(one value per "
                                        r"seed and example\); received an array of dtype <U1"):
        check_per_example([["a", "b"]])
    # Stored as float16: a row's mean is within 2**-11 of its mean magnitude.
    losses = np.random.default_rng(11).gamma(2.0, 0.3, (3, 500))
    scores = losses.mean(axis=1)
    stored = losses.astype(np.float16).astype(np.float64)
    assert rows_match_scores(stored, scores).all()
    assert not rows_match_scores(stored, scores * 1.002).any()  # 0.2%: another metric


def test_the_estimate_reports_clipping_and_the_best_seed():
    rng = np.random.default_rng(3)
    independent = noise_estimate(simulate(rng, 0.0), seeds=range(100, 164), n_resamples=999)
    assert independent.observed_std == pytest.approx(INDEPENDENT_STD, rel=0.25)
    if independent.distribution_variance < 0:
        assert independent.clipped and independent.distribution_std == 0.0
        assert "reported as 0" in independent.sentence()
    real = noise_estimate(simulate(rng, 0.05), seeds=range(100, 164), n_resamples=999)
    assert not real.clipped and real.distribution_std == pytest.approx(0.05, rel=0.3)
    assert real.reliability > 0.8 and real.best_above_median > 0.99
    assert 100 <= real.best_seed < 164


def test_best_above_median_matches_a_monte_carlo_of_its_model():
    rng = np.random.default_rng(4)
    for reliability, n in ((0.1, 5), (0.5, 20)):
        truth = rng.normal(size=(200000, n))
        observed = math.sqrt(reliability) * truth + math.sqrt(1 - reliability) * rng.normal(
            size=truth.shape)
        best = truth[np.arange(truth.shape[0]), observed.argmax(axis=1)]
        assert best_above_median(reliability, n) == pytest.approx((best > 0).mean(), abs=0.005)


@pytest.mark.parametrize("correct, message", [
    ([[1, 0, 1], [0, 1]], "row 1 has 2 examples, row 0 has 3"),
    (np.ones((4,)), "must have shape (seeds, examples)"),
    (np.array([[0.5, 1.0], [1.0, 0.0]]), "per-example losses are not correctness"),
])
def test_bad_per_example_data_names_the_argument(correct, message):
    with pytest.raises(ValueError, match="`correct`") as error:
        check_correct(correct)
    assert message in str(error.value)
