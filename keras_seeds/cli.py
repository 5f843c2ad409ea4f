"""The ``keras-seeds`` command line: study, attribute, report, compare, demo, audit, diff."""

from __future__ import annotations

import argparse
import os
import sys

from keras_seeds import _versions
from keras_seeds.seeding.contract import check_seed


def _seed_arg(text: str) -> int:
    try:
        return check_seed(int(text), "--seed")
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int; received {text!r}")
    return value


def _cmd_demo(args) -> int:
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


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: ``0..999`` (inclusive), ``1,5,9``, or ``random:N`` (N distinct
    seeds drawn from OS entropy).

    Example:

    >>> parse_seeds("3..6"), parse_seeds("1,5,9")
    ([3, 4, 5, 6], [1, 5, 9])
    >>> len(set(parse_seeds("random:50")))
    50
    >>> parse_seeds("9..2")
    Traceback (most recent call last):
    ...
    ValueError: `--seeds` must be FIRST..LAST (FIRST <= LAST), a,b,c or random:N; received --seeds='9..2'.
    """
    from keras_seeds.seeding.contract import check_seed_list, draw_seed

    def bad() -> ValueError:
        return ValueError("`--seeds` must be FIRST..LAST (FIRST <= LAST), a,b,c or random:N; "
                          f"received --seeds={text!r}.")

    text = text.strip()
    try:
        if text.startswith("random:"):
            count = int(text[len("random:"):])
            if count < 1:
                raise bad()
            seeds: set[int] = set()
            while len(seeds) < count:
                seeds.add(draw_seed())
            return sorted(seeds)
        if ".." in text:
            first, last = (int(part) for part in text.split(".."))
            if first > last:
                raise bad()
            seeds = list(range(first, last + 1))
        else:
            seeds = [int(part) for part in text.split(",")]
    except ValueError as error:
        if str(error).startswith("`--seeds`"):
            raise
        raise bad() from None
    return check_seed_list(seeds, "--seeds")


def load_function(spec: str, option: str):
    """The function ``MODULE:NAME`` names (the working directory is importable)."""
    import importlib

    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ValueError(f"`{option}` must be MODULE:FUNCTION; received {spec!r}.")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"`{option}`: cannot import module {module_name!r} "
                         f"({type(error).__name__}: {error}).") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"`{option}`: module {module_name!r} has no function {name!r}.")
    return function


def _sweep_compile_kwargs(build_fn, args) -> dict:
    """How the seeds' models are compiled: the model's own compile, else --loss,
    --optimizer and --metric."""
    import keras

    from keras_seeds.sweeps.run import own_compile_kwargs

    model = build_fn()
    if not isinstance(model, keras.Model):
        raise ValueError(f"`BUILD_FN`: {args.build_fn} must return a keras.Model; it "
                         f"returned a {type(model).__name__}.")
    if getattr(model, "compiled", False) and args.loss is None:
        return own_compile_kwargs(model)
    if args.loss is None:
        raise ValueError(f"`--loss`: {args.build_fn} returns an uncompiled model; say how "
                         "to train it with --loss (and --optimizer, --metric).")
    return {"optimizer": args.optimizer, "loss": args.loss,
            "metrics": [args.metric] if args.metric and args.metric != "loss" else []}


def _parse_discard(text: str | None):
    """``--discard AFTER_EPOCHS,FRACTION`` as a pair (checked again by sweep)."""
    if text is None:
        return None
    try:
        after, fraction = text.split(",")
        return int(after), float(fraction)
    except ValueError:
        raise ValueError(f"`--discard` must be AFTER_EPOCHS,FRACTION (e.g. 3,0.5); received "
                         f"--discard={text!r}.") from None


def _cmd_sweep(args) -> int:
    from keras_seeds.statistics.report import number

    if args.data is None:
        raise ValueError("`--data` is required with BUILD_FN: MODULE:LOAD_FN returning "
                         "((x_train, y_train), (x_val, y_val)).")
    # Checked before TensorFlow starts: a bad command line fails at once.
    seeds = parse_seeds(args.seeds)
    discard = _parse_discard(args.discard)
    from keras_seeds.sweeps.store import SeedStore

    if os.path.exists(args.store):
        SeedStore(args.store, create=False)  # refuses a foreign or newer store, read-only
    else:
        SeedStore.check_can_create(args.store)
    build_fn = load_function(args.build_fn, "BUILD_FN")
    load_fn = load_function(args.data, "--data")
    from keras_seeds.sweeps.run import sweep

    engine = None if args.scheduler is None else _cluster(args.scheduler, build_fn, load_fn)
    compile_kwargs = _sweep_compile_kwargs(build_fn, args)
    fit_kwargs = {} if args.batch_size is None else {"batch_size": args.batch_size}
    study = sweep(build_fn, load_fn, seeds=seeds, epochs=args.epochs,
                  compile_kwargs=compile_kwargs, fit_kwargs=fit_kwargs,
                  replicas_per_job=args.replicas_per_job or "auto", store=args.store,
                  config=args.config, metric=args.metric, keep_weights=True,
                  discard=discard, progress=False if args.quiet else "auto", engine=engine)
    print(f"{'seed':>12}  {study.metric}")
    for seed, score in sorted(zip(study.seeds.tolist(), study.scores.tolist())):
        print(f"{seed:>12}  {number(score)}")
    _print_study(study)
    print(f"store           {args.store} (configuration {study.name})")
    from keras_seeds.sweeps.report import write_sweep_folder

    paths = write_sweep_folder(study, args.store, build_fn, args.out,
                               report_format=args.format, command=sys.argv,
                               export=not args.no_export)
    for what, path in paths.items():
        print(f"{what:<16}{path}")
    return 0


def _cmd_attribute(args) -> int:
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

    if os.path.exists(args.store):
        SeedStore(args.store, create=False)
    else:
        SeedStore.check_can_create(args.store)
    build_fn = load_function(args.build_fn, "BUILD_FN")
    load_fn = load_function(args.data, "--data")
    from keras_seeds.sweeps.attribute import attribute

    engine = None if args.scheduler is None else _cluster(args.scheduler, build_fn, load_fn)
    result = attribute(build_fn, load_fn, sources=sources,
                       seeds_per_source=args.seeds_per_source, epochs=args.epochs,
                       seed=0 if args.seed is None else args.seed,
                       compile_kwargs=_sweep_compile_kwargs(build_fn, args),
                       fit_kwargs={} if args.batch_size is None else {"batch_size": args.batch_size},
                       replicas_per_job=args.replicas_per_job or "auto", store=args.store,
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


def _cluster(address: str, *functions):
    """A client of the Dask scheduler at ``address``; the user's modules that
    ``functions`` come from travel with the tasks (pickled by value), so the
    workers need not have them installed."""
    from keras_seeds.sweeps.engines import dask_client

    client = dask_client(address)
    import cloudpickle

    for function in functions:
        module = sys.modules.get(getattr(function, "__module__", None) or "")
        if module is not None and module.__name__.split(".")[0] not in ("keras_seeds", "keras"):
            cloudpickle.register_pickle_by_value(module)
    return client


def _cmd_study(args) -> int:
    from keras_seeds.demo.jobs import run_study

    if args.build_fn is not None:
        return _cmd_sweep(args)
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
    _print_study(study)
    for what, path in paths.items():
        print(f"{what:<16}{path}")
    print(f"Run `keras-seeds study --seed {seed}` again: the same numbers, bit for bit.")
    return 0


def _print_study(study) -> None:
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


def _cmd_report(args) -> int:
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
    _print_study(study)
    print(f"report          {out}")
    return 0


def _report_store(args) -> int:
    from keras_seeds.statistics.compare import compare
    from keras_seeds.statistics.study import SeedStudy

    configs = args.config or [None]
    if len(configs) > 2:
        raise ValueError(f"`--config`: give one configuration to report or two to compare; "
                         f"received {len(configs)}.")
    studies = [SeedStudy.from_store(args.store, config=config) for config in configs]
    for study in studies:
        print(f"configuration   {study.name}")
        _print_study(study)
    if len(studies) == 2:
        a, b = studies
        shared = len(set(a.seeds.tolist()) & set(b.seeds.tolist()))
        print(compare(a, b, paired=shared >= 2,
                      ensembles=_stored_ensembles(args.store, a.name, b.name)))
    if args.ensemble_plot:
        from keras_seeds.statistics.ensembles import default_k, ensemble_points_from_store

        # The k the comparison takes: at most 5, half the seeds.
        points = ensemble_points_from_store(args.store, studies[0].name,
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


def _cmd_compare(args) -> int:
    from keras_seeds.statistics.compare import compare
    from keras_seeds.statistics.study import SeedStudy

    a, b = SeedStudy.load(args.a), SeedStudy.load(args.b)
    print(compare(a, b, names=(args.a, args.b), paired=args.paired))
    return 0


def _cmd_audit(args) -> int:
    from keras_seeds.records.audit import audit

    model = None
    if args.model:
        import keras

        model = keras.saving.load_model(args.model, compile=False)
    print(audit(model))
    return 0


def _cmd_diff(args) -> int:
    from keras_seeds.records.diff import diff_manifests, explain_diff
    from keras_seeds.records.manifest import read_manifest

    a, b = read_manifest(args.a), read_manifest(args.b)
    print(f"Why {args.a} (A) and {args.b} (B) may differ, most likely cause first:")
    for number, reason in enumerate(explain_diff(a, b), 1):
        print(f"{number}. {reason}")
    return 1 if diff_manifests(a, b) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-seeds", description="The random seed as a recorded, controllable "
        "part of Keras training.")
    commands = parser.add_subparsers(dest="command", required=True)

    study = commands.add_parser(
        "study", help="how much of the score is the seed: your model over many seeds "
        "(BUILD_FN --data LOAD_FN --seeds --store), or, with no BUILD_FN, the bundled "
        "digits MLP's replicas in one fit")
    study.add_argument("build_fn", nargs="?", metavar="MODULE:BUILD_FN",
                       help="a function returning your Keras model (compiled or not)")
    study.add_argument("--data", metavar="MODULE:LOAD_FN",
                       help="returns ((x_train, y_train), (x_val, y_val))")
    study.add_argument("--seeds", default="0..63", help="FIRST..LAST, a,b,c or random:N "
                       "(default 0..63)")
    study.add_argument("--store", default="seeds.db", help="the seed store (SQLite); seeds "
                       "already done there are skipped")
    study.add_argument("--config", help="a name for this configuration in the store")
    study.add_argument("--batch-size", type=_positive_int)
    study.add_argument("--loss", help="loss for an uncompiled model")
    study.add_argument("--optimizer", default="adam")
    study.add_argument("--metric", help="the score, on the validation data (default: the "
                       "first compiled metric, else the loss)")
    study.add_argument("--replicas-per-job", type=_positive_int,
                       help="seeds fused into one fit (default: chosen from the model)")
    study.add_argument("--seed", type=_seed_arg, default=None,
                       help="master seed (default: drawn from OS entropy and printed)")
    study.add_argument("--discard", metavar="AFTER_EPOCHS,FRACTION",
                       help="early discard: stop the worst FRACTION of each chunk's seeds "
                       "after AFTER_EPOCHS epochs (off by default)")
    study.add_argument("--scheduler", metavar="ADDRESS",
                       help="train the sweep's chunks on this Dask scheduler "
                            "(tcp://host:8786; pip install 'keras-seeds[dask]'); this "
                            "process writes the store")
    study.add_argument("--quiet", action="store_true", help="no progress bar")
    study.add_argument("--no-export", action="store_true",
                       help="no ensemble SavedModel in --out (BUILD_FN sweeps)")
    study.add_argument("--replicas", type=_positive_int, default=64,
                       help="replicas of the bundled digits study (default 64)")
    study.add_argument("--epochs", type=_positive_int, default=20)
    study.add_argument("--out", default="keras-seeds-study",
                       help="directory for study.json, the report, the manifest and (for "
                       "BUILD_FN) the ensemble SavedModel")
    study.add_argument("--format", choices=("md", "html"), default="md",
                       help="report format")
    study.add_argument("--verbose", type=int, default=0)
    study.set_defaults(run=_cmd_study)

    attribute = commands.add_parser(
        "attribute", help="which source of randomness (weights, data order, Dropout) moves "
        "your model's score: each varied alone, as fused replicas")
    attribute.add_argument("build_fn", metavar="MODULE:BUILD_FN",
                           help="a function returning your Keras model (compiled or not)")
    attribute.add_argument("--data", metavar="MODULE:LOAD_FN",
                           help="returns ((x_train, y_train), (x_val, y_val)), or (x, y) "
                           "with --validation-split")
    attribute.add_argument("--sources", default=None,
                           help="sub-seeds to vary one at a time (default: init, data, and "
                           "noise and augment when the model has such layers, split with "
                           "--validation-split)")
    attribute.add_argument("--validation-split", type=float, metavar="FRACTION",
                           help="LOAD_FN returns (x, y): each run holds out its own FRACTION, "
                           "drawn by its split sub-seed (makes 'split' a source)")
    attribute.add_argument("--seeds-per-source", type=_positive_int, default=16,
                           help="runs per source, and for all sources at once (default 16)")
    attribute.add_argument("--epochs", type=_positive_int, default=20)
    attribute.add_argument("--seed", type=_seed_arg, default=None,
                           help="base seed: the pinned sub-seeds are its (default 0)")
    attribute.add_argument("--store", default="attribution.db",
                           help="the seed store (SQLite); runs already there are skipped")
    attribute.add_argument("--config", default="attribution",
                           help="name prefix of the groups' configurations in the store")
    attribute.add_argument("--batch-size", type=_positive_int)
    attribute.add_argument("--loss", help="loss for an uncompiled model")
    attribute.add_argument("--optimizer", default="adam")
    attribute.add_argument("--metric", help="the score, on the validation data")
    attribute.add_argument("--replicas-per-job", type=_positive_int,
                           help="runs fused into one fit (default: chosen from the model)")
    attribute.add_argument("--scheduler", metavar="ADDRESS",
                           help="train the chunks on this Dask scheduler")
    attribute.add_argument("--out", default="keras-seeds-attribution",
                           help="directory for attribution.png and attribution.json")
    attribute.add_argument("--quiet", action="store_true", help="no progress bar")
    attribute.set_defaults(run=_cmd_attribute)

    report = commands.add_parser("report", help="write the report of a saved study")
    report.add_argument("study", nargs="?", help="a study.json (SeedStudy.save)")
    report.add_argument("--store", help="report from a seed store instead")
    report.add_argument("--config", action="append",
                        help="configuration in the store (twice: compare the two)")
    report.add_argument("-o", "--output",
                        help="report path, .md or .html (default: beside the study, .md)")
    report.add_argument("--title")
    report.add_argument("--ensemble-plot", metavar="PNG",
                        help="with --store: draw the validation against the test score of "
                             "k-seed ensembles of the (first) configuration (k: at most 5, "
                             "half its seeds)")
    report.set_defaults(run=_cmd_report)

    compare = commands.add_parser("compare", help="does study A beat study B beyond "
                                  "seed noise?")
    compare.add_argument("a", help="study A (.json)")
    compare.add_argument("b", help="study B (.json)")
    compare.add_argument("--paired", action="store_true",
                         help="compare seed by seed (both trained on the same seeds)")
    compare.set_defaults(run=_cmd_compare)

    demo = commands.add_parser("demo", help="train the digits MLP reproducibly and "
                               "write its run manifest")
    demo.add_argument("--seed", type=_seed_arg, default=None,
                      help="master seed (default: drawn from OS entropy and printed)")
    demo.add_argument("--epochs", type=_positive_int, default=5)
    demo.add_argument("--manifest", default="auto",
                      help="manifest path ('' for none; default keras-seeds-<seed>.json)")
    demo.add_argument("--verbose", type=int, default=0)
    demo.set_defaults(run=_cmd_demo)

    audit = commands.add_parser("audit", help="list sources of randomness and "
                                "whether they are controlled")
    audit.add_argument("--model", help="a .keras model file to inspect")
    audit.set_defaults(run=_cmd_audit)

    diff = commands.add_parser("diff", help="explain why two runs' manifests differ")
    diff.add_argument("a", help="manifest of run A")
    diff.add_argument("b", help="manifest of run B")
    diff.set_defaults(run=_cmd_diff)
    for command in commands.choices.values():
        command.add_argument("--debug", action="store_true",
                             help="show the traceback of an error instead of one line")
    return parser


def main(argv=None) -> int:
    """Entry point of the ``keras-seeds`` command.

    Example:

    >>> main(["diff", "no-such-a.json", "no-such-b.json"])
    2
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        # Before anything runs: a Keras below the floor is refused in one line.
        _versions.require_supported()
        return args.run(args)
    except (OSError, ValueError, TypeError, _versions.UnsupportedVersion) as error:
        if args.debug:
            raise
        print(f"keras-seeds {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
