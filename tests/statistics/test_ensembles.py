"""Which setup to ship: P(A's k-seed ensemble beats B's) from the seeds' stored
predictions, the test of their spreads, and the validation-vs-test plot of
k-seed ensembles; each checked against a direct computation."""

import itertools
import math
import sqlite3

import numpy as np
import pytest
from scipy import special, stats

from keras_seeds.statistics import ensembles
from keras_seeds.statistics.ensembles import (
    compare_spreads,
    ensemble_comparison,
    ensemble_comparison_from_store,
    ensemble_points,
    ensemble_points_from_store,
    ensemble_scores,
    k_subsets,
)
from keras_seeds.sweeps.store import SeedRun, SeedStore, StoreError, array_bytes

from conftest import run_python


def _classifier(rng, seeds, examples=7, classes=3, labels=None):
    """Random softmax outputs of ``seeds`` seeds, and labels."""
    logits = rng.normal(0, 1.5, (seeds, examples, classes))
    if labels is None:
        labels = rng.integers(0, classes, examples)
    logits[:, np.arange(examples), labels] += 0.8  # better than chance
    return special.softmax(logits, axis=-1), labels


def _direct(predictions_a, predictions_b, labels, k):
    """P(A's k-ensemble beats B's), ties 1/2, by looping over every pair of
    k-subsets, each scored as the accuracy of the mean prediction."""
    def accuracies(predictions):
        return [float(np.mean(predictions[list(s)].mean(axis=0).argmax(-1) == labels))
                for s in itertools.combinations(range(len(predictions)), k)]

    wins = [(a > b) + 0.5 * (a == b) for a in accuracies(predictions_a)
            for b in accuracies(predictions_b)]
    return float(np.mean(wins))


def test_the_win_probability_is_the_mean_over_every_pair_of_k_subsets():
    rng = np.random.default_rng(0)
    predictions_a, labels = _classifier(rng, 6)
    predictions_b, _ = _classifier(rng, 5, labels=labels)
    for k in (1, 2, 3):
        result = ensemble_comparison(predictions_a, predictions_b, labels, k)
        assert result.exact and result.ensembles == (math.comb(6, k), math.comb(5, k))
        assert result.probability == pytest.approx(
            _direct(predictions_a, predictions_b, labels, k), abs=1e-12)


def test_the_interval_is_the_jackknife_over_seeds_on_the_logit_scale():
    rng = np.random.default_rng(1)
    predictions_a, labels = _classifier(rng, 6, examples=40)
    predictions_b, _ = _classifier(rng, 5, examples=40, labels=labels)
    k = 2
    result = ensemble_comparison(predictions_a, predictions_b, labels, k)
    # Directly: the estimate with each seed left out, from every k-subset of the rest.
    a_out = [_direct(np.delete(predictions_a, i, axis=0), predictions_b, labels, k)
             for i in range(6)]
    b_out = [_direct(predictions_a, np.delete(predictions_b, j, axis=0), labels, k)
             for j in range(5)]
    variance = sum((len(x) - 1) / len(x) * np.sum((np.array(x) - np.mean(x)) ** 2)
                   for x in (a_out, b_out))
    p = result.probability
    assert 0 < p < 1
    half = stats.norm.ppf(0.975) * math.sqrt(variance) / (p * (1 - p))
    expected = special.expit(special.logit(p) + np.array([-half, half]))
    np.testing.assert_allclose(result.probability_ci, expected, rtol=1e-10)


def test_random_subsets_stand_in_for_all_of_them_when_there_are_too_many():
    rng = np.random.default_rng(2)
    predictions_a, labels = _classifier(rng, 12, examples=30)
    predictions_b, _ = _classifier(rng, 12, examples=30, labels=labels)
    exact = ensemble_comparison(predictions_a, predictions_b, labels, 4, n_ensembles=500)
    sampled = ensemble_comparison(predictions_a, predictions_b, labels, 4, n_ensembles=300)
    assert exact.exact and exact.ensembles == (495, 495)
    assert not sampled.exact and sampled.ensembles == (300, 300)
    # Monte-Carlo error of a mean over 300 x 300 pairs of random subsets: at
    # most sqrt(1/4 / 300 + 1/4 / 300) = 0.041 (a pair's outcome varies at
    # most 1/4); 4 standard errors.
    assert abs(sampled.probability - exact.probability) < 4 * 0.041
    again = ensemble_comparison(predictions_a, predictions_b, labels, 4, n_ensembles=300)
    assert again.probability == sampled.probability  # seeded: the same subsets
    subsets, is_exact = k_subsets(12, 4, n_ensembles=300, random_state=5)
    assert not is_exact and subsets.shape == (300, 4)
    assert all(len(set(row)) == 4 for row in subsets.tolist())


def test_when_one_side_always_wins_the_interval_is_wilsons_out_of_the_seeds():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 50)
    good = np.where(labels == 1, 0.9, 0.1)[None].repeat(4, 0) + rng.normal(0, 0.01, (4, 50))
    bad = np.where(labels == 1, 0.4, 0.6)[None].repeat(5, 0) + rng.normal(0, 0.01, (5, 50))
    result = ensemble_comparison(good, bad, labels, k=2, names=("good", "bad"))
    assert result.probability == 1.0 and result.better == "good"
    # Wilson's score interval for 4 successes out of 4, computed here.
    z, n = stats.norm.ppf(0.975), 4
    low = (1 + z ** 2 / (2 * n) - z * math.sqrt(z ** 2 / (4 * n ** 2))) / (1 + z ** 2 / n)
    assert result.probability_ci == pytest.approx((low, 1.0), abs=1e-12)


def test_without_enough_seeds_the_interval_is_withheld_and_the_sentence_says_why():
    rng = np.random.default_rng(4)
    predictions_a, labels = _classifier(rng, 3, examples=20)
    predictions_b, _ = _classifier(rng, 3, examples=20, labels=labels)
    result = ensemble_comparison(predictions_a, predictions_b, labels, k=3)
    assert all(math.isnan(x) for x in result.probability_ci) and result.better is None
    assert result.probability in (0.0, 0.5, 1.0)  # one ensemble per side
    assert ("no interval: each side needs at least 4 seeds for one (the jackknife leaves one "
            "seed out).") in result.sentence


def test_the_spread_test_is_brown_forsythe_and_knows_when_it_cannot_reject():
    rng = np.random.default_rng(5)
    steady, lucky = rng.normal(0.9, 0.002, 10), rng.normal(0.9, 0.02, 12)
    result = compare_spreads(steady, lucky, names=("steady", "lucky"))
    reference = stats.levene(steady, lucky, center="median")
    assert (result.statistic, result.p_value) == (reference.statistic, reference.pvalue)
    assert result.safer == "steady" and result.p_value < 0.05
    assert result.ranges == (np.ptp(steady), np.ptp(lucky))
    # With 3 and 3 seeds the largest statistic is reached with one side tied
    # and the other spread as {-1, 0, 1}: p = 0.116, above 0.05.
    extreme = compare_spreads([0.9, 0.9, 0.9], [0.8, 0.9, 1.0])
    assert extreme.p_value == pytest.approx(extreme.smallest_p, rel=1e-9)
    assert extreme.smallest_p == pytest.approx(0.1161165, abs=1e-6)
    found = min(stats.levene(rng.normal(0, 1, 3), rng.normal(0, s, 3), center="median").pvalue
                for s in np.exp(rng.normal(0, 3, 1000)))
    assert found >= extreme.smallest_p
    assert extreme.safer is None and "cannot reject at 0.05" in extreme.sentence
    assert compare_spreads([0.9, 0.9, 0.9], [0.8, 0.9, 1.0, 0.95]).smallest_p == 0.0
    few = compare_spreads([0.9, 0.91], [0.8, 0.9, 1.0])
    assert math.isnan(few.p_value) and "too few to test their spreads" in few.sentence


def test_named_scores_agree_with_scikit_learn():
    from sklearn import metrics

    rng = np.random.default_rng(6)
    probabilities, labels = _classifier(rng, 4, examples=60, classes=4)
    one_hot = np.eye(4)[labels]
    subsets = np.array([[0, 1, 2], [1, 3, 2]])
    means = [probabilities[s].mean(axis=0) for s in subsets]
    for score, truth, expected in (
            ("accuracy", labels, [metrics.accuracy_score(labels, m.argmax(-1)) for m in means]),
            ("accuracy", one_hot, [metrics.accuracy_score(labels, m.argmax(-1))
                                   for m in means]),
            ("sparse_categorical_crossentropy", labels,
             [metrics.log_loss(labels, m, labels=range(4)) for m in means]),
            ("categorical_crossentropy", one_hot,
             [metrics.log_loss(labels, m, labels=range(4)) for m in means])):
        np.testing.assert_allclose(ensemble_scores(probabilities, truth, subsets, score),
                                   expected, rtol=1e-6)
    binary = rng.random((4, 60, 1))
    targets = rng.integers(0, 2, 60)
    means = [binary[s].mean(axis=0)[:, 0] for s in subsets]
    np.testing.assert_allclose(
        ensemble_scores(binary, targets, subsets, "accuracy"),
        [metrics.accuracy_score(targets, m > 0.5) for m in means])
    np.testing.assert_allclose(
        ensemble_scores(binary, targets, subsets, "binary_crossentropy"),
        [metrics.log_loss(targets, m, labels=[0, 1]) for m in means], rtol=1e-5)
    values, y = rng.normal(0, 1, (4, 60, 2)), rng.normal(0, 1, (60, 2))
    means = [values[s].mean(axis=0) for s in subsets]
    for score, function in (("mse", metrics.mean_squared_error),
                            ("mean_absolute_error", metrics.mean_absolute_error)):
        np.testing.assert_allclose(ensemble_scores(values, y, subsets, score),
                                   [function(y, m) for m in means], rtol=1e-6)


def test_a_score_function_and_a_lower_is_better_score_turn_the_comparison_around():
    rng = np.random.default_rng(7)
    y = rng.normal(0, 1, 80)
    close = y[None, :, None] + rng.normal(0, 0.3, (6, 80, 1))
    far = y[None, :, None] + rng.normal(0, 1.0, (6, 80, 1))
    by_name = ensemble_comparison(close, far, y, k=2, score="mse")
    assert by_name.higher_is_better is False and by_name.probability == 1.0
    assert by_name.better == "A"

    def mse(mean_prediction, labels):
        return float(np.mean((mean_prediction[:, 0] - labels) ** 2))

    by_function = ensemble_comparison(close, far, y, k=2, score=mse, higher_is_better=False)
    assert by_function.probability == by_name.probability
    np.testing.assert_allclose(by_function.mean_scores, by_name.mean_scores, rtol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda p, y: ensemble_comparison(p, p, y, k=7),
     r"^`k` must be an int between 1 and the seeds of the smaller side \(6\); received k=7\.$"),
    (lambda p, y: ensemble_comparison(p, p[:, :5], y),
     r"^`predictions_a` and `predictions_b` must be predictions on the same examples, of "
     r"one shape per example; received shapes \(6, 7, 3\) and \(6, 5, 3\)\.$"),
    (lambda p, y: ensemble_comparison(p, p, y[:4]),
     r"^`labels` must hold one numeric label per example \(7\); received an array of shape "
     r"\(4,\) and dtype int64\.$"),
    (lambda p, y: ensemble_comparison(p, p, y, score="f1"),
     r"^`score` must be one of accuracy, .*, binary_crossentropy or a function "
     r"f\(mean_prediction, labels\) -> float; received score='f1'\.$"),
    (lambda p, y: ensemble_comparison(p, p, y, score=lambda m, t: 0.0),
     r"^`higher_is_better` must be True or False when `score` is a function; received "
     r"higher_is_better=None\.$"),
    (lambda p, y: ensemble_comparison(p[0, :, 0], p, y),
     r"^`predictions_a` must be per-seed predictions shaped \(seeds, examples, \.\.\.\); "
     r"received an array of shape \(7,\) and dtype float64\.$"),
    (lambda p, y: ensemble_comparison(np.where(p > 0.5, np.nan, p), p, y),
     r"^`predictions_a` holds NaN or infinite predictions; drop the seeds that diverged\.$"),
    (lambda p, y: ensemble_comparison(p, p, y, names=("A", "A")),
     r"^`names` must be two different strings \(A's, B's\); received names=\('A', 'A'\)\.$"),
    (lambda p, y: compare_spreads([], [0.9]),
     r"^`scores_a` must be a non-empty 1-D sequence of finite scores, one per seed; "
     r"received scores_a=\[\]\.$"),
])
def test_bad_input_is_refused_with_a_message_that_names_it(call, message):
    predictions, labels = _classifier(np.random.default_rng(8), 6)
    with pytest.raises(ValueError, match=message):
        call(predictions, labels)


def _two_configs(path, rng, test=True):
    """A store with two classifiers' kept predictions (4 classes, 30 + 20
    examples) and their labels, as a sweep writes them."""
    store = SeedStore(path)
    labels, test_labels = rng.integers(0, 4, 30), rng.integers(0, 4, 20)
    arrays = {}
    for name, seeds in (("wide", 7), ("narrow", 6)):
        key = store.add_config({"metric": "accuracy", "higher_is_better": True, "name": name},
                               name=name)
        store.set_labels(key, "validation", labels)
        if test:
            store.set_labels(key, "test", test_labels)
        validation, _ = _classifier(rng, seeds, 30, 4, labels)
        tested, _ = _classifier(rng, seeds, 20, 4, test_labels)
        validation, tested = validation.astype(np.float32), tested.astype(np.float32)
        store.write(key, [SeedRun(100 + s, "done", score=0.5, outputs=array_bytes(validation[s]),
                                  test_outputs=array_bytes(tested[s]) if test else None)
                          for s in range(seeds)] + [SeedRun(99, "failed", error="OOM")])
        arrays[name] = (validation, tested)
    return store, labels, test_labels, arrays


def test_the_comparison_from_a_store_is_the_one_from_its_arrays(tmp_path):
    store, labels, test_labels, arrays = _two_configs(tmp_path / "seeds.db",
                                                      np.random.default_rng(9))
    from_store = ensemble_comparison_from_store(tmp_path / "seeds.db", "wide", "narrow", k=3)
    direct = ensemble_comparison(arrays["wide"][0], arrays["narrow"][0], labels, k=3,
                                 names=("wide", "narrow"))
    assert from_store == direct
    assert from_store.probability == pytest.approx(
        _direct(arrays["wide"][0], arrays["narrow"][0], labels, 3), abs=1e-12)
    on_test = ensemble_comparison_from_store(tmp_path / "seeds.db", "wide", "narrow", k=3,
                                             split="test")
    assert on_test == ensemble_comparison(arrays["wide"][1], arrays["narrow"][1], test_labels,
                                          k=3, names=("wide", "narrow"))
    points = ensemble_points_from_store(tmp_path / "seeds.db", "wide", k=2)
    expected = ensemble_points(arrays["wide"][0], labels, arrays["wide"][1], test_labels, k=2,
                               seeds=np.arange(100, 107))
    for field in ("seeds", "subsets", "validation", "test", "single_validation",
                  "single_test"):
        np.testing.assert_array_equal(getattr(points, field), getattr(expected, field))
    # The recorded ensemble score is the check that the score is the metric.
    store.set_ensemble(store.find_config("wide"), range(100, 107), {"accuracy": 0.123})
    with pytest.raises(ValueError, match=r"^`score`: accuracy of the mean prediction of "
                                         r"'wide''s 7 seeds is .*, but its sweep scored that "
                                         r"ensemble 0\.123 \(accuracy\); pass score="):
        ensemble_comparison_from_store(tmp_path / "seeds.db", "wide", "narrow")


def test_a_store_without_test_predictions_or_labels_says_what_is_missing(tmp_path):
    path = tmp_path / "seeds.db"
    _two_configs(path, np.random.default_rng(10), test=False)
    with pytest.raises(StoreError, match=r"^`config`: 'wide' in '.*seeds\.db' has no test "
                                         r"predictions kept; run its sweep with ensemble=True "
                                         r"and a test split"):
        ensemble_points_from_store(path, "wide")
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE labels")  # a store made before labels were kept
    with pytest.raises(StoreError, match=r"^`config`: 'wide' in '.*' has no validation labels "
                                         r"kept \(a store written before they were\)"):
        ensemble_comparison_from_store(path, "wide", "narrow")
    with pytest.raises(ValueError, match=r"^`config_a` and `config_b` name the same "
                                         r"configuration \('wide', 'wide'\); compare two\.$"):
        ensemble_comparison_from_store(path, "wide", "wide")


def test_ensembles_are_compared_and_plotted_from_a_store_without_keras(tmp_path):
    _two_configs(tmp_path / "seeds.db", np.random.default_rng(12))
    code = f"""
import sys
from keras_seeds.statistics.ensembles import (ensemble_comparison_from_store,
                                              ensemble_points_from_store)
path = {str(tmp_path / 'seeds.db')!r}
print(ensemble_comparison_from_store(path, "wide", "narrow").k)
ensemble_points_from_store(path, "narrow", k=2).plot({str(tmp_path / 'points.png')!r})
print(sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules))
"""
    assert run_python("-c", code).stdout.split() == ["3", "[]"]
    assert (tmp_path / "points.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_plot_of_ensembles_is_rendered_to_a_png(tmp_path):
    from matplotlib import image

    rng = np.random.default_rng(11)
    labels, test_labels = rng.integers(0, 3, 40), rng.integers(0, 3, 50)
    points = ensemble_points(_classifier(rng, 8, 40, 3, labels)[0], labels,
                             _classifier(rng, 8, 50, 3, test_labels)[0], test_labels, k=3,
                             n_ensembles=30)
    assert points.subsets.shape == (30, 3) and not points.exact
    figure = points.plot(tmp_path / "ensembles.png")
    axes = figure.axes[0]
    assert axes.get_title() == "accuracy, validation vs test: 3-seed ensembles"
    ensembles_dots, singles = axes.collections[:2]
    np.testing.assert_array_equal(ensembles_dots.get_offsets(),
                                  np.column_stack([points.validation, points.test]))
    np.testing.assert_array_equal(singles.get_offsets(),
                                  np.column_stack([points.single_validation,
                                                   points.single_test]))
    pixels = image.imread(tmp_path / "ensembles.png")
    assert pixels.shape[:2] == (400, 640)  # 6.4 x 4.0 inches at 100 dpi
    from keras_seeds.statistics import plots

    with pytest.raises(ValueError, match=r"^`validation` and `test` must hold one score each "
                                         r"per point; received 3 and 2\.$"):
        plots.ensembles_val_vs_test([0.9, 0.8, 0.7], [0.9, 0.8], k=2)


def test_the_default_ensemble_size_and_its_rule():
    assert [ensembles.default_k(n, n) for n in (2, 3, 5, 10, 30)] == [1, 1, 2, 5, 5]


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data / 16.0).astype("float32"), digits.target.astype("int32")
    return (x[:192], y[:192]), (x[192:320], y[192:320]), (x[320:448], y[320:448])


def test_a_sweep_with_a_test_split_compares_and_plots_its_ensembles_from_the_store(tmp_path):
    from keras_seeds.demo import digits_mlp
    from keras_seeds.sweeps.run import SweepGroup, sweep_groups

    path = tmp_path / "seeds.db"
    # Two configurations in one fused chunk (one build, one trace): the second
    # trains every seed on one data order.
    free, pinned = sweep_groups(
        digits_mlp, _digits, [SweepGroup("free", [0, 1, 2, 3]),
                              SweepGroup("pinned", [4, 5, 6, 7], {"data": 7})],
        epochs=2, compile_kwargs=None, fit_kwargs=None, replicas_per_job=8, store=path,
        metric=None, ensemble=True, keep_weights=False, discard=None, progress=False,
        engine=None, trackers=[]).studies
    result = ensemble_comparison_from_store(path, "free", "pinned", k=2)
    assert result.names == ("free", "pinned") and result.metric == "accuracy"
    assert result.exact and result.ensembles == (6, 6)
    # Scored from the kept predictions, the ensembles and the single seeds get
    # the scores Keras gave them in the sweep.
    assert result.full_scores == pytest.approx((free.ensemble_score, pinned.ensemble_score),
                                               abs=1e-6)
    points = ensemble_points_from_store(path, "free", k=2)
    assert points.seeds.tolist() == free.seeds.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(points.single_validation, free.scores, atol=1e-6)
    np.testing.assert_allclose(points.single_test, free.test_scores, atol=1e-6)
    (_, _), (_, y_val), (_, y_test) = _digits()
    key = SeedStore(path).find_config("free")
    assert np.array_equal(SeedStore(path).labels(key, "test"), y_test)
    kept = SeedStore(path).predictions(key, "test")
    mean = np.mean([kept[s] for s in (0, 2)], axis=0)
    row = points.subsets.tolist().index([0, 2])
    assert points.test[row] == pytest.approx(float(np.mean(mean.argmax(-1) == y_test)))
    points.plot(tmp_path / "free.png")
    assert (tmp_path / "free.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
