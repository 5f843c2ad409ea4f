"""Test-set noise against simulated studies whose truth is known (NumPy only, seeded).

Each simulated study: 64 seeds, 300 examples; example i has difficulty p_i
(uniform in [0.5, 0.95]) and seed s a run-level effect d_s ~ N(0, tau^2), and
seed s gets example i right with probability p_i + d_s, independently. The
score of seed s on the whole distribution is then mean(p) + d_s, so the true
distribution-wise variance across seeds is tau^2 (no clipping happens: the
effects stay far from 0 and 1).
"""

import math

import numpy as np
import pytest

from keras_seeds.statistics.noise import (
    best_above_median,
    check_correct,
    distribution_variance_interval,
    noise_estimate,
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
