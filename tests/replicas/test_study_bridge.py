"""SeededModel.study and SeedStudy.from_history on a real fused fit, checked
against each replica evaluated on its own."""

import keras
import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds.demo import digits_mlp, load_digits_splits


@pytest.fixture(scope="module")
def trained():
    train, val, test = load_digits_splits(0)
    model = ks.SeededModel(digits_mlp, replicas=3, seed=11)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(*train, batch_size=64, epochs=2, validation_data=val, verbose=0)
    return model, history, val, test


def test_model_study_equals_each_replica_on_its_own(trained):
    model, history, (x_val, y_val), (x_test, y_test) = trained
    study = model.study(x_val, y_val, test_data=(x_test, y_test), history=history, name="mlp")
    replicas = [model.replica(i) for i in range(3)]
    assert study.seeds.tolist() == model.replica_seeds
    assert (study.metric, study.higher_is_better, study.name) == ("accuracy", True, "mlp")
    np.testing.assert_allclose(
        study.scores, [r.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
                       for r in replicas], atol=1e-6)
    np.testing.assert_allclose(
        study.test_scores, [r.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
                            for r in replicas], atol=1e-6)
    probabilities = np.stack([r.predict(x_val, verbose=0) for r in replicas])
    ensemble_accuracy = np.mean(probabilities.mean(axis=0).argmax(-1) == y_val)
    assert study.ensemble_score == pytest.approx(ensemble_accuracy, abs=1e-6)
    votes = probabilities.argmax(-1)
    assert study.diversity["pairwise_disagreement"] == pytest.approx(np.mean(
        [np.mean(votes[i] != votes[j]) for i in range(3) for j in range(3) if i != j]))
    np.testing.assert_array_equal(study.curves["val_accuracy"],
                                  model.replica_history(history, "val_accuracy"))
    gain = study.ensemble_gain()
    assert gain["over_mean"] == pytest.approx(ensemble_accuracy - study.scores.mean(), abs=1e-6)


def test_model_study_of_the_loss_is_lower_is_better(trained):
    model, _, (x_val, y_val), _ = trained
    study = model.study(x_val, y_val, metric="loss")
    assert study.higher_is_better is False and study.metric == "loss"
    losses = [model.replica(i).evaluate(x_val, y_val, verbose=0)[0] for i in range(3)]
    np.testing.assert_allclose(study.scores, losses, rtol=1e-5)
    assert study.summary()["best_seed"] == model.replica_seeds[int(np.argmin(losses))]


def test_from_history_takes_the_last_validation_score_per_replica(trained):
    model, history, _, _ = trained
    study = ks.SeedStudy.from_history(history)
    assert study.metric == "val_accuracy" and study.seeds.tolist() == model.replica_seeds
    np.testing.assert_array_equal(
        study.scores, [history.history[f"val_accuracy_replica_{k}"][-1] for k in range(3)])
    first = ks.SeedStudy.from_history(history.history, "val_loss", epoch=0)
    assert first.higher_is_better is False and first.seeds.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(
        first.scores, [history.history[f"val_loss_replica_{k}"][0] for k in range(3)])


def test_study_bad_input_is_named(trained):
    model, history, (x_val, y_val), _ = trained
    with pytest.raises(ValueError, match=r"`metric`: 'auc' is not one of this model's "
                                         r"compiled metrics \['loss', 'accuracy'\]\."):
        model.study(x_val, y_val, metric="auc")
    with pytest.raises(ValueError, match=r"`test_data` must be a tuple \(x_test, y_test\)"):
        model.study(x_val, y_val, test_data=x_val)
    with pytest.raises(ValueError, match=r"^`x`: SeededModel.study scores every replica on "
                                         r"held-out data; received x=None\."):
        model.study()
    with pytest.raises(ValueError, match=r"`metric`: 'auc' has no per-replica values in this "
                                         r"history; known names: \['accuracy', 'loss', "
                                         r"'val_accuracy', 'val_loss'\]\."):
        ks.SeedStudy.from_history(history, "auc")
    with pytest.raises(ValueError, match=r"`epoch` must be an int index into the 2 epochs; "
                                         r"received epoch=2\."):
        ks.SeedStudy.from_history(history, epoch=2)
    with pytest.raises(ValueError, match=r"`history` holds no per-replica values"):
        ks.SeedStudy.from_history({"loss": [1.0]})
    uncompiled = ks.SeededModel(digits_mlp, replicas=2, seed=0)
    with pytest.raises(ValueError, match=r"SeededModel.study: compile the model"):
        uncompiled.study(x_val, y_val)
