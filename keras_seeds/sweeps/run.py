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
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from keras_seeds._validation import check_int, must_be
from keras_seeds.records.fingerprint import fingerprint_data, json_fingerprint
from keras_seeds.records.manifest import environment_section
from keras_seeds.replicas.metrics import check_scalar, default_metric
from keras_seeds.replicas.model import SeededModel
from keras_seeds.replicas.per_example import per_example
from keras_seeds.run.seed_callback import architecture_fingerprint
from keras_seeds.seeding.contract import SUBSEED_NAMES, Seeds, check_seed, check_seed_list
from keras_seeds.statistics.metric_names import replica_curves
from keras_seeds.statistics.study import SeedStudy
from keras_seeds.sweeps import engines
from keras_seeds.sweeps.progress import SweepProgress
from keras_seeds.sweeps.store import PerExample, SeedRun, SeedStore, array_bytes

# Beyond this many fused replicas a seed costs no less on a CPU: the digits MLP
# sweep ran at 186 seeds/min in chunks of 32, 308 in chunks of 128, and chunks
# of 256 cost per seed what 128 do (docs/benchmarks.md); smaller chunks lose
# less to a kill and show progress more often.
_MOST_REPLICAS = 128
# A chunk's training state may take this share of the machine's memory.
_MEMORY_SHARE = 0.25


def _splits(data) -> tuple:
    """``((x, y), (x_val, y_val))`` or with a third, test, split."""
    if callable(data):
        data = data()
    if (not isinstance(data, (tuple, list)) or len(data) not in (2, 3)
            or not all(isinstance(part, (tuple, list)) and len(part) == 2 for part in data)):
        raise TypeError("`data` must be ((x_train, y_train), (x_val, y_val)) (optionally a "
                        "third (x_test, y_test)), as keras.datasets loaders return it, or a "
                        f"function that returns that; received {type(data).__name__}.")
    return tuple(tuple(part) for part in data)


def _whole(data) -> tuple:
    """``(x, y)``: data for the library to split (``validation_split``)."""
    import keras

    if callable(data):
        data = data()
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError("`data` must be (x, y), to be split per run by its split sub-seed "
                        "(`validation_split`), or a function that returns that; received "
                        f"{type(data).__name__}.")
    x, y = data
    y = np.asarray(y) if not isinstance(y, np.ndarray) else y
    sizes = {len(leaf) for leaf in keras.tree.flatten(x)} | {len(y)}
    if len(sizes) != 1:
        raise ValueError(f"`data`: x and y must hold the same number of examples; received "
                         f"{sorted(sizes)}.")
    return x, y


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2 ** 30


def replicas_per_chunk(member, batch_size: int, seeds: int) -> int:
    """How many replicas to fuse into one fit: at most 128 (beyond that a CPU
    gains nothing per seed), and few enough that the chunk's weights, optimizer slots,
    gradients and a batch of activations per replica fit in a quarter of the
    machine's memory. Depends only on the model and the machine, so a rerun cuts
    the seeds the same way."""
    weights = sum(int(np.prod(w.shape)) for w in member.weights)
    widest = max([int(np.prod(layer.output.shape[1:])) for layer in member.layers
                  if hasattr(layer, "output") and layer.output is not None] or [1])
    per_replica = 4 * (4 * weights + 3 * batch_size * widest * max(len(member.layers), 1))
    fits = int(_MEMORY_SHARE * _memory_bytes() // max(per_replica, 1))
    return max(1, min(_MOST_REPLICAS, fits, seeds))


def _described(value) -> Any:
    """A compile/fit argument as JSON that is the same in every process (a Keras
    object by its config, not by its address)."""
    import keras

    if isinstance(value, (list, tuple)):
        return [_described(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _described(v) for k, v in value.items()}
    if hasattr(value, "get_config"):
        return keras.saving.serialize_keras_object(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return getattr(value, "__qualname__", None) or repr(value)


DEFAULT_COMPILE = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
                   "metrics": ["accuracy"]}
_COMPILED = ("optimizer", "loss", "metrics", "loss_weights", "weighted_metrics")


def own_compile_kwargs(model) -> dict | None:
    """How ``model`` was compiled, as ``compile`` arguments (its optimizer, loss
    and metrics as Keras objects), or ``None`` when it is not compiled.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, "sigmoid")])
    >>> own_compile_kwargs(model) is None
    True
    >>> model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    >>> kwargs = own_compile_kwargs(model)
    >>> type(kwargs["optimizer"]).__name__, kwargs["loss"], kwargs["metrics"]
    ('SGD', 'binary_crossentropy', ['accuracy'])
    """
    import keras

    if not getattr(model, "compiled", False):
        return None
    config = model.get_compile_config() or {}
    return {name: keras.saving.deserialize_keras_object(value)
            if isinstance(value, dict) and "class_name" in value else value
            for name, value in config.items() if name in _COMPILED and value is not None}


def _comparable(model) -> dict:
    """A compiled model's compile settings as JSON, without the names Keras
    numbers per object (``adam_1``)."""
    config = {name: value for name, value in (model.get_compile_config() or {}).items()
              if name in _COMPILED}
    optimizer = config.get("optimizer")
    if isinstance(optimizer, dict):
        config["optimizer"] = {**optimizer, "config": {
            k: v for k, v in optimizer.get("config", {}).items() if k != "name"}}
    return _described(config)


def _compile_kwargs(build_fn, compile_kwargs) -> dict:
    """How the seeds' models are compiled: ``compile_kwargs``; else the compile
    of the model ``build_fn`` returns, as Keras users expect of a compiled
    model; else Adam, sparse categorical cross-entropy and accuracy. Both given
    and different: refused."""
    import keras

    member = build_fn if isinstance(build_fn, keras.Model) else build_fn()
    own = own_compile_kwargs(member) if isinstance(member, keras.Model) else None
    if compile_kwargs is None:
        return own if own is not None else dict(DEFAULT_COMPILE)
    compile_kwargs = dict(compile_kwargs)
    if own is not None:
        given = keras.models.clone_model(member) if member is build_fn else build_fn()
        given.compile(**_fresh(compile_kwargs))
        if _comparable(given) != _comparable(member):
            described = {name: type(value).__name__ if name == "optimizer" else _described(value)
                         for name, value in own.items()}
            raise ValueError(
                f"`compile_kwargs`: build_fn returns a model compiled with {described}, and "
                f"compile_kwargs={compile_kwargs!r} differ from it. Pass "
                "compile_kwargs=None to train with the model's own compile, or return an "
                "uncompiled model.")
    return compile_kwargs


def _fresh(compile_kwargs: dict) -> dict:
    """The compile arguments with a new optimizer: an optimizer is built for one
    model's variables, and every chunk is a new model."""
    import keras

    optimizer = compile_kwargs.get("optimizer")
    if isinstance(optimizer, keras.optimizers.Optimizer):
        optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    return {**compile_kwargs, "optimizer": optimizer} if optimizer is not None else compile_kwargs


def _numbers(per_replica: dict, ndim: int) -> dict:
    """The entries with one number per replica (``ndim`` 1; per epoch and
    replica, 2). A metric with a value per class (``F1Score(average=None)``)
    trains and logs as in Keras but is not kept in the store, whose scores and
    curves are numbers."""
    return {name: values for name, values in per_replica.items() if np.ndim(values) == ndim}


def _definition(member, compile_kwargs, fit_kwargs, epochs, splits, metric) -> dict:
    return {
        # Layer classes, configs and weight shapes; not names (Keras numbers them).
        "architecture": architecture_fingerprint(member),
        "compile": _described(compile_kwargs),
        "fit": {"epochs": epochs, **_described(fit_kwargs)},
        "data": json_fingerprint([fingerprint_data(split) for split in splits]),
        "metric": metric,
    }


def check_pinned(pinned) -> dict[str, int]:
    """``pinned`` as ``{sub-seed name: seed}`` (``None`` is ``{}``).

    Example:

    >>> check_pinned({"data": 7}), check_pinned(None)
    ({'data': 7}, {})
    >>> check_pinned({"order": 7})
    Traceback (most recent call last):
    ...
    ValueError: `pinned` must be a dict {sub-seed name: seed} with names among init, data, noise, augment, split; received pinned={'order': 7}.
    """
    if pinned is None:
        return {}
    if not isinstance(pinned, dict) or not set(pinned) <= set(SUBSEED_NAMES):
        raise must_be("pinned", "a dict {sub-seed name: seed} with names among "
                      + ", ".join(SUBSEED_NAMES), pinned)
    return {name: check_seed(value, f"pinned[{name!r}]") for name, value in pinned.items()}


def _check_discard(discard, epochs: int):
    """``discard`` as ``(after_epochs, fraction)``, or ``None``."""
    if discard is None:
        return None
    expected = (f"None or (after_epochs, fraction) with 1 <= after_epochs < epochs ({epochs}) "
                "and 0 < fraction < 1")
    if not isinstance(discard, (tuple, list)) or len(discard) != 2:
        raise must_be("discard", expected, discard)
    after, fraction = discard
    if (isinstance(after, bool) or not isinstance(after, (int, np.integer))
            or not 1 <= after < epochs or isinstance(fraction, bool)
            or not isinstance(fraction, (int, float, np.floating)) or not 0 < fraction < 1):
        raise must_be("discard", expected, discard)
    return int(after), float(fraction)


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
            finished seeds), or a list of them.

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
    seeds = check_seed_list(list(seeds), "seeds")
    trackers = _trackers(track)
    return sweep_groups(
        build_fn, data, [SweepGroup(config, seeds, check_pinned(pinned))], epochs=epochs,
        compile_kwargs=compile_kwargs, fit_kwargs=fit_kwargs, replicas_per_job=replicas_per_job,
        store=store, metric=metric, ensemble=ensemble, keep_weights=keep_weights,
        discard=discard, progress=progress, engine=engine, trackers=trackers)[0]


@dataclass
class SweepGroup:
    """Seeds that share a configuration in the store: the same sub-seeds
    ``pinned`` for each (``{}``: none)."""

    config: str | None
    seeds: list[int]
    pinned: dict = field(default_factory=dict)


def sweep_groups(build_fn, data, groups: list[SweepGroup], *, epochs, compile_kwargs,
                  fit_kwargs, replicas_per_job, store, metric, ensemble, keep_weights, discard,
                  progress, engine, trackers, validation_split=None) -> list[SeedStudy]:
    """:func:`sweep` of several groups at once: the seeds of all groups are cut
    into chunks in the order given, so one fused chunk may hold seeds of two
    groups (replicas with different sub-seeds pinned), and each group's rows
    go to its own configuration. Returns each group's study.

    With ``validation_split``, ``data`` is ``(x, y)`` and each run is scored on
    its own validation rows (:class:`_SplitChunks`).

    Example: see :func:`keras_seeds.attribute`, which runs its groups with it.
    """
    import keras

    seeds = check_seed_list([seed for group in groups for seed in group.seeds], "seeds")
    epochs = check_int(epochs, "epochs", minimum=1)
    discard = _check_discard(discard, epochs)
    if progress not in (True, False, "auto"):
        raise must_be("progress", "True, False or 'auto'", progress)
    compile_kwargs = _compile_kwargs(build_fn, compile_kwargs)
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
    if Path(store).exists():
        SeedStore(store, create=False)  # a foreign or newer store: refused before training
    else:
        SeedStore.check_can_create(store)
    if validation_split is None:
        splits = _splits(data)
        evaluated = splits[1]
    else:
        splits = (_whole(data),)
        evaluated = splits[0]
        if discard is not None or ensemble:
            raise ValueError("`validation_split`: runs split their own validation rows, so "
                             "neither an early discard nor an ensemble of their validation "
                             "predictions applies.")
    probe = SeededModel(build_fn, seeds=[Seeds(seeds[0], **groups[0].pinned)])
    probe.compile(**_fresh(compile_kwargs))
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
    definition = _definition(member, compile_kwargs, fit_kwargs, epochs, splits, metric)
    definition["higher_is_better"] = probe.higher_is_better(metric)
    if validation_split is not None:
        definition["validation_split"] = validation_split
        _SplitChunks.check_metric(probe, metric)
    if discard is not None:
        definition["discard"] = list(discard)
    if replicas_per_job == "auto":
        size = replicas_per_chunk(member, int(fit_kwargs.get("batch_size") or 32), len(seeds))
    elif isinstance(replicas_per_job, str):
        raise must_be("replicas_per_job", "an int >= 1 or 'auto'", replicas_per_job)
    else:
        size = check_int(replicas_per_job, "replicas_per_job", minimum=1)
    seed_store = SeedStore(store)  # only now: bad arguments leave no store behind
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
    job_class = _Chunks
    if validation_split is not None:
        job_class, arguments["validation_split"] = _SplitChunks, validation_split
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
        studies.append(SeedStudy.from_store(seed_store.path, config=key))
    for tracker in trackers:
        tracker.end_sweep(studies[0], [run for run in seed_store.runs(keys[0])
                                       if run.seed in set(groups[0].seeds)])
    return studies


def _trackers(track) -> list:
    """``track`` as a list of trackers (each with ``start_sweep``, ``log_runs``,
    ``end_sweep`` and ``abort``)."""
    from keras_seeds.integrations.tensorboard import SeedTensorBoard

    trackers = [] if track is None else list(track) if isinstance(track, (list, tuple)) \
        else [track]
    expected = "None, 'mlflow', a keras_seeds.SeedTensorBoard or a list of them"
    for index, tracker in enumerate(trackers):
        if tracker == "mlflow":
            from keras_seeds.integrations.mlflow import MLflowTracker

            trackers[index] = MLflowTracker()
        elif not isinstance(tracker, SeedTensorBoard):
            raise must_be("track", expected, tracker, TypeError)
    return trackers


def _hparam(value) -> str:
    """An optimizer or loss as one word: its name or class name."""
    if isinstance(value, str):
        return value
    return getattr(value, "name", None) or type(value).__name__


def _release_memory() -> None:
    """Frees what a finished chunk leaves behind, so that memory stays flat over
    thousands of seeds: TensorFlow's eager kernel cache (docs/benchmarks.md has
    the measurement; a garbage collection on top changed nothing)."""
    from keras_seeds._internal import keras as private

    private.release_eager_kernels()


class _Chunks:
    """Trains one fused chunk of seeds and turns it into store rows."""

    def __init__(self, build_fn, compile_kwargs, fit_kwargs, epochs, splits, metric,
                 higher_is_better, ensemble, discard, keep_weights, pinned=None):
        self.build_fn, self.compile_kwargs, self.fit_kwargs = build_fn, compile_kwargs, fit_kwargs
        self.pinned = dict(pinned or {})  # seed -> its pinned sub-seeds, for those with any
        self.epochs, self.splits, self.metric = epochs, splits, metric
        self.higher_is_better, self.ensemble, self.discard = higher_is_better, ensemble, discard
        self.keep_weights = keep_weights
        self.environment = environment_section()

    @classmethod
    def create(cls, *, build_fn, data, compile_kwargs, fit_kwargs, epochs, metric,
               higher_is_better, ensemble, discard, keep_weights, pinned=None) -> "_Chunks":
        """The job where it runs (a Dask worker loads ``data`` if it is a function)."""
        return cls(build_fn, compile_kwargs, fit_kwargs, epochs, _splits(data), metric,
                   higher_is_better, ensemble, discard, keep_weights, pinned)

    def release(self) -> None:
        _release_memory()

    def _compile_arguments(self) -> dict:
        """The compile arguments, with a whole epoch per call of the training
        function unless the user set ``steps_per_execution``: a chunk's fit
        then pays Keras' per-step overhead once an epoch (the digits MLP at
        K=128: 12% faster), for the same bits (the steps are the same ops;
        a test checks it)."""
        import keras

        arguments = _fresh(self.compile_kwargs)
        if "steps_per_execution" not in arguments:
            batch_size = int(self.fit_kwargs.get("batch_size") or 32)
            samples = len(keras.tree.flatten(self.splits[0][0])[0])
            arguments["steps_per_execution"] = max(1, -(-samples // batch_size))
        return arguments

    def _fit(self, model, initial_epoch: int, epochs: int) -> dict:
        (x, y), validation = self.splits[:2]
        history = model.fit(x, y, validation_data=validation, initial_epoch=initial_epoch,
                            epochs=epochs, verbose=0, **self.fit_kwargs)
        return replica_curves(history.history)

    def _discarded(self, curves: dict) -> list[int]:
        """The replicas whose validation score after the discard epoch is in the
        worst fraction of the chunk."""
        after, fraction = self.discard
        name = f"val_{self.metric}"
        scores = curves[name][after - 1]
        count = int(math.floor(fraction * len(scores)))
        signed = np.where(np.isfinite(scores), scores if self.higher_is_better else -scores,
                          -np.inf)
        return sorted(np.argsort(signed, kind="stable")[:count].tolist())

    def train(self, chunk: list[int], done: set) -> list[SeedRun]:
        (x, y), (x_val, y_val) = self.splits[:2]
        batch_size = self.fit_kwargs.get("batch_size")
        start = time.perf_counter()
        model = SeededModel(self.build_fn, seeds=[Seeds(seed, **self.pinned.get(seed, {}))
                                                  for seed in chunk])
        model.compile(**self._compile_arguments())
        discarded: list[int] = []
        if self.discard is None:
            curves = self._fit(model, 0, self.epochs)
        else:
            first = self._fit(model, 0, self.discard[0])
            discarded = self._discarded(first)
            for k in discarded:
                model.freeze_replica(k)
            rest = self._fit(model, self.discard[0], self.epochs)
            curves = {name: np.concatenate([first[name], rest[name]])
                      for name in first if name in rest}
        scores = model.evaluate_replicas(x_val, y_val, batch_size=batch_size)
        outputs = model.predict_replicas(x_val, batch_size=batch_size, verbose=0)
        examples = {"validation": per_example(model, y_val, outputs, self.metric,
                                              scores[self.metric])}
        test_outputs = None
        if len(self.splits) == 3:
            tested = model.evaluate_replicas(*self.splits[2], batch_size=batch_size)
            scores.update({f"test_{name}": values for name, values in tested.items()})
            test_outputs = model.predict_replicas(self.splits[2][0], batch_size=batch_size,
                                                  verbose=0)
            examples["test"] = per_example(model, self.splits[2][1], test_outputs,
                                           self.metric, tested[self.metric])
        examples = {split: found for split, found in examples.items() if found is not None}
        seconds = (time.perf_counter() - start) / len(chunk)
        runs = []
        for k, seed in enumerate(chunk):
            if seed in done:
                continue
            # A fused replica equals its solo run up to float reassociation; the
            # same chunk, on the same machine and versions, gives the same bits.
            manifest = {"chunk": list(chunk), "replica": k, "fusing": model.fusing,
                        "environment": self.environment}
            final = {name: float(values[k]) for name, values in _numbers(scores, 1).items()}
            history = {name: [float(v) for v in values[:, k]]
                       for name, values in _numbers(curves, 2).items()}
            if k in discarded:
                after = self.discard[0]
                runs.append(SeedRun(
                    seed, "discarded", score=float(curves[f"val_{self.metric}"][after - 1, k]),
                    sub_seeds=model.replica_sub_seeds(k).to_config(),
                    metrics={"discarded_after_epoch": after},
                    history={name: values[:after] for name, values in history.items()},
                    seconds=seconds, manifest=manifest))
                continue
            score = final[self.metric]
            finite = np.isfinite(final.get("loss", score)) and np.isfinite(score)
            runs.append(SeedRun(
                seed, "done" if finite else "diverged", score=score if finite else None,
                sub_seeds=model.replica_sub_seeds(k).to_config(), metrics=final,
                history=history, seconds=seconds, manifest=manifest,
                outputs=(array_bytes(outputs[k]) if finite and self.ensemble
                         and isinstance(outputs, np.ndarray) else None),
                test_outputs=(array_bytes(test_outputs[k]) if finite and self.ensemble
                              and isinstance(test_outputs, np.ndarray) else None),
                examples=({split: PerExample(kind, values[k])
                           for split, (kind, values) in examples.items()} if finite else {}),
                weights=(_arrays_bytes(model.get_replica_weights(k))
                         if finite and self.keep_weights else None)))
        return runs


class _SplitChunks(_Chunks):
    """:class:`_Chunks` for data the library splits: each replica trains on its
    own training rows (``SeededModel.fit(replica_rows=...)``) and is scored on
    its own validation rows, both from its ``split`` sub-seed
    (:func:`keras_seeds.data_order.split.split_rows`). The score is the mean of
    per-example values, so it must be an accuracy or the loss. Per-example
    results are kept only for runs whose split is pinned: runs with different
    validation rows have no common examples to analyse."""

    @classmethod
    def create(cls, *, build_fn, data, compile_kwargs, fit_kwargs, epochs, metric,
               higher_is_better, ensemble, discard, keep_weights, pinned=None,
               validation_split=None) -> "_SplitChunks":
        job = cls(build_fn, compile_kwargs, fit_kwargs, epochs, (_whole(data),), metric,
                  higher_is_better, ensemble, discard, keep_weights, pinned)
        job.validation_split = validation_split
        return job

    @staticmethod
    def check_metric(model, metric: str) -> None:
        from keras_seeds.replicas.per_example import correctness_function

        if metric != "loss" and correctness_function(model, metric) is None:
            raise ValueError(
                f"`metric`: with `validation_split` each run is scored on its own validation "
                f"rows, from per-example values, so the score must be one of Keras' "
                f"accuracies or 'loss'; received metric={metric!r}.")

    def _compile_arguments(self) -> dict:
        import keras

        arguments = _fresh(self.compile_kwargs)
        if "steps_per_execution" not in arguments:
            samples = len(keras.tree.flatten(self.splits[0][0])[0])
            training = int(math.floor(samples * (1.0 - self.validation_split)))
            batch_size = int(self.fit_kwargs.get("batch_size") or 32)
            arguments["steps_per_execution"] = max(1, -(-training // batch_size))
        return arguments

    def train(self, chunk: list[int], done: set) -> list[SeedRun]:
        from keras_seeds.data_order.split import split_rows
        from keras_seeds.replicas.per_example import correctness, losses

        x, y = self.splits[0]
        samples = len(y)
        batch_size = self.fit_kwargs.get("batch_size")
        start = time.perf_counter()
        model = SeededModel(self.build_fn, seeds=[Seeds(seed, **self.pinned.get(seed, {}))
                                                  for seed in chunk])
        model.compile(**self._compile_arguments())
        rows = [split_rows(samples, self.validation_split, model.replica_sub_seeds(k).split)
                for k in range(len(chunk))]
        history = model.fit(x, y, epochs=self.epochs, verbose=0,
                            replica_rows=np.stack([train for train, _ in rows]),
                            **self.fit_kwargs)
        curves = replica_curves(history.history)
        outputs = model.predict_replicas(x, batch_size=batch_size, verbose=0)
        loss = losses(model, y, outputs)
        correct = None if self.metric == "loss" else correctness(model, y, outputs, self.metric)
        seconds = (time.perf_counter() - start) / len(chunk)
        runs = []
        for k, seed in enumerate(chunk):
            if seed in done:
                continue
            validation = rows[k][1]
            final = {"loss": float(np.mean(loss[k, validation], dtype=np.float64))}
            if correct is not None:
                final[self.metric] = float(np.mean(correct[k, validation]))
            score = final[self.metric]
            finite = bool(np.isfinite(final["loss"]) and np.isfinite(score))
            examples = {}
            if finite and "split" in self.pinned.get(seed, {}):
                examples["validation"] = (PerExample("correct", correct[k, validation])
                                          if correct is not None else
                                          PerExample("loss", loss[k, validation]))
            runs.append(SeedRun(
                seed, "done" if finite else "diverged", score=score if finite else None,
                sub_seeds=model.replica_sub_seeds(k).to_config(), metrics=final,
                history={name: [float(v) for v in values[:, k]]
                         for name, values in _numbers(curves, 2).items()},
                seconds=seconds, examples=examples,
                manifest={"chunk": list(chunk), "replica": k, "fusing": model.fusing,
                          "environment": self.environment,
                          "validation_rows": len(validation)}))
        return runs


def _arrays_bytes(arrays: list) -> bytes:
    """Variables as an ``.npz``, named by position (``SeedEnsemble.from_store``)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{str(i): np.asarray(a) for i, a in enumerate(arrays)})
    return buffer.getvalue()


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
    scorer.compile(**_fresh(compile_kwargs))
    logs = scorer.evaluate(mean, validation[1], batch_size=batch_size, verbose=0,
                           return_dict=True)
    seed_store.set_ensemble(key, [run.seed for run in runs],
                            {name: float(value) for name, value in logs.items()
                             if np.ndim(value) == 0})
