"""SeedStudy's per-example correctness: kept with the scores, saved and read back
bit for bit, refused when it cannot be the scores' own, and explained in the
summary, the report and the command line."""

import numpy as np
import pytest

import keras_seeds as ks


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
    from keras_seeds.cli import _print_study

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
     "`correct`: per-example correctness goes with an accuracy"),
    (dict(correct=np.eye(4, 10)), "`correct`: row 0 has mean 0.1 but its score is 0.9"),
    (dict(test_correct=np.ones((4, 10))), "`test_correct` needs `test_scores`"),
])
def test_per_example_data_that_cannot_be_the_scores_is_refused(arguments, message):
    with pytest.raises(ValueError) as error:
        ks.SeedStudy([0.9, 0.8, 0.85, 0.87], **arguments)
    assert message in str(error.value)


def test_noise_without_correctness_says_where_to_get_it():
    with pytest.raises(ValueError, match="`correct`: this study has no per-example "
                                         "correctness on its validation data"):
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
    assert ("independent per-example errors alone would give more, 2." in estimate.sentence()
            and "the seeds trade errors between examples" in estimate.sentence())


def test_a_row_one_example_off_its_score_is_refused_even_on_100000_examples():
    correct = np.zeros((3, 100_000), bool)
    correct[:, :90_000] = True
    scores = correct.mean(axis=1)
    correct[2, 0] = False  # seed 2's correctness now counts one example fewer
    with pytest.raises(ValueError, match="`correct`: row 2 has mean 0.89999 but its score is 0.9"):
        ks.SeedStudy(scores, correct=correct)
