"""sweep: many seeds of the user's own model, trained in fused chunks, kept in a
seed store, resumable.

The seeds are cut into chunks of ``replicas_per_job`` in the order given; each
chunk is one fused :class:`~keras_seeds.SeededModel` fit, evaluated on the
validation data, and its rows are written to the store in one transaction.
The cut depends only on the seed list and the chunk size, never on what is
done already, so a sweep stopped and run again trains the missing chunks
exactly as the first run would have (a fused chunk's replicas agree with their
solo runs only up to float reassociation; the same chunk gives the same bits).
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from keras_seeds._validation import check_int, must_be
from keras_seeds.integrations.tracker import as_trackers
from keras_seeds.replicas.metrics import check_scalar
from keras_seeds.replicas.model import SeededModel
from keras_seeds.seeding.contract import Seeds, check_seed_list
from keras_seeds.statistics.metric_names import default_metric
from keras_seeds.statistics.study import SeedStudy
from keras_seeds.sweeps import engines
from keras_seeds.sweeps.chunks import Chunks, SplitChunks
from keras_seeds.sweeps.plan import (
    check_discard,
    check_pinned,
    config_definition,
    fresh_compile,
    replicas_per_chunk,
    resolve_compile_kwargs,
    splits_of,
    whole_data,
)
from keras_seeds.sweeps.progress import SweepProgress
from keras_seeds.sweeps.read import read_study
from keras_seeds.sweeps.store import SeedStore


def sweep(build_fn: Callable[[], Any], data, *, seeds, epochs: int,
          compile_kwargs: dict | None = None, fit_kwargs: dict | None = None,
          replicas_per_job: "int | str" = "auto", store="seeds.db",
          config: str | None = None, metric: str | None = None, ensemble: bool = True,
          keep_weights: bool = False, discard=None, pinned: dict | None = None,
          progress: "bool | str" = "auto", engine=None, track=None) -> SeedStudy:
    """Trains ``build_fn``'s model once per seed and returns their study.

    Args:
        build_fn: returns a new Keras model (called once per seed, under that
            seed's ``init`` sub-seed); if it compiles it, that compile is used.
        data: ``((x_train, y_train), (x_val, y_val))``, optionally with a third
            ``(x_test, y_test)``, or a function returning that.
        seeds: the seeds, distinct ints.
        epochs: epochs per seed.
        compile_kwargs: ``SeededModel.compile`` arguments (default: the compile
            of the model ``build_fn`` returns; for an uncompiled one Adam, sparse
            categorical cross-entropy, accuracy). Refused when ``build_fn``
            returns a compiled model and they differ from its compile.
        fit_kwargs: more ``fit`` arguments (``batch_size``, ...).
        replicas_per_job: seeds fused into one fit, or ``"auto"``
            (:func:`replicas_per_chunk`).
        store: the seed store's path; seeds already done there for this
            configuration are not trained again.
        config: a name for this configuration in the store.
        metric: the score, a compiled metric on the validation data (default:
            the first compiled metric, else the loss).
        ensemble: keep each seed's validation predictions in the store
            (``float32``, validation examples x outputs per seed; its test
            predictions too when ``data`` has a test split), with the labels
            they are scored against, and score the ensemble of all the
            configuration's finished seeds (their mean prediction) with the
            compiled loss and metrics. The k-seed ensembles of two
            configurations are compared from them with
            :func:`keras_seeds.statistics.ensembles.ensemble_comparison_from_store`.
        keep_weights: keep each finished seed's trained variables in the store,
            for :meth:`SeedEnsemble.from_store <keras_seeds.SeedEnsemble.from_store>`.
        discard: early discard (Dodge et al. 2020), off by default:
            ``(after_epochs, fraction)`` stops, in each fused chunk, the
            ``floor(fraction * seeds in the chunk)`` seeds whose validation
            score after ``after_epochs`` epochs is worst; the store marks them
            ``discarded`` (with that score) and the study counts them apart.
            They stop changing, but a fused chunk still computes them: the
            saving is in what you look at, not in time. Part of the
            configuration (a sweep with another ``discard`` is another group).
        pinned: sub-seeds held fixed for every seed, by name
            (``{"data": 7}``: every seed trains on one data order, so the
            spread is that of the other sources; see
            :func:`keras_seeds.attribute`). Part of the configuration.
        progress: a progress bar on stderr (seeds done, seeds per minute, ETA,
            best and worst score so far): ``"auto"`` shows it when stderr is a
            terminal, ``True`` always, ``False`` never.
        engine: where the chunks train: ``None``, this process; a
            ``dask.distributed.Client`` (a ``LocalCluster``'s, a
            dask-jobqueue ``SLURMCluster``'s) or a Dask scheduler address, one
            task per chunk on the cluster's workers (``pip install
            'keras-seeds[dask]'``). Each task builds the model in its worker
            from ``build_fn`` and ``data`` (pass a function that loads the data
            to have each worker load it instead of receiving the arrays), and
            this process alone writes the store. The same seeds give the same
            rows on either engine (same hardware and versions). See
            docs/clusters.md.
        track: where else each seed goes, as its chunk finishes:
            ``"mlflow"`` (one parent run, one child run per seed, in MLflow's
            current tracking URI and experiment; ``pip install
            'keras-seeds[mlflow]'``), a :class:`~keras_seeds.SeedTensorBoard`
            (one TensorBoard run per seed, then the mean and band over the
            finished seeds), ``"wandb"`` (one Weights & Biases run per seed;
            ``pip install 'keras-seeds[wandb]'``), any object that implements
            the :class:`~keras_seeds.Tracker` protocol, or a list of them.

    Returns:
        The :class:`~keras_seeds.SeedStudy` of this configuration's seeds in
        the store (``SeedStudy.from_store``), with the ensemble score when
        ``ensemble`` and the test scores when ``data`` has a test split. The
        store keeps each seed's per-example correctness on the validation
        (and test) data when the score is an accuracy, else its per-example
        loss (:class:`~keras_seeds.sweeps.store.PerExample`): the study's
        :meth:`~keras_seeds.SeedStudy.noise` works from it.

    A chunk whose training raises an ``Exception`` (out of memory, say) is
    logged, its seeds are stored as ``failed`` with the error, and the sweep
    goes on; a rerun tries them again. A killed process leaves the chunks it
    finished in the store, and a rerun trains the rest. On a Dask cluster, a
    worker that dies loses only the chunk it was training, which the scheduler
    gives to another worker.

    Example:

    >>> import os, tempfile
    >>> from keras_seeds.demo import digits_mlp, load_digits_split
    >>> path = os.path.join(tempfile.mkdtemp(), "seeds.db")
    >>> study = sweep(digits_mlp, lambda: load_digits_split(0), seeds=range(3), epochs=1,
    ...               store=path, config="mlp")
    >>> study.n, study.metric, study.name, study.ensemble_score is not None
    (3, 'accuracy', 'mlp', True)
    >>> study.correct.shape  # per-example correctness: 3 seeds, 360 validation examples
    (3, 360)
    """
    return run_sweep(build_fn, data, seeds=seeds, epochs=epochs, compile_kwargs=compile_kwargs,
                     fit_kwargs=fit_kwargs, replicas_per_job=replicas_per_job, store=store,
                     config=config, metric=metric, ensemble=ensemble,
                     keep_weights=keep_weights, discard=discard, pinned=pinned,
                     progress=progress, engine=engine, track=track).study


def run_sweep(build_fn, data, *, seeds, epochs, store="seeds.db", config=None, pinned=None,
              track=None, compile_kwargs=None, fit_kwargs=None, replicas_per_job="auto",
              metric=None, ensemble=True, keep_weights=False, discard=None,
              progress="auto", engine=None) -> "SweepResult":
    """:func:`sweep`, returning the :class:`SweepResult` (its open store and
    configuration key with the study): what the command line writes its
    folder from, without opening the store again."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        seeds = check_seed_list(seeds, "seeds")  # the one message for a non-list
    return sweep_groups(
        build_fn, data, [SweepGroup(config, list(seeds), check_pinned(pinned))], epochs=epochs,
        compile_kwargs=compile_kwargs, fit_kwargs=fit_kwargs, replicas_per_job=replicas_per_job,
        store=store, metric=metric, ensemble=ensemble, keep_weights=keep_weights,
        discard=discard, progress=progress, engine=engine, trackers=as_trackers(track))


@dataclass
class SweepResult:
    """What a sweep leaves: its store (open), and each group's configuration
    key and study, in the order of the groups."""

    store: SeedStore
    keys: list[str]
    studies: list[SeedStudy]

    @property
    def key(self) -> str:
        return self.keys[0]

    @property
    def study(self) -> SeedStudy:
        return self.studies[0]


@dataclass
class SweepGroup:
    """Seeds that share a configuration in the store: the same sub-seeds
    ``pinned`` for each (``{}``: none)."""

    config: str | None
    seeds: list[int]
    pinned: dict = field(default_factory=dict)


def sweep_groups(build_fn, data, groups: list[SweepGroup], *, epochs, compile_kwargs,
                  fit_kwargs, replicas_per_job, store, metric, ensemble, keep_weights, discard,
                  progress, engine, trackers, validation_split=None) -> SweepResult:
    """:func:`sweep` of several groups at once: the seeds of all groups are cut
    into chunks in the order given, so one fused chunk may hold seeds of two
    groups (replicas with different sub-seeds pinned), and each group's rows
    go to its own configuration. Returns each group's key and study with the
    store, which is opened once here (``store`` may be an open
    :class:`SeedStore`).

    With ``validation_split``, ``data`` is ``(x, y)`` and each run is scored on
    its own validation rows (:class:`SplitChunks`).

    Example: see :func:`keras_seeds.attribute`, which runs its groups with it.
    """
    import keras

    seeds = check_seed_list([seed for group in groups for seed in group.seeds], "seeds")
    epochs = check_int(epochs, "epochs", minimum=1)
    discard = check_discard(discard, epochs)
    if progress not in (True, False, "auto"):
        raise must_be("progress", "True, False or 'auto'", progress)
    compile_kwargs = resolve_compile_kwargs(build_fn, compile_kwargs)
    fit_kwargs = dict(fit_kwargs or {})
    for reserved in ("x", "y", "epochs", "validation_data", "callbacks", "initial_epoch"):
        if reserved in fit_kwargs:
            raise ValueError(f"`fit_kwargs`: {reserved!r} is set by sweep itself; received "
                             f"fit_kwargs with {reserved!r}.")
    client = None
    if engine is not None:
        client = engines.dask_client(engine)
        if not callable(build_fn) or isinstance(build_fn, keras.Model):
            raise TypeError("`build_fn`: on a Dask cluster each worker builds its own models, "
                            "so `build_fn` must be a function that returns a new model; "
                            f"received {type(build_fn).__name__}.")
    # A foreign or newer store is refused before training; a new one is
    # created only once every argument passed (bad ones leave no file behind).
    seed_store = store if isinstance(store, SeedStore) else SeedStore.open_if_exists(store)
    if validation_split is None:
        splits = splits_of(data)
        evaluated = splits[1]
    else:
        splits = (whole_data(data),)
        evaluated = splits[0]
        if discard is not None or ensemble:
            raise ValueError("`validation_split`: runs split their own validation rows, so "
                             "neither an early discard nor an ensemble of their validation "
                             "predictions applies.")
    probe = SeededModel(build_fn, seeds=[Seeds(seeds[0], **groups[0].pinned)])
    probe.compile(**fresh_compile(compile_kwargs))
    # One example builds the metrics, to name the score (inputs may be a dict).
    first = keras.tree.map_structure(lambda array: array[:1], tuple(evaluated))
    probe.evaluate(*first, verbose=0)
    results = probe.replica_metric_results()  # in Keras' order: the loss first
    names = list(results)
    metric = metric if metric is not None else default_metric(
        [name for name in names if results[name].ndim == 1])
    if metric not in names:
        raise ValueError(f"`metric`: {metric!r} is not one of the compiled metrics "
                         f"{names}.")
    check_scalar(metric, results[metric].shape[1:])
    member = probe.architecture
    definition = config_definition(member, compile_kwargs, fit_kwargs, epochs, splits, metric)
    definition["higher_is_better"] = probe.higher_is_better(metric)
    if validation_split is not None:
        definition["validation_split"] = validation_split
        SplitChunks.check_metric(probe, metric)
    if discard is not None:
        definition["discard"] = list(discard)
    if replicas_per_job == "auto":
        size = replicas_per_chunk(member, int(fit_kwargs.get("batch_size") or 32), len(seeds))
    elif isinstance(replicas_per_job, str):
        raise must_be("replicas_per_job", "an int >= 1 or 'auto'", replicas_per_job)
    else:
        size = check_int(replicas_per_job, "replicas_per_job", minimum=1)
    if seed_store is None:
        seed_store = SeedStore(store)
    keys = [seed_store.add_config({**definition, **({"pinned": dict(sorted(
        group.pinned.items()))} if group.pinned else {})}, name=group.config)
        for group in groups]
    if ensemble:
        _keep_labels(seed_store, keys, splits[1:])
    key_of = {seed: key for group, key in zip(groups, keys) for seed in group.seeds}
    for tracker in trackers:
        tracker.start_sweep({"config": seed_store.configs()[keys[0]]["name"], "epochs": epochs,
                             **{name: _hparam(value) for name, value in compile_kwargs.items()
                                if name in ("optimizer", "loss")},
                             **{name: value for name, value in fit_kwargs.items()
                                if isinstance(value, (bool, int, float, str))}})
    done = set().union(*(seed_store.done_seeds(key) & set(group.seeds)
                         for group, key in zip(groups, keys)))
    arguments = dict(build_fn=build_fn, data=data if callable(data) else splits,
                     compile_kwargs=compile_kwargs, fit_kwargs=fit_kwargs, epochs=epochs,
                     metric=metric, higher_is_better=definition["higher_is_better"],
                     ensemble=ensemble, discard=discard, keep_weights=keep_weights,
                     pinned={seed: group.pinned for group in groups for seed in group.seeds
                             if group.pinned})
    job_class = Chunks
    if validation_split is not None:
        job_class, arguments["validation_split"] = SplitChunks, validation_split
    todo = [chunk for chunk in (seeds[start:start + size] for start in range(0, len(seeds), size))
            if not set(chunk) <= done]
    shown = sys.stderr.isatty() if progress == "auto" else progress
    with SweepProgress(len(seeds), definition["higher_is_better"], metric,
                       enabled=shown) as bar:
        bar.add([run for group, key in zip(groups, keys) for run in seed_store.runs(key)
                 if run.seed in set(group.seeds)], fresh=False)

        def write(runs: list) -> None:
            for key in keys:
                seed_store.write(key, [run for run in runs if key_of[run.seed] == key])
            bar.add(runs)
            for tracker in trackers:
                tracker.log_runs(runs)

        try:
            if client is None:
                job = job_class.create(**{**arguments, "data": splits if validation_split
                                          is None else splits[0]})
                engines.run_local(job.train, todo, done, write, job.release)
            else:
                engines.run_dask(client, engines.ChunkSpec.of(job_class.create, arguments),
                                 todo, done, write)
        except BaseException:  # interrupted: the trackers close what they opened
            for tracker in trackers:
                tracker.abort()
            raise
    studies = []
    for group, key in zip(groups, keys):
        if ensemble:
            _score_ensemble(seed_store, key, compile_kwargs, splits[1],
                            fit_kwargs.get("batch_size"))
        studies.append(read_study(seed_store, key, SeedStudy))
    for tracker in trackers:
        tracker.end_sweep(studies[0], [run for run in seed_store.runs(keys[0])
                                       if run.seed in set(groups[0].seeds)])
    return SweepResult(seed_store, keys, studies)


def _hparam(value) -> str:
    """An optimizer or loss as one word: its name or class name."""
    if isinstance(value, str):
        return value
    return getattr(value, "name", None) or type(value).__name__


def _keep_labels(seed_store: SeedStore, keys: list[str], evaluated) -> None:
    """Keeps the validation (and test) labels of each configuration, which its
    kept predictions are scored against
    (:mod:`keras_seeds.statistics.ensembles`), when they are one numeric array."""
    for split, (_, y) in zip(("validation", "test"), evaluated):
        try:
            labels = None if isinstance(y, dict) else np.asarray(y)
        except ValueError:  # ragged: several targets
            labels = None
        if labels is None or labels.dtype.kind not in "biuf" or labels.ndim == 0:
            continue
        for key in keys:
            seed_store.set_labels(key, split, labels)


def _score_ensemble(seed_store: SeedStore, key: str, compile_kwargs: dict, validation,
                    batch_size) -> None:
    """Scores the mean prediction of the configuration's finished seeds with
    the compiled loss and metrics, and records it in the store."""
    import keras

    runs = [run for run in seed_store.runs(key) if run.status == "done"]
    if not runs or any(run.outputs is None for run in runs):
        return  # an output that is not one array (several heads), or not kept
    total = None
    for run in runs:
        prediction = np.load(io.BytesIO(run.outputs), allow_pickle=False).astype(np.float64)
        total = prediction if total is None else total + prediction
    mean = (total / len(runs)).astype(np.float32)
    # The compiled loss and metrics applied to the mean prediction, as Keras
    # computes them for a model: an identity model that outputs it.
    scorer = keras.Sequential([keras.Input(mean.shape[1:]), keras.layers.Identity()])
    scorer.compile(**fresh_compile(compile_kwargs))
    logs = scorer.evaluate(mean, validation[1], batch_size=batch_size, verbose=0,
                           return_dict=True)
    seed_store.set_ensemble(key, [run.seed for run in runs],
                            {name: float(value) for name, value in logs.items()
                             if np.ndim(value) == 0})
