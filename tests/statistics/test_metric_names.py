"""One rule for whether a metric is higher-is-better, used by SeedStudy,
SeededModel.study and ReplicaEarlyStopping, and agreeing with Keras."""

import inspect

import keras
import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds._internal import keras as private
from keras_seeds.demo import digits_mlp
from keras_seeds.statistics.metric_names import base_name, is_higher_better

# Metrics whose constructor needs arguments, with arguments that make one.
ARGUMENTS = {"PrecisionAtRecall": {"recall": 0.5}, "RecallAtPrecision": {"precision": 0.5},
             "SensitivityAtSpecificity": {"specificity": 0.5},
             "SpecificityAtSensitivity": {"sensitivity": 0.5},
             "IoU": {"num_classes": 2, "target_class_ids": [0]},
             "MeanIoU": {"num_classes": 2}, "OneHotIoU": {"num_classes": 2,
                                                          "target_class_ids": [0]},
             "OneHotMeanIoU": {"num_classes": 2}}


def keras_builtin_metrics():
    for name, cls in vars(keras.metrics).items():
        if inspect.isclass(cls) and issubclass(cls, keras.metrics.Metric) and name not in (
                "Metric", "Mean", "Sum", "MeanMetricWrapper"):
            yield cls(**ARGUMENTS.get(name, {}))


def test_the_name_rule_agrees_with_the_direction_keras_gives_each_builtin_metric():
    checked = 0
    for metric in keras_builtin_metrics():
        direction = private.metric_direction(metric)
        if direction is None:  # Keras gives the confusion counts none
            continue
        checked += 1
        for name in (metric.name, f"val_{metric.name}", f"{metric.name}_replica_3"):
            assert is_higher_better(name) == (direction == "up"), name
    assert checked >= 30


@pytest.mark.parametrize("name, higher", [
    ("val_false_negatives", False), ("false_positives", False), ("true_positives", True),
    ("f1_score", True), ("val_io_u", True), ("r2_score", True), ("acc", True),
    ("val_mae", False), ("my_custom_loss", False), ("perplexity", False),
    ("top_k_categorical_accuracy", True), ("dice", True)])
def test_names_keras_gives_no_direction_follow_their_meaning(name, higher):
    assert is_higher_better(name) is higher
    history = {ks.replica_key(name, 0): [0.1, 0.2], ks.replica_key(name, 1): [0.3, 0.1]}
    assert ks.SeedStudy.from_history(history).higher_is_better is higher


def test_base_name_strips_split_prefix_and_replica_suffix():
    assert base_name("val_accuracy_replica_12") == "accuracy"
    assert base_name("test_loss") == "loss"


def test_replica_early_stopping_and_study_take_the_compiled_metric_direction():
    # A custom metric named like a loss but declaring itself higher-is-better:
    # the compiled object wins over the name, in every part of keras-seeds.
    class AccuracyLoss(keras.metrics.Mean):
        def __init__(self, **kwargs):
            super().__init__(name="accuracy_loss", **kwargs)
            self._direction = "up"

        def update_state(self, y_true, y_pred, sample_weight=None):
            hit = keras.ops.equal(keras.ops.argmax(y_pred, -1),
                                  keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int64"))
            return super().update_state(keras.ops.cast(hit, "float32"))

    model = ks.SeededModel(digits_mlp, seeds=[1, 2])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=[AccuracyLoss()])
    x = np.random.default_rng(0).random((64, 64)).astype("float32")
    y = np.arange(64) % 10
    stop = ks.ReplicaEarlyStopping(monitor="accuracy_loss", patience=5)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[stop])
    curves = model.replica_history(history, "accuracy_loss")
    assert not np.allclose(curves.max(axis=0), curves.min(axis=0))
    assert stop.best == pytest.approx(curves.max(axis=0).tolist())  # maximised
    assert model.higher_is_better("val_accuracy_loss") is True
    assert is_higher_better("accuracy_loss") is False  # the name alone says lower
    assert model.study(x, y, metric="accuracy_loss").higher_is_better is True
