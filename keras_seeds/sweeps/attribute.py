"""attribute: which source of randomness moves the score, measured with fused
replicas.

For each source (``init``, ``data``, ``noise``, ``augment``, and ``split``
for data the library splits) a group of runs
varies that sub-seed while every other sub-seed stays pinned to the base
seed's; one more group varies them all. The groups' seeds are cut into chunks
together, so one fused :class:`~keras_seeds.SeededModel` fit holds replicas
with different sub-seeds pinned, and each group's rows go to a configuration
of its own in the seed store (``<config>/init``, ..., ``<config>/all``): a
stopped attribution resumes like a sweep, and each group is a study of its own
(``SeedStudy.from_store(path, "attribution/init")``). The statistics are in
:mod:`keras_seeds.statistics.attribution`.
"""

from __future__ import annotations

from typing import Any, Callable

from keras_seeds._validation import check_int, must_be
from keras_seeds.seeding.contract import SUBSEED_KEYS, SUBSEED_NAMES, Seeds, check_seed, derive_seed
from keras_seeds.statistics.attribution import ALL_SOURCES, Attribution, attribute_variance

DEFAULT_SOURCES = ("init", "data", "noise")
# Group g's i-th seed is derive_seed(seed, ATTRIBUTION_KEY, key of g, i): the
# groups never share a master seed, and a rerun makes the same seeds.
ATTRIBUTION_KEY = 7


def check_sources(sources, splits: bool = False) -> tuple[str, ...]:
    """``sources`` as a tuple of distinct sub-seed names (``None``: init, data,
    noise, and split when the library splits the data: ``splits``).

    Example:

    >>> check_sources(None), check_sources(["noise", "init"]), check_sources(None, splits=True)
    (('init', 'data', 'noise'), ('noise', 'init'), ('init', 'data', 'noise', 'split'))
    >>> check_sources(["init", "order"])
    Traceback (most recent call last):
    ...
    ValueError: `sources` must be sub-seed names among init, data, noise, augment, split, each once; received sources=['init', 'order'].
    """
    if sources is None:
        return DEFAULT_SOURCES + (("split",) if splits else ())
    if isinstance(sources, str):
        sources = [part.strip() for part in sources.split(",") if part.strip()]
    sources = list(sources)
    if (not sources or len(set(sources)) != len(sources)
            or not all(isinstance(s, str) and s in SUBSEED_NAMES for s in sources)):
        raise must_be("sources", "sub-seed names among " + ", ".join(SUBSEED_NAMES)
                      + ", each once", sources)
    if "split" in sources and not splits:
        raise ValueError("`sources`: 'split' varies the train/validation split, which needs "
                         "data that the library splits: pass data=(x, y) with "
                         "validation_split=0.2 (--validation-split on the command line), or "
                         "leave 'split' out.")
    return tuple(sources)


def default_sources(build_fn, splits: bool = False) -> tuple[str, ...]:
    """The sources worth varying in ``build_fn``'s model: ``init`` and ``data``
    always, ``noise`` when it has Dropout or another noise layer, ``augment``
    when it has random augmentation layers, ``split`` when the library splits
    the data. (Varying a source the model does not have trains identical runs.)

    Example:

    >>> import keras
    >>> from keras_seeds.demo import digits_mlp
    >>> default_sources(digits_mlp)
    ('init', 'data', 'noise')
    >>> default_sources(lambda: keras.Sequential([keras.Input((8, 8, 1)),
    ...     keras.layers.RandomFlip(), keras.layers.Flatten(), keras.layers.Dense(10)]),
    ...     splits=True)
    ('init', 'data', 'augment', 'split')
    """
    import keras

    from keras_seeds.seeding.layer_randomness import seed_generators

    model = build_fn if isinstance(build_fn, keras.Model) else build_fn()
    kinds = {kind for kind, _, _ in seed_generators(model)}
    return ("init", "data") + tuple(kind for kind in ("noise", "augment") if kind in kinds) + (
        ("split",) if splits else ())


def group_seeds(seed: int, source: str, count: int) -> list[int]:
    """The master seeds of one group of an attribution with base ``seed``.

    Example:

    >>> group_seeds(0, "init", 3) == group_seeds(0, "init", 4)[:3]
    True
    >>> set(group_seeds(0, "init", 3)) & set(group_seeds(0, "data", 3))
    set()
    """
    key = 0 if source == ALL_SOURCES else SUBSEED_KEYS[source]
    return [derive_seed(seed, ATTRIBUTION_KEY, key, i) for i in range(count)]


def attribute(build_fn: Callable[[], Any], data, *, sources=None, seeds_per_source: int = 16,
              epochs: int, seed: int = 0, compile_kwargs: dict | None = None,
              fit_kwargs: dict | None = None, replicas_per_job: "int | str" = "auto",
              store="attribution.db", config: str = "attribution", metric: str | None = None,
              progress: "bool | str" = "auto", engine=None, validation_split=None,
              confidence_level: float = 0.95, n_resamples: int = 9999,
              random_state=0) -> Attribution:
    """How much of the spread between seeds each source of randomness causes.

    Args:
        build_fn: returns a new Keras model, compiled or not (as for :func:`sweep`).
        data: ``((x_train, y_train), (x_val, y_val))``, optionally with a
            test split, or a function returning that; with
            ``validation_split``, ``(x, y)`` for the library to split.
        sources: the sub-seeds to vary one at a time; default
            :func:`default_sources`: ``init`` and ``data``, ``noise`` and
            ``augment`` when the model has such layers, ``split`` with
            ``validation_split``.
        seeds_per_source: runs per group (at least 2); every group, the
            all-sources one included, gets this many.
        epochs: epochs per run.
        seed: the base seed: the pinned sub-seeds are its, and the groups'
            seeds derive from it (:func:`group_seeds`).
        compile_kwargs, fit_kwargs, replicas_per_job, metric, progress,
            engine: as for :func:`~keras_seeds.sweep`.
        store: the seed store; each group is the configuration
            ``<config>/<source>`` there, and ``<config>/all``.
        config: the configurations' name prefix.
        validation_split: split ``data = (x, y)`` per run: each run holds out
            its own fraction of the examples, chosen by its ``split`` sub-seed
            (:func:`keras_seeds.data_order.split.split_rows`), trains on the
            rest (fused: ``SeededModel.fit(replica_rows=...)``) and is scored
            on what it held out. The score must be an accuracy or the loss.
            Groups that vary the split have no common validation examples,
            so they get no distribution-wise column.
        confidence_level, n_resamples, random_state: of the intervals.

    Any score works, an accuracy or a loss, higher or lower is better: a
    variance does not depend on the direction. The last column (the variance
    on the data distribution) needs per-example values in the store.

    Returns:
        The :class:`~keras_seeds.statistics.attribution.Attribution`:
        ``.text()`` is the per-source table with the level its intervals keep
        (the stated one for near-normal scores, ``heavy_tail_level`` under
        heavy tails), ``.sentence()`` the finding (and the seeds far out of
        their group), ``.plot(path)`` the figure.

    Example:

    >>> import os, tempfile
    >>> from keras_seeds.demo import digits_mlp, load_digits_split
    >>> path = os.path.join(tempfile.mkdtemp(), "attribution.db")
    >>> result = attribute(digits_mlp, lambda: load_digits_split(0), sources=["init", "data"],
    ...                    seeds_per_source=3, epochs=1, store=path)
    >>> [group.source for group in result.sources], result.total.seeds, result.metric
    (['init', 'data'], 3, 'accuracy')
    >>> from keras_seeds import SeedStudy
    >>> SeedStudy.from_store(path, "attribution/init").n
    3
    """
    if validation_split is not None:
        from keras_seeds.data_order.split import check_validation_split

        validation_split = check_validation_split(validation_split)
    sources = (check_sources(sources, splits=validation_split is not None)
               if sources is not None else None)
    seeds_per_source = check_int(seeds_per_source, "seeds_per_source", minimum=2,
                                 constraint="an int >= 2 (a variance needs two runs)")
    seed = check_seed(seed)
    if not isinstance(config, str) or not config:
        raise must_be("config", "a non-empty str", config)
    from keras_seeds.sweeps.run import SweepGroup, sweep_groups

    if sources is None:
        sources = default_sources(build_fn, splits=validation_split is not None)

    base = Seeds(seed)
    groups = [SweepGroup(f"{config}/{source}", group_seeds(seed, source, seeds_per_source),
                         {name: base[name] for name in SUBSEED_NAMES if name != source})
              for source in sources]
    groups.append(SweepGroup(f"{config}/{ALL_SOURCES}",
                             group_seeds(seed, ALL_SOURCES, seeds_per_source)))
    studies = sweep_groups(
        build_fn, data, groups, epochs=epochs, compile_kwargs=compile_kwargs,
        fit_kwargs=fit_kwargs, replicas_per_job=replicas_per_job, store=store, metric=metric,
        ensemble=False, keep_weights=False, discard=None, progress=progress, engine=engine,
        trackers=[], validation_split=validation_split).studies
    return attribute_variance(dict(zip(sources, studies[:-1])), studies[-1],
                              confidence_level=confidence_level, n_resamples=n_resamples,
                              random_state=random_state)
