"""The one line: plain Keras ``fit(x, y, shuffle=True)`` on arrays under
``SeedCallback`` gets a new order every epoch, from the data sub-seed, the
same in every process (tests/scripts/fit_order.py records what the model saw;
its "expected" orders are TensorFlow's stateless shuffle keyed by
``[data seed, epoch]``, computed apart from keras-seeds)."""

import functools

import pytest

from conftest import run_script_json

# One worker runs them all, so the runs below are made once.
pytestmark = pytest.mark.xdist_group("fit_order")
# The variants, one after another in a process, as in a user's script; the
# two that patch Keras' array adapter end their processes. The first fit of
# the first process is the plain seed-3 fit of a fresh process.
PROCESSES = [["3:plain", "4:plain", "3:initial_epoch", "3:dict", "3:interrupted"],
             ["3:keras316_plain", "3:keras316"], ["3:unreachable"]]


@pytest.fixture
def runs():
    return _runs()


# Cached per worker process: xdist may run other modules' tests between these,
# which makes pytest set a module-scoped fixture up again.
@functools.lru_cache(maxsize=None)
def _runs():
    return {spec: run for specs in PROCESSES
            for spec, run in run_script_json("fit_order.py", *specs).items()}


@pytest.fixture
def seed_3(runs):
    return runs["3:plain"]


def _assert_a_new_seeded_order_every_epoch(run):
    assert run["orders"] == run["expected"]
    for previous, current in zip(run["orders"], run["orders"][1:]):
        assert previous != current
    assert run["data_order"].startswith("controlled: Keras' shuffle of the arrays")
    assert run["warnings"] == []


def test_plain_fit_on_arrays_reshuffles_every_epoch_from_the_data_seed(seed_3, runs):
    first = seed_3
    _assert_a_new_seeded_order_every_epoch(first)
    assert len(first["orders"]) == 3 and len(first["orders"][0]) == 150  # validation_split
    assert run_script_json("fit_order.py", "3:plain")["3:plain"] == first  # another process
    other_seed = runs["4:plain"]
    _assert_a_new_seeded_order_every_epoch(other_seed)
    assert all(a != b for a, b in zip(other_seed["orders"], first["orders"]))


@pytest.mark.parametrize("variant", ["initial_epoch", "dict"])
def test_initial_epoch_continues_the_sequence_and_dict_inputs_with_class_weight(
        variant, seed_3, runs):
    run = runs[f"3:{variant}"]
    _assert_a_new_seeded_order_every_epoch(run)
    if variant == "initial_epoch":  # fit(initial_epoch=2, epochs=4): epochs 2 and 3
        assert run["orders"][0] == seed_3["orders"][2]


def test_under_keras_316_array_adapter_the_order_follows_the_data_seed(seed_3, runs):
    # keras-team/keras#23046 draws the permutation with ArrayDataAdapter._tf_shuffle,
    # keyed by the epoch alone: without SeedCallback, every seed gets the same order.
    # (That two seeds get the same plain order is Keras' behaviour, shown by
    # its epoch-keyed seed; one plain run, not the seeded order, is enough here.)
    plain_3 = runs["3:keras316_plain"]
    assert plain_3["orders"] != plain_3["expected"]
    seeded = runs["3:keras316"]
    _assert_a_new_seeded_order_every_epoch(seeded)
    assert seeded["orders"] == seed_3["orders"]


def test_an_array_adapter_keras_seeds_cannot_reach_gets_the_warning(runs):
    run = runs["3:unreachable"]
    assert run["data_order"].startswith("not guaranteed: this Keras' fit(x, y, shuffle=True) "
                                        "on arrays cannot be reached by keras-seeds")
    assert len(run["warnings"]) == 1
    assert "keras_seeds.seeded_dataset(x, y, batch_size=...)" in run["warnings"][0]
    assert all(order == run["orders"][0] for order in run["orders"])  # today's repetition


def test_a_fit_after_a_seed_callback_fit_that_an_exception_ended_is_keras_own_again(runs):
    run = runs["3:interrupted"]
    # Keras' own seeded shuffle: one order, repeated (not the interrupted seed's sequence).
    assert all(order == run["orders"][0] for order in run["orders"])
