"""Reading a seed store back: the :class:`~keras_seeds.SeedStudy` of a
configuration, and the weights its sweep kept. A store's rows and a
configuration's definition are read here and in :mod:`store`; the study is
made of plain arrays.

Each reader takes an open :class:`~keras_seeds.sweeps.store.SeedStore` (a
sweep passes the one it wrote) or a path. Imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np

from keras_seeds.statistics.metric_names import is_higher_better
from keras_seeds.statistics.noise import rows_match_scores
from keras_seeds.sweeps.store import SeedStore, StoreError


def read_study(store, config: str | None, cls):
    """The study (``cls``: :class:`~keras_seeds.SeedStudy`) of configuration
    ``config`` of ``store``; see :meth:`keras_seeds.SeedStudy.from_store`."""
    store = SeedStore.of(store)
    configs = store.configs()
    key = store.only_config() if config is None else store.find_config(config)
    definition = configs[key]["definition"]
    runs = store.runs(key)
    scored = [run for run in runs if run.status in ("done", "diverged")]
    if not scored:
        failed = [run for run in runs if run.status == "failed"]
        raise StoreError(f"`config`: {configs[key]['name']!r} in '{store.path}' has no finished "
                         "seed yet" + (f"; {len(failed)} failed, the first with "
                                       f"{failed[0].error}" if failed else "") + ".")
    metric = definition.get("metric")
    higher = definition.get("higher_is_better")
    curves = {}
    lengths = {len(values) for run in scored for values in run.history.values()}
    if len(lengths) == 1 and all(run.history for run in scored):
        names = set.intersection(*(set(run.history) for run in scored))
        curves = {name: np.array([run.history[name] for run in scored], dtype=float).T
                  for name in sorted(names)}
    test_name = f"test_{metric}"
    tested = all(test_name in run.metrics for run in scored)
    ensemble = store.ensemble(key)
    finished = sorted(run.seed for run in scored if run.status == "done")
    test_scores = [run.metrics[test_name] for run in scored] if tested else None
    per_example = {split: _stored_per_example(store, key, split, scored, scores)
                   for split, scores in (("validation", [run.score for run in scored]),
                                         ("test", test_scores))}
    study = cls({run.seed: math.nan if run.score is None else run.score for run in scored},
                metric=metric, test_scores=test_scores,
                # Only an ensemble of exactly the finished seeds stands for them.
                ensemble_score=(ensemble[1].get(metric) if ensemble is not None
                                and ensemble[0] == finished else None),
                higher_is_better=(is_higher_better(metric) if higher is None and metric
                                  else True if higher is None else bool(higher)),
                name=configs[key]["name"], curves=curves,
                per_example=per_example["validation"],
                test_per_example=per_example["test"])
    study.discarded_seeds = np.array([r.seed for r in runs if r.status == "discarded"],
                                     dtype=np.int64)
    study.failed_seeds = np.array([r.seed for r in runs if r.status == "failed"],
                                  dtype=np.int64)
    return study


def read_kept_weights(store, config: str | None = None,
                      seeds=None) -> tuple[list[int], dict[int, bytes]]:
    """The seeds whose weights a sweep kept (``keep_weights=True``) in their
    order, and each one's variables as an ``.npz``; ``seeds`` picks some
    (default: every finished seed with weights, by seed). See
    :meth:`keras_seeds.SeedEnsemble.from_store`."""
    store = SeedStore.of(store)
    key = store.only_config() if config is None else store.find_config(config)
    finished = {run.seed for run in store.runs(key) if run.status == "done"}
    kept = {seed: arrays for seed, arrays in store.weights(key, seeds).items()
            if seed in finished}
    wanted = sorted(finished) if seeds is None else [int(s) for s in seeds]
    missing = [seed for seed in wanted if seed not in kept]
    if not kept or (seeds is not None and missing):
        raise StoreError(f"`seeds`: no kept weights in '{store.path}' for seed(s) "
                         f"{missing[:8] or wanted[:8]}; run the sweep with "
                         "keep_weights=True (the command line keeps them).")
    return (sorted(kept) if seeds is None else wanted), kept


def _stored_per_example(store, key: str, split: str, scored: list,
                        scores) -> np.ndarray | None:
    """The per-example values a store keeps for the ``scored`` runs, one row
    each (zeros for a diverged run, whose NaN score is dropped): correctness
    (bool) for an accuracy, else per-example losses (float64), the latter only
    when every row averages to its run's score (the score is the mean loss).
    ``None`` unless every finished run has them, on one evaluation set."""
    if scores is None:
        return None
    kept = store.examples(key, split)
    done = [run.seed for run in scored if run.status == "done"]
    if not done or any(seed not in kept for seed in done):
        return None
    kinds = {kept[seed].kind for seed in done}
    width = len(kept[done[0]].values)
    if len(kinds) != 1 or any(len(kept[seed].values) != width for seed in done):
        return None  # not one evaluation set: no analysis rather than a wrong one
    correctness = kinds == {"correct"}
    rows = np.stack([(kept[run.seed].values if correctness else
                      kept[run.seed].values.astype(np.float64)) if run.status == "done"
                     else np.zeros(width, bool if correctness else np.float64)
                     for run in scored])
    scores = np.array([math.nan if score is None else score for score in scores], float)
    finite = np.isfinite(scores)
    if not correctness and not rows_match_scores(rows[finite], scores[finite]).all():
        return None  # the score is not the mean loss (another metric, or regularisation)
    return rows
