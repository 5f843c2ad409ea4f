"""What the command line's arguments mean: seeds (``0..999``), a user's
``MODULE:FUNCTION``, the compile arguments of ``--loss``/``--optimizer``/
``--metric``, ``--discard`` and a Dask ``--scheduler``. Checked before
TensorFlow starts, so that a bad command line fails at once."""

from __future__ import annotations

import argparse
import os
import sys

from keras_seeds.seeding.contract import check_seed


def seed_arg(text: str) -> int:
    try:
        return check_seed(int(text), "--seed")
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int; received {text!r}")
    return value


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


def sweep_compile_kwargs(build_fn, args) -> dict:
    """How the seeds' models are compiled: the model's own compile, else --loss,
    --optimizer and --metric."""
    import keras

    from keras_seeds.sweeps.plan import own_compile_kwargs

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


def parse_discard(text: str | None):
    """``--discard AFTER_EPOCHS,FRACTION`` as a pair (checked again by sweep)."""
    if text is None:
        return None
    try:
        after, fraction = text.split(",")
        return int(after), float(fraction)
    except ValueError:
        raise ValueError(f"`--discard` must be AFTER_EPOCHS,FRACTION (e.g. 3,0.5); received "
                         f"--discard={text!r}.") from None


def cluster_client(address: str, *functions):
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
