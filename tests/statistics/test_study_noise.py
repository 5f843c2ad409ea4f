"""SeedStudy's per-example values (an accuracy's correctness, a regression's
errors): kept with the scores, saved and read back bit for bit, read from a
store, refused when they cannot be the scores' own, and explained in the
summary, the report and the command line."""

import math

import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds.statistics import noise as noise_module
from keras_seeds.sweeps.store import PerExample, SeedRun, SeedStore


def _correct(seeds=24, examples=300, skill=0.02, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((seeds, examples)) < 0.85 + rng.normal(0, skill, (seeds, 1))


def test_the_study_keeps_correctness_in_seed_order_and_drops_it_with_nan_scores(tmp_path):
    correct = _correct()
    scores = correct.mean(axis=1)
    scores[5] = np.nan  # a diverged seed
    with pytest.warns(ks.SeedStudyWarning):
        study = ks.SeedStudy(scores, seeds=range(100, 124), metric="val_accuracy",
                             correct=correct)
    assert study.correct.shape == (23, 300)
    assert np.array_equal(study.correct, np.delete(correct, 5, axis=0))
    study.save(tmp_path / "study.json")
    again = ks.SeedStudy.load(tmp_path / "study.json")
    assert again.correct.dtype == bool and np.array_equal(again.correct, study.correct)
    assert again.noise().to_dict() == study.noise().to_dict()
    # 300 examples of 23 seeds take 863 bytes of base64, not a JSON list of 6900 numbers.
    assert (tmp_path / "study.json").stat().st_size < 3000


def test_summary_report_and_command_line_say_how_much_is_the_evaluation_set(tmp_path, capsys):
    from keras_seeds.cli.commands import print_study as _print_study

    correct, test = _correct(seed=1), _correct(seed=1)
    rng = np.random.default_rng(2)
    test = rng.random(test.shape) < 0.85 + (correct.mean(axis=1, keepdims=True) - 0.85)
    study = ks.SeedStudy(correct.mean(axis=1), metric="val_accuracy", correct=correct,
                         test_scores=test.mean(axis=1), test_correct=test)
    sentence = study.noise().sentence()
    assert sentence.startswith("Of the ") and "on these 300 validation examples" in sentence
    assert study.summary()["noise"] == sentence
    study.report(tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    assert "## Seed or evaluation set?" in text and sentence in text
    assert "## Does the validation ranking carry over to test?" in text
    assert "With this much noise on each set, the noise model expects about" in text
    _print_study(study)
    printed = capsys.readouterr().out
    assert f"seed or set     {sentence}" in printed and "val -> test     rank correlation" in printed


def test_the_best_seeds_advantage_is_the_observed_gap_shrunk_by_the_reliability():
    correct = _correct(seeds=40, skill=0.03, seed=3)
    estimate = ks.SeedStudy(correct.mean(axis=1), correct=correct).noise()
    scores = correct.mean(axis=1)
    assert estimate.best_seed == int(np.argmax(scores))
    assert estimate.best_gap == pytest.approx(
        estimate.reliability * (scores.max() - np.median(scores)))
    assert estimate.reliability == pytest.approx(
        estimate.distribution_std ** 2 / estimate.observed_std ** 2)
    assert 0.5 < estimate.best_above_median < 1


@pytest.mark.parametrize("arguments, message", [
    (dict(correct=np.ones((3, 10))), "`correct` must have one row per seed (4); received 3"),
    (dict(correct=[[1] * 10, [1] * 10, [1] * 9, [1] * 10]),
     "row 2 has 9 examples, row 0 has 10"),
    (dict(correct=np.full((4, 10), 0.5)), "per-example losses are not correctness"),
    (dict(correct=np.ones((4, 10)), metric="mse", higher_is_better=False),
     "`correct`: per-example correctness goes with an accuracy (a higher-is-better score in "
     "[0, 1]); this study's score 'mse' is lower-is-better (a loss or an error): pass its "
     "per-example errors as `per_example`."),
    (dict(correct=np.ones((4, 10)), per_example=np.ones((4, 10))),
     "`correct` and `per_example` are two ways to give the same per-example values; pass one."),
    (dict(per_example=np.full((4, 10), 0.3)),
     "`per_example`: row 0 has mean 0.3 but its score is 0.9; per-example values must average "
     "to the scores (squared errors for an MSE, absolute errors for an MAE; for an RMSE, "
     "study the MSE)"),
    (dict(test_per_example=np.ones((4, 10))), "`test_per_example` needs `test_scores`"),
    (dict(correct=np.eye(4, 10)), "`correct`: row 0 has mean 0.1 but its score is 0.9"),
    (dict(test_correct=np.ones((4, 10))), "`test_correct` needs `test_scores`"),
])
def test_per_example_data_that_cannot_be_the_scores_is_refused(arguments, message):
    with pytest.raises(ValueError) as error:
        ks.SeedStudy([0.9, 0.8, 0.85, 0.87], **arguments)
    assert message in str(error.value)


def test_noise_without_correctness_says_where_to_get_it():
    with pytest.raises(ValueError, match=r"`per_example`: this study has no per-example values "
                                         r"on its validation data; make it with SeededModel"
                                         r"\.study or sweep \(a store keeps an accuracy's "
                                         r"per-example correctness, and a loss score's "
                                         r"per-example losses\) or pass `correct=` \(0/1\) or "
                                         r"`per_example=`"):
        ks.SeedStudy([0.9, 0.8, 0.85]).noise()
    with pytest.raises(ValueError, match="`split` must be one of"):
        ks.SeedStudy([0.9, 0.8, 0.85]).noise(split="train")


def test_seeds_that_trade_errors_between_examples_are_said_to():
    # Every seed right on exactly 240 of 300 examples, different ones: no spread
    # at all between seeds, though each example is a coin flip across them.
    rng = np.random.default_rng(4)
    correct = np.array([rng.permutation(300) < 240 for _ in range(20)])
    estimate = ks.SeedStudy(correct.mean(axis=1), correct=correct).noise()
    assert estimate.observed_std < 1e-12 and estimate.independent_errors_std > 0.02
    assert estimate.clipped
    assert ("independent per-example errors alone would give more (a std of 2.30 points): "
            "the seeds trade errors between examples; on the data distribution their std is "
            "about 0.00 points (95% CI 0.00 to 0.00)") in estimate.sentence()


def test_a_row_one_example_off_its_score_is_refused_even_on_100000_examples():
    correct = np.zeros((3, 100_000), bool)
    correct[:, :90_000] = True
    scores = correct.mean(axis=1)
    correct[2, 0] = False  # seed 2's correctness now counts one example fewer
    with pytest.raises(ValueError, match="`correct`: row 2 has mean 0.89999 but its score is 0.9"):
        ks.SeedStudy(scores, correct=correct)


def _errors(seeds=24, examples=200, seed=0):
    """Per-example squared errors of seeds whose error scale varies by 5%."""
    rng = np.random.default_rng(seed)
    scale = 1 + rng.normal(0, 0.05, (seeds, 1))
    return (scale * (rng.normal(0, 0.8, examples) + rng.normal(0, 0.6, (seeds, examples)))) ** 2


def test_a_regression_study_has_the_noise_analysis_of_its_squared_errors(tmp_path):
    validation, test = _errors(seed=1), _errors(seed=2)
    study = ks.SeedStudy(validation.mean(axis=1), seeds=range(10, 34), metric="val_mse",
                         higher_is_better=False, per_example=validation,
                         test_scores=test.mean(axis=1), test_per_example=test)
    assert study.correct is None and study.per_example.dtype == np.float64
    estimate = study.noise()
    reference = noise_module.noise_estimate(validation, seeds=range(10, 34),
                                                   higher_is_better=False)
    assert estimate == reference
    assert estimate.best_seed == 10 + int(np.argmin(validation.mean(axis=1)))
    assert study.summary()["noise"] == estimate.sentence()
    agreement = study.test_agreement()
    assert agreement["expected"] == noise_module.expected_rank_correlation(
        estimate, study.noise(split="test"))
    study.save(tmp_path / "study.json")
    again = ks.SeedStudy.load(tmp_path / "study.json")
    assert np.array_equal(again.per_example, validation)        # every bit
    assert np.array_equal(again.test_per_example, test)
    assert again.noise() == estimate


def test_a_store_gives_a_loss_scores_per_example_losses_and_not_another_metrics(tmp_path):
    losses = _errors(seeds=6, examples=50, seed=3).astype(np.float16)   # as a store keeps them
    means = losses.astype(np.float64).mean(axis=1)
    store = SeedStore(tmp_path / "seeds.db")
    for name, metric, scores in (("mse", "val_loss", means), ("mae", "val_mae", means + 0.1)):
        key = store.add_config({"metric": metric, "name": name}, name=name)
        store.write(key, [SeedRun(seed, "done", score=float(score),
                                  examples={"validation": PerExample("loss", row)})
                          for seed, (score, row) in enumerate(zip(scores, losses))])
    study = ks.SeedStudy.from_store(tmp_path / "seeds.db", config="mse")
    assert not study.higher_is_better and study.correct is None
    assert np.array_equal(study.per_example, losses.astype(np.float64))
    assert math.isfinite(study.noise().distribution_std)
    other = ks.SeedStudy.from_store(tmp_path / "seeds.db", config="mae")
    assert other.per_example is None  # the losses do not average to an MAE


def _diabetes():
    """scikit-learn's diabetes data, standardised: 242 training, 100 validation
    and 100 test examples."""
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype("float32")
    y = ((y - y.mean()) / y.std()).astype("float32")
    return (x[:242], y[:242]), (x[242:342], y[242:342]), (x[342:], y[342:])


def _regressor():
    import keras

    return keras.Sequential([keras.Input((10,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(1)])


def test_a_keras_regression_sweep_has_the_noise_analysis_and_test_agreement(tmp_path):
    # A real MLP on 6 seeds for 2 epochs, scored by its mean squared error: the
    # store keeps each seed's per-example loss, which averages to its score.
    swept = ks.sweep(_regressor, _diabetes, seeds=range(6), epochs=2, ensemble=False,
                     compile_kwargs={"optimizer": "adam", "loss": "mse"},
                     store=tmp_path / "seeds.db", config="mlp", progress=False)
    study = ks.SeedStudy.from_store(tmp_path / "seeds.db")
    assert not study.higher_is_better and study.correct is None
    assert study.per_example.shape == (6, 100) and study.test_per_example.shape == (6, 100)
    assert np.array_equal(study.scores, swept.scores)
    # Within float16 rounding, each row is the seed's MSE on the validation data.
    np.testing.assert_allclose(study.per_example.mean(axis=1), study.scores, rtol=2 ** -11)
    estimate = study.noise()
    observed, independent, _ = noise_module.variance_parts(study.per_example)
    assert estimate.observed_std == pytest.approx(np.sqrt(observed))
    assert estimate.independent_errors_std == pytest.approx(np.sqrt(independent))
    assert estimate.best_seed == int(study.seeds[np.argmin(study.scores)])
    assert math.isfinite(estimate.distribution_std_ci[1]) and "points" not in estimate.sentence()
    agreement = study.test_agreement()
    assert -1 <= agreement["spearman"] <= 1 and math.isfinite(agreement["expected"])
