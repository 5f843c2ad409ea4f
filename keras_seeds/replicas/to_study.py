"""The one bridge from the replica engine to the seed statistics: a
:class:`~keras_seeds.SeedStudy` of a trained :class:`~keras_seeds.SeededModel`."""

from __future__ import annotations

import keras
import numpy as np

from keras_seeds.replicas.ensemble import check_combine
from keras_seeds.replicas.metrics import check_scalar
from keras_seeds.replicas.per_example import per_example
from keras_seeds.statistics.diversity import as_probabilities, member_diversity
from keras_seeds.statistics.metric_names import default_metric, replica_curves
from keras_seeds.statistics.noise import rows_match_scores
from keras_seeds.statistics.study import SeedStudy


def study_of(model, x, y, metric=None, *, test_data=None, history=None, combine="mean",
             batch_size=None, sample_weight=None, higher_is_better=None,
             name=None) -> SeedStudy:
    """See :meth:`keras_seeds.SeededModel.study`."""
    if not model.compiled:
        raise ValueError("SeededModel.study: compile the model (and fit it) first; the "
                         "scores are its compiled loss and metrics.")
    if x is None:
        raise ValueError("`x`: SeededModel.study scores every replica on held-out data; "
                         "received x=None. Pass it, for example model.study(x_val, y_val).")
    combine = check_combine(combine)
    per_replica = model.evaluate_replicas(x, y, batch_size=batch_size,
                                          sample_weight=sample_weight)
    names = list(per_replica)
    scalar = [name for name in names if np.ndim(per_replica[name][0]) == 0]
    metric = metric if metric is not None else default_metric(scalar)
    if metric not in per_replica:
        raise ValueError(f"`metric`: {metric!r} is not one of this model's compiled "
                         f"metrics {names}.")
    check_scalar(metric, np.shape(per_replica[metric][0]))
    ensemble = model.ensemble(combine=combine)
    ensemble.compile(**model.compile_arguments(fresh=True))
    ensemble_logs = ensemble.evaluate(x, y, batch_size=batch_size, sample_weight=sample_weight,
                                      verbose=0, return_dict=True)
    outputs = model.predict_replicas(x, batch_size=batch_size, verbose=0)
    diversity = None
    if isinstance(outputs, np.ndarray) and outputs.ndim == 3 and outputs.shape[-1] >= 2:
        diversity = member_diversity(as_probabilities(outputs))
    values = _per_example(model, y, outputs, metric, per_replica[metric])
    test_scores = test_values = None
    if test_data is not None:
        if not isinstance(test_data, (tuple, list)) or len(test_data) not in (2, 3):
            raise ValueError("`test_data` must be a tuple (x_test, y_test) or (x_test, "
                             "y_test, sample_weight); received "
                             f"{type(test_data).__name__} {np.shape(test_data)}.")
        x_test, y_test, w_test = keras.utils.unpack_x_y_sample_weight(tuple(test_data))
        test_scores = model.evaluate_replicas(x_test, y_test, batch_size=batch_size,
                                              sample_weight=w_test)[metric]
        if w_test is None:
            test_values = _per_example(
                model, y_test, model.predict_replicas(x_test, batch_size=batch_size, verbose=0),
                metric, test_scores)
    return SeedStudy(per_replica[metric], model.replica_seeds, metric=metric, name=name,
                     higher_is_better=(model.higher_is_better(metric)
                                       if higher_is_better is None else higher_is_better),
                     test_scores=test_scores,
                     curves=(None if history is None else
                             replica_curves(getattr(history, "history", history))),
                     ensemble_score=float(ensemble_logs[metric]), diversity=diversity,
                     per_example=values if sample_weight is None else None,
                     test_per_example=test_values)


def _per_example(model, y, outputs, metric, scores):
    """The replicas' per-example values whose means are their scores: the
    correctness of an accuracy, or the losses when ``metric`` is the loss and
    they average to it (no regularisation term in the loss); else ``None``."""
    found = per_example(model, y, outputs, metric, scores)
    if found is None:
        return None
    kind, values = found
    if kind == "correct":
        return values
    if metric == "loss" and rows_match_scores(values, scores).all():
        return values
    return None
