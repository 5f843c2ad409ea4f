"""The ``keras-seeds`` command line: demo, audit, diff."""

from __future__ import annotations

import argparse
import os
import sys

from keras_seeds.seeds import check_seed


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
    from keras_seeds.demo import run_demo

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


def _cmd_audit(args) -> int:
    from keras_seeds.auditing import audit

    model = None
    if args.model:
        import keras

        model = keras.saving.load_model(args.model, compile=False)
    print(audit(model))
    return 0


def _cmd_diff(args) -> int:
    from keras_seeds.manifest import diff_manifests, explain_diff, read_manifest

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
