"""The commands of ``keras-seeds``: each one runs the library's own path
(``ks.sweep``, ``ks.attribute``, ``SeedStudy``, ``compare``, ``audit``,
``diff``) and prints what it found."""

from __future__ import annotations

import os
import sys

from keras_seeds.cli.arguments import (
    cluster_client,
    load_function,
    parse_discard,
    parse_seeds,
    sweep_compile_kwargs,
)


def cmd_demo(args) -> int:
    from keras_seeds.demo.jobs import run_demo

    result = run_demo(seed=args.seed, epochs=args.epochs,
                      manifest=args.manifest or None, verbose=args.verbose)
    print(f"seed            {result['seed']}")
    print(f"val_accuracy    {result['val_accuracy']}")
    print(f"weights sha256  {result['weights_sha256']}")
    if result["manifest"]:
        print(f"manifest        {result['manifest']}")
    print(f"Run `keras-seeds demo --seed {result['seed']}` again: the weights hash "
          f"will be identical.")
    return 0


def cmd_sweep(args) -> int:
    from keras_seeds.statistics.report import number

    if args.data is None:
        raise ValueError("`--data` is required with BUILD_FN: MODULE:LOAD_FN returning "
                         "((x_train, y_train), (x_val, y_val)).")
    # Checked before TensorFlow starts: a bad command line fails at once.
    seeds = parse_seeds(args.seeds)
    discard = parse_discard(args.discard)
    from keras_seeds.sweeps.store import SeedStore

    # Opened once (a foreign or newer store is refused now); the sweep, the
    # study and the folder use this one.
    store = SeedStore.open_if_exists(args.store)
    build_fn = load_function(args.build_fn, "BUILD_FN")
    load_fn = load_function(args.data, "--data")
    from keras_seeds.sweeps.run import run_sweep

    engine = None if args.scheduler is None else cluster_client(args.scheduler, build_fn, load_fn)
    compile_kwargs = sweep_compile_kwargs(build_fn, args)
    fit_kwargs = {} if args.batch_size is None else {"batch_size": args.batch_size}
    result = run_sweep(build_fn, load_fn, seeds=seeds, epochs=args.epochs,
                       compile_kwargs=compile_kwargs, fit_kwargs=fit_kwargs,
                       replicas_per_job=args.replicas_per_job or "auto",
                       store=store if store is not None else args.store,
                       config=args.config, metric=args.metric, keep_weights=True,
                       discard=discard, progress=False if args.quiet else "auto",
                       engine=engine)
    study = result.study
    print(f"{'seed':>12}  {study.metric}")
    for seed, score in sorted(zip(study.seeds.tolist(), study.scores.tolist())):
        print(f"{seed:>12}  {number(score)}")
    print_study(study)
    print(f"store           {args.store} (configuration {study.name})")
    from keras_seeds.sweeps.report import write_sweep_folder

    paths = write_sweep_folder(study, result.store, build_fn, args.out,
                               report_format=args.format, command=sys.argv,
                               export=not args.no_export, key=result.key)
    for what, path in paths.items():
        print(f"{what:<16}{path}")
    return 0


def cmd_attribute(args) -> int:
    from keras_seeds.sweeps.attribute import check_sources

    if args.data is None:
        raise ValueError("`--data` is required: MODULE:LOAD_FN returning ((x_train, y_train), "
                         "(x_val, y_val)).")
    # Checked before TensorFlow starts: a bad command line fails at once.
    if args.validation_split is not None:
        from keras_seeds.data_order.split import check_validation_split

        check_validation_split(args.validation_split, "--validation-split")
    sources = (None if args.sources is None else
               check_sources(args.sources, splits=args.validation_split is not None))
    if args.seeds_per_source < 2:
        raise ValueError(f"`--seeds-per-source` must be an int >= 2 (a variance needs two "
                         f"runs); received --seeds-per-source={args.seeds_per_source}.")
    from keras_seeds.sweeps.store import SeedStore

    store = SeedStore.open_if_exists(args.store)  # refused now if foreign; opened once
    build_fn = load_function(args.build_fn, "BUILD_FN")
    load_fn = load_function(args.data, "--data")
    from keras_seeds.sweeps.attribute import attribute

    engine = None if args.scheduler is None else cluster_client(args.scheduler, build_fn, load_fn)
    result = attribute(build_fn, load_fn, sources=sources,
                       seeds_per_source=args.seeds_per_source, epochs=args.epochs,
                       seed=0 if args.seed is None else args.seed,
                       compile_kwargs=sweep_compile_kwargs(build_fn, args),
                       fit_kwargs={} if args.batch_size is None else {"batch_size": args.batch_size},
                       replicas_per_job=args.replicas_per_job or "auto",
                       store=store if store is not None else args.store,
                       config=args.config, metric=args.metric,
                       progress=False if args.quiet else "auto", engine=engine,
                       validation_split=args.validation_split)
    print(result.text())
    print()
    print(result.sentence())
    os.makedirs(args.out, exist_ok=True)
    plot = os.path.join(args.out, "attribution.png")
    result.plot(plot)
    from keras_seeds._files import write_json_atomically

    table = os.path.join(args.out, "attribution.json")
    write_json_atomically(table, result.to_dict())
    print(f"{'plot':<16}{plot}")
    print(f"{'table':<16}{table}")
    print(f"{'store':<16}{args.store} (configurations {args.config}/...)")
    return 0


def cmd_study(args) -> int:
    from keras_seeds.demo.jobs import run_study

    if args.build_fn is not None:
        return cmd_sweep(args)
    if args.scheduler is not None:
        raise ValueError("`--scheduler` runs a sweep's chunks on a Dask cluster: give the "
                         "model as MODULE:BUILD_FN and --data MODULE:LOAD_FN; the bundled "
                         "study is one fused fit in this process.")
    if args.seed is None:
        print("No --seed given: drawing one from OS entropy (it is recorded below).")
    study, seed, paths = run_study(seed=args.seed, replicas=args.replicas, epochs=args.epochs,
                                   out=args.out, report_format=args.format,
                                   verbose=args.verbose)
    print(f"seed            {seed}")
    print_study(study)
    for what, path in paths.items():
        print(f"{what:<16}{path}")
    print(f"Run `keras-seeds study --seed {seed}` again: the same numbers, bit for bit.")
    return 0


def print_study(study) -> None:
    from keras_seeds.statistics.report import (
        black_swan_verdict,
        interval,
        number,
        reported_interval,
    )

    summary = study.summary()
    level = f"{summary['confidence_level']:.0%} CI"
    print(f"metric          {study.metric} ({'higher' if study.higher_is_better else 'lower'}"
          f" is better), {study.n} seeds")
    heavy = summary["mean_t_ci_heavy_tail_level"]
    print(f"mean            {number(summary['mean'])} ({level} "
          f"{interval(summary['mean_t_ci'])}, t interval"
          + (f"; {heavy:.0%} if seeds can be black swans" if heavy < summary["confidence_level"]
             else "") + ")")
    print(f"IQM             {number(summary['iqm'])} ({reported_interval(summary, 'iqm_ci')})")
    print(f"std             {number(summary['std'])}")
    print(f"range           {number(summary['min'])} (seed {summary['worst_seed']}) to "
          f"{number(summary['max'])} (seed {summary['best_seed']})")
    outliers = study.outliers()
    print("black swans     " + ("; ".join(f"seed {o['seed']} ({number(o['score'])}): "
                                          f"{black_swan_verdict(o)}" for o in outliers)
                                or "none"))
    n = min(10, study.n)
    tang, dodge = study.expected_max(n, "without_replacement"), study.expected_max(n)
    print(f"best of {n:<8}{number(tang)} expected from {n} fresh seeds (Tang et al. 2020; "
          f"{number(dodge)} with replacement, Dodge et al. 2019): picking the best adds "
          f"{number(abs(tang - summary['mean']))} over the mean")
    if study.per_example is not None and study.n >= 3:
        print(f"seed or set     {study.noise().sentence()}")
    if study.test_scores is not None and study.n >= 4:
        agreement = study.test_agreement()
        expected = ("" if agreement["expected"] is None else
                    f"; the noise model expects about {number(agreement['expected'])}")
        print(f"val -> test     rank correlation {number(agreement['spearman'])} "
              f"({reported_interval(agreement, 'spearman_ci')}){expected}")
    if study.ensemble_score is not None:
        gain = study.ensemble_gain()
        print(f"ensemble        {number(gain['ensemble'])} ({gain['over_mean']:+.4g} over the "
              f"mean seed, {gain['over_best']:+.4g} over the best)")


def cmd_report(args) -> int:
    from keras_seeds.statistics.study import SeedStudy

    if args.store is not None:
        return _report_store(args)
    if args.ensemble_plot:
        raise ValueError("`--ensemble-plot` draws a store's ensembles: give --store PATH too.")
    if args.study is None:
        raise ValueError("`report` needs a study.json or --store PATH.")
    study = SeedStudy.load(args.study)
    out = args.output or os.path.splitext(args.study)[0] + ".md"
    study.report(out, title=args.title)
    print_study(study)
    print(f"report          {out}")
    return 0


def _report_store(args) -> int:
    from keras_seeds.statistics.compare import compare
    from keras_seeds.statistics.study import SeedStudy
    from keras_seeds.sweeps.store import SeedStore

    store = SeedStore(args.store, create=False)  # read once, for every part of the report
    configs = args.config or [None]
    if len(configs) > 2:
        raise ValueError(f"`--config`: give one configuration to report or two to compare; "
                         f"received {len(configs)}.")
    studies = [SeedStudy.from_store(store, config=config) for config in configs]
    for study in studies:
        print(f"configuration   {study.name}")
        print_study(study)
    if len(studies) == 2:
        a, b = studies
        shared = len(set(a.seeds.tolist()) & set(b.seeds.tolist()))
        print(compare(a, b, paired=shared >= 2,
                      ensembles=_stored_ensembles(store, a.name, b.name)))
    if args.ensemble_plot:
        from keras_seeds.statistics.ensembles import default_k, ensemble_points_from_store

        # The k the comparison takes: at most 5, half the seeds.
        points = ensemble_points_from_store(store, studies[0].name,
                                            k=default_k(studies[0].n, studies[0].n))
        points.plot(args.ensemble_plot)
        print(f"ensembles plot  {args.ensemble_plot} ({points.k}-seed ensembles of "
              f"{studies[0].name}, validation against test)")
    return 0


def _stored_ensembles(store, name_a: str, name_b: str):
    """P(A's k-seed ensemble beats B's) from the predictions the sweeps kept,
    or ``None`` when they kept none (then compare gives point values)."""
    from keras_seeds.statistics.ensembles import ensemble_comparison_from_store
    from keras_seeds.sweeps.store import StoreError

    try:
        return ensemble_comparison_from_store(store, name_a, name_b)
    except StoreError:
        return None


def cmd_compare(args) -> int:
    from keras_seeds.statistics.compare import compare
    from keras_seeds.statistics.study import SeedStudy

    a, b = SeedStudy.load(args.a), SeedStudy.load(args.b)
    print(compare(a, b, names=(args.a, args.b), paired=args.paired))
    return 0


def cmd_audit(args) -> int:
    from keras_seeds.records.audit import audit

    model = None
    if args.model:
        import keras

        model = keras.saving.load_model(args.model, compile=False)
    print(audit(model))
    return 0


def cmd_diff(args) -> int:
    from keras_seeds.records.diff import diff_manifests, explain_diff
    from keras_seeds.records.manifest import read_manifest

    a, b = read_manifest(args.a), read_manifest(args.b)
    print(f"Why {args.a} (A) and {args.b} (B) may differ, most likely cause first:")
    for number, reason in enumerate(explain_diff(a, b), 1):
        print(f"{number}. {reason}")
    return 1 if diff_manifests(a, b) else 0
