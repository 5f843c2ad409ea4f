"""The ``keras-seeds`` command line: study, report, compare, demo, audit, diff."""

from __future__ import annotations

import argparse
import os
import sys

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


def _cmd_study(args) -> int:
    from keras_seeds.demo.jobs import run_study

    if args.seed is None:
        print("No --seed given: drawing one from OS entropy (it is recorded below).")
    study, seed, paths = run_study(seed=args.seed, replicas=args.replicas, epochs=args.epochs,
                                   out=args.out, report_format=args.format,
                                   verbose=args.verbose)
    print(f"seed            {seed}")
    _print_study(study)
    print(f"study           {paths['study']}")
    print(f"report          {paths['report']}")
    print(f"Run `keras-seeds study --seed {seed}` again: the same numbers, bit for bit.")
    return 0


def _print_study(study) -> None:
    from keras_seeds.statistics.report import interval, number

    summary = study.summary()
    print(f"metric          {study.metric} ({'higher' if study.higher_is_better else 'lower'}"
          f" is better), {study.n} seeds")
    print(f"mean            {number(summary['mean'])} (95% CI {interval(summary['mean_ci'])})")
    print(f"std             {number(summary['std'])}")
    print(f"range           {number(summary['min'])} (seed {summary['worst_seed']}) to "
          f"{number(summary['max'])} (seed {summary['best_seed']})")
    outliers = study.outliers()
    print("black swans     " + (", ".join(f"seed {o['seed']} ({number(o['score'])})"
                                          for o in outliers) or "none"))
    print(f"best of {study.n:<8}{number(study.expected_max(study.n))} expected "
          f"(picking the best seed adds "
          f"{number(abs(study.expected_max(study.n) - summary['mean']))})")
    if study.ensemble_score is not None:
        gain = study.ensemble_gain()
        print(f"ensemble        {number(gain['ensemble'])} ({gain['over_mean']:+.4g} over the "
              f"mean seed, {gain['over_best']:+.4g} over the best)")


def _cmd_report(args) -> int:
    from keras_seeds.statistics.study import SeedStudy

    study = SeedStudy.load(args.study)
    out = args.output or os.path.splitext(args.study)[0] + ".md"
    study.report(out, title=args.title)
    _print_study(study)
    print(f"report          {out}")
    return 0


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

    study = commands.add_parser("study", help="train seed replicas of the digits MLP in one "
                                "fit and report how much of the score is the seed")
    study.add_argument("--seed", type=_seed_arg, default=None,
                       help="master seed (default: drawn from OS entropy and printed)")
    study.add_argument("--replicas", type=_positive_int, default=8)
    study.add_argument("--epochs", type=_positive_int, default=20)
    study.add_argument("--out", default="keras-seeds-study",
                       help="directory for study.json and the report")
    study.add_argument("--format", choices=("md", "html"), default="md",
                       help="report format")
    study.add_argument("--verbose", type=int, default=0)
    study.set_defaults(run=_cmd_study)

    report = commands.add_parser("report", help="write the report of a saved study")
    report.add_argument("study", help="a study.json (SeedStudy.save)")
    report.add_argument("-o", "--output",
                        help="report path, .md or .html (default: beside the study, .md)")
    report.add_argument("--title")
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
        return args.run(args)
    except (OSError, ValueError, TypeError) as error:
        print(f"keras-seeds {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
