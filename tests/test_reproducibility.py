"""Same seed, two processes: bit-identical weights and History, for five model kinds."""

import contextlib
import functools
import io
import json
import runpy

import pytest

from conftest import SCRIPTS, run_script_json

MODELS = ["mlp", "cnn", "text_rnn", "two_input", "subclassed"]
# The tests share their runs (each is a fresh process): one worker runs them all.
shared_runs = pytest.mark.xdist_group("train_models")


# Both modes in each process, the unseeded build first: the first model of
# "reinit" is built from a fresh process's state, and "seeded" must not depend
# on what ran before it.
MODES = ("reinit", "seeded")


def trained(seed: int, mode: str, process: int) -> dict:
    """``train_models.py SEED reinit,seeded`` in a process of its own
    (``process`` tells two runs of the same arguments apart): MODE's results."""
    return _trained(seed, process)[mode]


@functools.lru_cache(maxsize=None)
def _trained(seed: int, process: int) -> dict:
    return run_script_json("train_models.py", seed, ",".join(MODES))


@shared_runs
@pytest.mark.parametrize("mode", ["seeded", "reinit"])
def test_same_seed_two_processes_bit_identical(mode):
    first = trained(7, mode, process=1)
    second = trained(7, mode, process=2)
    assert sorted(first) == sorted(MODELS)
    for name in MODELS:
        assert first[name]["weights"] == second[name]["weights"], name
        assert first[name]["history"] == second[name]["history"], name
        assert first[name]["history"]["seed"] == [7.0, 7.0]
    if mode == "reinit":
        # Built from OS-random state: the starting weights differed, yet the
        # re-drawn, trained weights are identical.
        for name in MODELS:
            assert first[name]["built"] != second[name]["built"], name
    else:
        for name in MODELS:
            assert first[name]["built"] == second[name]["built"], name


def trained_here(seed: int, mode: str) -> dict:
    """``train_models.py SEED MODE`` run in this process (what it prints)."""
    script = runpy.run_path(str(SCRIPTS / "train_models.py"))
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        script["main"](seed, [mode], list(script["BUILDERS"]))
    return json.loads(printed.getvalue().strip().splitlines()[-1])[mode]


@shared_runs
def test_different_seeds_give_different_weights():
    a = trained(7, "seeded", process=1)
    b = trained_here(8, "seeded")   # another seed needs no process of its own
    for name in MODELS:
        assert a[name]["built"] != b[name]["built"], name
        assert a[name]["weights"] != b[name]["weights"], name
