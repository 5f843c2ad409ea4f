"""The ``keras-seeds`` command line: study, attribute, report, compare, demo,
audit, diff. The arguments are read in ``arguments``; each command runs in
``commands``."""

from __future__ import annotations

import argparse
import os
import sys

from keras_seeds import _versions
from keras_seeds.cli import commands
from keras_seeds.cli.arguments import parse_seeds, positive_int, seed_arg  # noqa: F401


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-seeds", description="The random seed as a recorded, controllable "
        "part of Keras training.")
    subcommands = parser.add_subparsers(dest="command", required=True)

    study = subcommands.add_parser(
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
    study.add_argument("--batch-size", type=positive_int)
    study.add_argument("--loss", help="loss for an uncompiled model")
    study.add_argument("--optimizer", default="adam")
    study.add_argument("--metric", help="the score, on the validation data (default: the "
                       "first compiled metric, else the loss)")
    study.add_argument("--replicas-per-job", type=positive_int,
                       help="seeds fused into one fit (default: chosen from the model)")
    study.add_argument("--seed", type=seed_arg, default=None,
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
    study.add_argument("--replicas", type=positive_int, default=64,
                       help="replicas of the bundled digits study (default 64)")
    study.add_argument("--epochs", type=positive_int, default=20)
    study.add_argument("--out", default="keras-seeds-study",
                       help="directory for study.json, the report, the manifest and (for "
                       "BUILD_FN) the ensemble SavedModel")
    study.add_argument("--format", choices=("md", "html"), default="md",
                       help="report format")
    study.add_argument("--verbose", type=int, default=0)
    study.set_defaults(run=commands.cmd_study)

    attribute = subcommands.add_parser(
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
    attribute.add_argument("--seeds-per-source", type=positive_int, default=16,
                           help="runs per source, and for all sources at once (default 16)")
    attribute.add_argument("--epochs", type=positive_int, default=20)
    attribute.add_argument("--seed", type=seed_arg, default=None,
                           help="base seed: the pinned sub-seeds are its (default 0)")
    attribute.add_argument("--store", default="attribution.db",
                           help="the seed store (SQLite); runs already there are skipped")
    attribute.add_argument("--config", default="attribution",
                           help="name prefix of the groups' configurations in the store")
    attribute.add_argument("--batch-size", type=positive_int)
    attribute.add_argument("--loss", help="loss for an uncompiled model")
    attribute.add_argument("--optimizer", default="adam")
    attribute.add_argument("--metric", help="the score, on the validation data")
    attribute.add_argument("--replicas-per-job", type=positive_int,
                           help="runs fused into one fit (default: chosen from the model)")
    attribute.add_argument("--scheduler", metavar="ADDRESS",
                           help="train the chunks on this Dask scheduler")
    attribute.add_argument("--out", default="keras-seeds-attribution",
                           help="directory for attribution.png and attribution.json")
    attribute.add_argument("--quiet", action="store_true", help="no progress bar")
    attribute.set_defaults(run=commands.cmd_attribute)

    report = subcommands.add_parser("report", help="write the report of a saved study")
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
    report.set_defaults(run=commands.cmd_report)

    compare = subcommands.add_parser("compare", help="does study A beat study B beyond "
                                  "seed noise?")
    compare.add_argument("a", help="study A (.json)")
    compare.add_argument("b", help="study B (.json)")
    compare.add_argument("--paired", action="store_true",
                         help="compare seed by seed (both trained on the same seeds)")
    compare.set_defaults(run=commands.cmd_compare)

    demo = subcommands.add_parser("demo", help="train the digits MLP reproducibly and "
                               "write its run manifest")
    demo.add_argument("--seed", type=seed_arg, default=None,
                      help="master seed (default: drawn from OS entropy and printed)")
    demo.add_argument("--epochs", type=positive_int, default=5)
    demo.add_argument("--manifest", default="auto",
                      help="manifest path ('' for none; default keras-seeds-<seed>.json)")
    demo.add_argument("--verbose", type=int, default=0)
    demo.set_defaults(run=commands.cmd_demo)

    audit = subcommands.add_parser("audit", help="list sources of randomness and "
                                "whether they are controlled")
    audit.add_argument("--model", help="a .keras model file to inspect")
    audit.set_defaults(run=commands.cmd_audit)

    diff = subcommands.add_parser("diff", help="explain why two runs' manifests differ")
    diff.add_argument("a", help="manifest of run A")
    diff.add_argument("b", help="manifest of run B")
    diff.set_defaults(run=commands.cmd_diff)
    for command in subcommands.choices.values():
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
